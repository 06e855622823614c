"""`simrl mbrl --env ENV`: every arm on one budget and seeds, one page, and a second call that continues."""

from __future__ import annotations

import json

import numpy as np
import pytest

from .conftest import snapshot
from .test_bad_input import check_one_line_error

MPC = "model={members: 2, elites: 2, hidden: [16, 16], max_epochs: 5}"
TINY = [
    *("--set", "mpc-random:init_steps=100", "--set", "mpc-random:steps_per_fit=100", "--set", "mpc-random:horizon=6"),
    *("--set", "mpc-random:population=30", "--set", f"mpc-random:{MPC}"),
    *("--set", "mpc-cem:init_steps=100", "--set", "mpc-cem:steps_per_fit=100", "--set", "mpc-cem:horizon=6"),
    *("--set", "mpc-cem:population=30", "--set", "mpc-cem:elites=5", "--set", "mpc-cem:iterations=2"),
    *("--set", f"mpc-cem:{MPC}"),
    *("--set", "mbpo:init_steps=100", "--set", "mbpo:model_train_freq=100", "--set", "mbpo:rollout_batch=64"),
    *("--set", "mbpo:updates_per_step=1", "--set", f"mbpo:{MPC}"),
    *("--set", "mbpo:sac={batch_size: 32, policy_kwargs: {net_arch: [16, 16]}}"),
    *("--set", "sac:learning_starts=50", "--set", "sac:batch_size=32"),
    *("--eval-episodes", "2", "--eval-freq", "100"),
]


@pytest.mark.slow
def test_every_arm_on_one_budget_one_page(cli, tmp_path):
    out = tmp_path / "mbrl"
    r = cli("mbrl", "--env", "simrl/Pendulum-v0", "--timesteps", "200", "--seeds", "2", "--out", out,
            "--target", "-1500", *TINY)  # fmt: skip
    assert r.code == 0, r.err
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == sorted(f"{a}-s{s}" for a in ("mpc-random", "mpc-cem", "mbpo", "sac") for s in (0, 1))
    for run in (out / "runs").iterdir():
        meta = json.loads((run / "meta.json").read_text())
        assert meta["status"] == "done" and meta["timesteps_done"] == 200, run
        with np.load(run / "evaluations.npz") as ev:
            assert (np.diff(ev["train_seconds"]) >= 0).all() and ev["train_seconds"][0] > 0
    summary = json.loads((out / "mbrl.json").read_text())
    assert [t["arm"] for t in summary["timings"]] == ["mpc-random", "mpc-cem", "mbpo", "sac"]
    assert [g["group"] for g in summary["comparison"]["groups"]] == ["mpc-random", "mpc-cem", "mbpo", "sac"]
    for t in summary["timings"]:
        assert len(t["steps_to_target"]) == 2 and len(t["seconds"]) == len(t["iqm"]) >= 1
    html = (out / "report.html").read_text()
    assert "against training wall time" in html and "First evaluation at or above -1500" in html
    assert (out / "iqm_wall_time.png").is_file() and (out / "iqm_curves.png").is_file()

    # A second call keeps every finished run and writes the page again.
    before = snapshot(out / "runs")
    r = cli("mbrl", "--env", "simrl/Pendulum-v0", "--timesteps", "200", "--seeds", "2", "--out", out, *TINY)
    assert r.code == 0, r.err
    assert r.out.count("done, kept") == 8
    assert snapshot(out / "runs") == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--arm", "ddpg"], "unknown arm"),
        (["--set", "cem:horizon=5"], "ARM:KEY=VALUE"),
        (["--set", "mpc-cem:horizon=0"], "horizon"),
        (["--seeds", "0"], "--seeds"),
    ],
)
def test_mistakes_are_one_line_before_any_run(cli, tmp_path, args, words):
    out = tmp_path / "mbrl"
    r = cli("mbrl", "--env", "simrl/Pendulum-v0", "--timesteps", "200", "--out", out, *args)
    assert r.code == 2
    check_one_line_error(r)
    assert words in r.err
    assert not out.exists()
