"""The run folder's housekeeping after a crash."""

from __future__ import annotations

import numpy as np
import pytest

from simrl.errors import CheckpointError
from simrl.evaluation.evaluate import EvalResult
from simrl.experiments.runfolder import EvalLog, RunFolder


def test_clean_partial_removes_what_a_kill_left_half_written(tmp_path):
    (tmp_path / "checkpoints" / ".050.ab12cd34.tmp").mkdir(parents=True)
    (tmp_path / "checkpoints" / ".050.ab12cd34.tmp" / "model.zip").write_bytes(b"half")
    (tmp_path / "checkpoints" / "025").mkdir()
    training = [".meta.json.ab12cd34.tmp", ".evaluations.npz.x_y1z2w3.tmp", ".best_model.zip.q1w2e3r4.tmp"]
    others = [".report.html.a1s2d3f4.tmp", ".lock", "meta.json", "best_model.zip"]  # not half-written training files
    for name in [*training, *others]:
        (tmp_path / name).write_bytes(b"x")
    RunFolder(tmp_path).clean_partial()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["checkpoints", *others])
    assert [p.name for p in (tmp_path / "checkpoints").iterdir()] == ["025"]


def test_evaluations_keep_the_envs_terms_and_measures_through_a_save_and_load(tmp_path):
    """An evaluation that lacks a key another has gets NaN there; a resume reads back what was saved."""
    log = EvalLog()
    log.add(100, EvalResult(np.array([1.0, 2.0]), np.array([5, 6]), {"reward_a": np.array([0.5, 1.0])}))
    log.add(200, EvalResult(np.array([3.0, 4.0]), np.array([7, 8]), {"metric_m": np.array([0.25, 0.75])}))
    folder = RunFolder(tmp_path)
    folder.save_evals(log)
    back = folder.load_evals()
    assert list(back.info) == ["reward_a", "metric_m"]
    np.testing.assert_array_equal(np.array(back.info["reward_a"]), [[0.5, 1.0], [np.nan, np.nan]])
    np.testing.assert_array_equal(np.array(back.info["metric_m"]), [[np.nan, np.nan], [0.25, 0.75]])
    assert back.last is not None and back.last.info["metric_m"].tolist() == [0.25, 0.75]
    assert list(folder.load_evals(max_step=100).info["reward_a"][0]) == [0.5, 1.0]

    result = EvalResult(np.array([1.0]), np.array([3]), {"reward_a": np.array([1.0]), "metric_m": np.array([0.5])})
    result.save(tmp_path / "eval.npz")
    with np.load(tmp_path / "eval.npz") as npz:
        again = EvalResult.from_arrays(dict(npz))
    assert {k: v.tolist() for k, v in again.info.items()} == {"reward_a": [1.0], "metric_m": [0.5]}
    assert list(again.terms) == ["reward_a"] and list(again.metrics) == ["metric_m"]


def test_info_arrays_that_are_not_numbers_are_a_corrupt_file(tmp_path):
    np.savez(tmp_path / "evaluations.npz", timesteps=[1], results=[[1.0]], ep_lengths=[[2]], metric_m=[["a"]])
    with pytest.raises(CheckpointError, match="'metric_m' holds"):
        RunFolder(tmp_path).load_evals()
