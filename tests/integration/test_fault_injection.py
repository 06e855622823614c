"""Fault injection at three moments: SIGKILL a training early, inside a checkpoint write and late; each
resume ends bit for bit where an uninterrupted run does. bench/fault_injection.py does the same at 20
random moments; this test imports its functions from the file (bench/ is not a package)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "fault_injection.py"


def _load_bench():
    spec = importlib.util.spec_from_file_location("fault_injection", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    return module


fi = _load_bench()
STEPS, CHECKPOINTS = 400, "25,50,75,100"


def _train(run: Path) -> list[str]:
    return fi.train_command("sac", run, timesteps=STEPS, checkpoints=CHECKPOINTS)


@pytest.mark.slow
def test_sigkill_early_in_a_checkpoint_write_and_late_then_resume_equals_uninterrupted(tmp_path):
    ref = fi.reference_run(_train(tmp_path / "reference"), tmp_path / "reference")
    t = ref.timeline
    # Delays count from something appearing in the run folder, so that a slow start-up shifts nothing.
    first, last = t["checkpoint 025"] - t["random_baseline.npz"], t["checkpoint 100"] - t["checkpoint 075"]
    moments = {
        "early": fi.Moment("time", 0.4 * first, after="random_baseline.npz"),  # before the first checkpoint
        "write": fi.Moment("ckpt-dir", 0.0, after="checkpoints/025/state.json"),  # into checkpoint 050's write
        "late": fi.Moment("time", 0.5 * last, after="checkpoints/075/state.json"),  # before the last one
    }
    for i, (name, moment) in enumerate(moments.items()):
        run = tmp_path / name
        for _ in range(3):  # the write's kill must land while the temporary folder is there
            kill = fi.kill_once(_train(run), run, lambda m=moment: m, "train")
            if name != "write" or kill.in_checkpoint_write:
                break
        on_disk = kill.on_disk
        if name == "early":
            assert on_disk["meta"] and on_disk["checkpoints"] == [], kill.summary
        elif name == "write":
            assert kill.in_checkpoint_write and on_disk["checkpoints"] == [25], kill.summary
        else:
            assert 75 in on_disk["checkpoints"], kill.summary
        trial = fi.finish(i, ref, run, [kill])
        assert trial.passed, f"{name} ({kill.summary}): {fi.problems(trial)}"
        assert not trial.leftover_temp and trial.meta_status == "done"
