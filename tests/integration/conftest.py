"""Helpers for driving the CLI end to end."""

from __future__ import annotations

import contextlib
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from simrl.cli import main


def main_ok(*args: object) -> None:
    """``simrl ARGS`` in this process; fails the test unless it exits 0."""
    try:
        main([str(a) for a in args])
    except SystemExit as e:
        assert not e.code


@pytest.fixture(scope="module")
def other_demos(sac_run, tmp_path_factory) -> Path:
    """One episode of ``sac_run`` recorded in Pendulum-v1: demonstrations of another env."""
    out = tmp_path_factory.mktemp("other") / "demos.npz"
    main_ok("collect", sac_run, "--episodes", 1, "--env", "Pendulum-v1", "--out", out)
    return out


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys):
    """Run ``simrl ARGS`` in this process; returns exit code, stdout, stderr."""

    def run(*args: str) -> Result:
        capsys.readouterr()
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as e:
            code = int(e.code or 0)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run


def run_subprocess(*args: str, cwd: Path | None = None, timeout: float = 300) -> Result:
    """Run the installed ``simrl`` command in a fresh process."""
    env = {**os.environ, "MPLBACKEND": "Agg"}
    p = subprocess.run(
        [sys.executable, "-m", "simrl.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=timeout,
    )
    return Result(p.returncode, p.stdout, p.stderr)


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` with a hash of its content (to check that nothing changed)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


FAST_SAC = [
    "--set",
    "learning_starts=50",
    "--set",
    "batch_size=32",
    "--set",
    "policy_kwargs={net_arch: [32, 32]}",
    "--eval-episodes",
    "2",
]


@pytest.fixture(scope="session")
def sac_run(tmp_path_factory) -> Path:
    """A small finished SAC run on the pendulum, shared by read-only tests."""
    out = tmp_path_factory.mktemp("runs")
    try:
        main(
            [
                "train",
                "sac",
                "simrl/Pendulum-v0",
                "--timesteps",
                "400",
                "--seed",
                "3",
                "--out",
                str(out),
                "--name",
                "sac",
                *FAST_SAC,
            ]
        )
    except SystemExit as e:
        assert not e.code
    return out / "sac"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The URL of an empty database on a private PostgreSQL server (tests/integration/postgres.py), stopped and
    removed after the session. Skips without server binaries, except on CI (which installs them): fails there."""
    from .postgres import ServerUnavailable, private_server

    with contextlib.ExitStack() as stack:
        try:
            url = stack.enter_context(private_server())
        except ServerUnavailable as e:
            if os.environ.get("CI"):
                pytest.fail(f"{e}; CI must provide a PostgreSQL server (make system-deps)")
            pytest.skip(str(e))
        yield url
