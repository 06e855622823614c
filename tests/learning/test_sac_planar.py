"""SAC, through simrl's own training path and presets, keeps the cart-pole up and the biped standing.

"Full episodes": every one of the 10 final evaluation episodes lasts the 500 steps (10 s) of the
time limit. Measured budgets and seeds are in the docstrings of the tests and in issue 5's closing note.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from simrl.cli import main


def train(tmp_path, env_id: str, timesteps: int, seed: int):
    try:
        main(
            [
                *["train", "sac", env_id, "--timesteps", str(timesteps), "--seed", str(seed)],
                *["--out", str(tmp_path), "--name", "run", "--eval-freq", str(timesteps), "--checkpoints", "100"],
            ]
        )
    except SystemExit as e:
        assert not e.code
    run = tmp_path / "run"
    meta = json.loads((run / "meta.json").read_text())
    assert meta["timesteps_done"] == timesteps
    with np.load(run / "evaluations.npz", allow_pickle=False) as ev:
        return ev["results"][-1], ev["ep_lengths"][-1], meta


@pytest.mark.slow
def test_sac_keeps_the_cart_pole_up_for_full_episodes(tmp_path):
    """Preset (64x64, learning rate 1e-3), shaped reward, 25,000 steps, seed 0 (about 80 s on one core).

    Measured, this configuration: seeds 0, 1, 2 keep the pole up for all 10 evaluation episodes at
    25,000 steps (seed 0 also at 15,000 and 20,000); seed 3 does not (mean length 361).
    """
    returns, lengths, meta = train(tmp_path, "simrl/CartPole-v0", 25_000, 0)
    assert np.all(lengths == 500), lengths
    assert returns.mean() > meta["random_mean_reward"] + 500


@pytest.mark.slow
def test_sac_keeps_the_biped_standing_for_full_episodes(tmp_path):
    """Preset (128x128, learning rate 1e-3), shaped reward, 40,000 steps, seed 0 (about 3.5 min on one core).

    Measured, this configuration: seeds 0 and 1 stand for all 10 evaluation episodes at 40,000 steps
    (returns 1,448 and 1,389 of 1,500); seed 0 also at 25,000, seed 1 at 30,000; at 20,000 neither
    does (mean lengths 470 and 335): SAC's evaluations still dip now and then at these budgets.
    """
    returns, lengths, _ = train(tmp_path, "simrl/BipedStand-v0", 40_000, 0)
    assert np.all(lengths == 500), lengths
    assert returns.mean() > 1200  # of at most 1,500: upright and tall, not merely alive
