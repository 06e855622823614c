"""The run folder's housekeeping after a crash."""

from __future__ import annotations

from simrl.experiments.runfolder import RunFolder


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
