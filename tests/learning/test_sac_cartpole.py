"""SAC, through simrl's own training path and presets, keeps the cart-pole up.

"Full episodes": every one of the 10 final evaluation episodes lasts the 500 steps (10 s) of the
time limit. Measured budgets and seeds are in the docstring of the test and in issue 5's closing note.
"""

from __future__ import annotations

import numpy as np
import pytest

from .planar import train


@pytest.mark.slow(minutes=2)  # measured on the shared 2-core machine; sets the order under xdist
def test_sac_keeps_the_cart_pole_up_for_full_episodes(tmp_path):
    """Preset (64x64, learning rate 1e-3, two gradient steps per env step), shaped reward, 20,000 of the
    preset's 25,000 steps, seed 0 (about 100 s on one core).

    Measured with the preset (configs/sac.yaml): seeds 0-9 keep the pole up for all 10 evaluation
    episodes at 25,000 steps; seed 0 in every evaluation from 17,500 steps on (every 2,500).
    """
    returns, lengths, meta, _ = train(tmp_path, "simrl/CartPole-v0", 20_000, 0)
    assert np.all(lengths == 500), lengths
    assert returns.mean() > meta["random_mean_reward"] + 500
