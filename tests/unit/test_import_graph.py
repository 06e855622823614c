"""The layers import one way (DESIGN.md): nothing imports experiments, api or cli from below; no module cycles."""

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
    "api",  # simrl/api.py, the Python API over experiments; the CLI uses it
    "cli",
]
# Siblings that may see each other: evaluation and inference sit beside each other, both above rl.
SAME_LEVEL = {frozenset({"evaluation", "inference"}), frozenset({"mbrl", "imitation"})}


def layer(module: str) -> str:
    return module.split(".")[1] if module.startswith("simrl.") else ""


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules: set[str]) -> list[str]:
    """The simrl modules an import statement in ``module`` names, submodules of ``from x import y`` included."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:  # relative: from the module's package, one level up per extra dot
        package = module.split(".") if is_package else module.split(".")[:-1]
        package = package[: len(package) - (node.level - 1)]
        base = ".".join(package + ([base] if base else []))
    out = [base]
    for alias in node.names:
        if f"{base}.{alias.name}" in modules:
            out.append(f"{base}.{alias.name}")
    return out


def test_imports_point_down_the_layers():
    bad = []
    modules = {_module_name(p) for p in ROOT.rglob("*.py")}
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        here = rel.parts[0] if rel.parts[0] != "__init__" else None
        if here is None or here not in ORDER:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            # Resolved: relative imports, and `from simrl import cli` (a submodule) as simrl.cli.
            for name in _imported(node, _module_name(path), path.name == "__init__.py", modules):
                there = layer(name)
                if not there or there == here or there not in ORDER:
                    continue
                if frozenset({here, there}) in SAME_LEVEL:
                    continue
                if ORDER.index(there) > ORDER.index(here):
                    bad.append(f"{rel}: imports {name}")
    assert not bad, "\n".join(bad)


def import_graph() -> dict[str, set[str]]:
    """Every simrl module and the simrl modules it imports anywhere in the file (inside functions too)."""
    paths = {_module_name(p): p for p in ROOT.rglob("*.py")}
    modules = set(paths)
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = _imported(node, module, path.name == "__init__.py", modules)
                edges.update(n for n in names if n in modules and n != module)
        graph[module] = edges
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as ``[a, b, ..., a]``, or None (depth-first search, in sorted order so the answer is stable)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]


def test_import_graph_resolves_relative_and_submodule_imports():
    graph = import_graph()
    assert "simrl.envs" in graph["simrl"]  # from simrl import envs: a subpackage
    assert "simrl.errors" in graph["simrl.inference.posterior"]
    assert "simrl.inference.training" in graph["simrl.inference.posterior"]  # imported inside a method
    modules = {"simrl.x", "simrl.x.a", "simrl.x.b", "simrl.y"}

    def names(code: str, module: str, is_package: bool = False) -> list[str]:
        return _imported(ast.parse(code).body[0], module, is_package, modules)

    assert names("from .b import f", "simrl.x.a") == ["simrl.x.b"]
    assert names("from . import b", "simrl.x.a") == ["simrl.x", "simrl.x.b"]
    assert names("from .. import y", "simrl.x.a") == ["simrl", "simrl.y"]
    assert names("from .a import g", "simrl.x", is_package=True) == ["simrl.x.a"]
    assert names("from simrl.x import a, g", "simrl.y") == ["simrl.x", "simrl.x.a"]
    assert names("import simrl.x.b", "simrl.y") == ["simrl.x.b"]


def test_no_module_imports_itself_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_import_simrl_is_light():
    import subprocess
    import sys

    heavy = "('torch', 'stable_baselines3', 'matplotlib')"
    code = f"import sys, simrl; print(','.join(m for m in {heavy} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"import simrl pulled in {out}"
