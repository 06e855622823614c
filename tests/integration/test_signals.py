"""Ctrl-C and SIGTERM end training with one line and 130 / 143, and leave a run that resumes exactly."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import FAST_SAC
from .test_resume import assert_same_model

TRAIN = ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "1500", "--seed", "4", "--checkpoints", "10,50,100"]


def _simrl(*args: str) -> list[str]:
    return [sys.executable, "-m", "simrl.cli", *map(str, args)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("ref")
    r = subprocess.run(_simrl(*TRAIN, *FAST_SAC, "--out", out, "--name", "ref"), capture_output=True, timeout=600)
    assert r.returncode == 0, r.stderr
    return out / "ref"


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_ends_training_with_one_line_and_the_run_resumes_exactly(tmp_path, reference, sig):
    run = tmp_path / "run"
    proc = subprocess.Popen(
        _simrl(*TRAIN, *FAST_SAC, "--out", tmp_path, "--name", "run"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not (run / "checkpoints" / "010" / "state.json").is_file():
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        os.kill(proc.pid, sig)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + sig
    last = err.strip().splitlines()[-1]
    assert last.startswith(f"simrl: interrupted by {sig.name} at step ") and f"simrl resume {run}" in last
    assert "Traceback" not in err
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["timesteps_done"] < meta["timesteps_total"]

    r = subprocess.run(_simrl("resume", run), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert json.loads((run / "meta.json").read_text())["status"] == "done"
    for name in ("checkpoints/100/model.zip", "best_model.zip"):
        assert_same_model(reference / name, run / name)
