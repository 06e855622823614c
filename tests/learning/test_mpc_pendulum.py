"""MPC with a learned model swings the pendulum up within 1,000 env steps (the issue asks for 1,500).

The preset (configs/mpc.yaml: an ensemble of five 32x32 members, CEM over 20 steps with mean
propagation, a fit every 200 steps after 200 random ones) was measured over seeds 0-3 with
`simrl train mpc simrl/Pendulum-v0 --seed S --eval-freq 200` (the README's figures): every seed
evaluates above -200 from 600 steps on. Seed 0 at 1,000 steps against -200 leaves a wide margin.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrl.cli import main


@pytest.mark.slow(minutes=1)
def test_mpc_reaches_minus_200_within_1000_steps(tmp_path):
    try:
        main(["train", "mpc", "simrl/Pendulum-v0", "--timesteps", "1000", "--seed", "0", "--out", str(tmp_path),
              "--name", "mpc", "--eval-freq", "1000", "--checkpoints", "100"])  # fmt: skip
    except SystemExit as e:
        assert not e.code
    run = tmp_path / "mpc"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["timesteps_done"] == 1000
    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        final = ev["results"][-1]
    assert len(final) == 10
    assert final.mean() >= -200, final
    assert final.mean() > meta["random_mean_reward"] + 500
