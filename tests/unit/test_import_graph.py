"""The layers import one way (DESIGN.md): nothing imports experiments or cli from below."""

from __future__ import annotations

import ast
from pathlib import Path

import simrl

ROOT = Path(simrl.__file__).parent
ORDER = [
    "errors",
    "types",
    "utils",
    "envs",
    "data",
    "rl",
    "mbrl",
    "imitation",
    "inference",
    "evaluation",
    "experiments",
    "cli",
]
# Siblings that may see each other: evaluation and inference sit beside each other, both above rl.
SAME_LEVEL = {frozenset({"evaluation", "inference"}), frozenset({"mbrl", "imitation"})}


def layer(module: str) -> str:
    return module.split(".")[1] if module.startswith("simrl.") else ""


def test_imports_point_down_the_layers():
    bad = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        here = rel.parts[0] if rel.parts[0] != "__init__" else None
        if here is None or here not in ORDER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            for name in names:
                there = layer(name)
                if not there or there == here or there not in ORDER:
                    continue
                if frozenset({here, there}) in SAME_LEVEL:
                    continue
                if ORDER.index(there) > ORDER.index(here):
                    bad.append(f"{rel}: imports {name}")
    assert not bad, "\n".join(bad)


def test_import_simrl_is_light():
    import subprocess
    import sys

    heavy = "('torch', 'stable_baselines3', 'matplotlib')"
    code = f"import sys, simrl; print(','.join(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import simrl pulled in {out}"
