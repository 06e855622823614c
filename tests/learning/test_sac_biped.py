"""SAC, through simrl's own training path and presets, keeps the biped standing, in a posture kept in check.

"Full episodes": every one of the 10 final evaluation episodes lasts the 500 steps (10 s) of the
time limit. Measured budgets and seeds are in the docstring of the test and in issue 5's closing note.
"""

from __future__ import annotations

import numpy as np
import pytest

from .planar import train


@pytest.mark.slow(minutes=6)  # measured on the shared 2-core machine; sets the order under xdist
def test_sac_keeps_the_biped_standing_for_full_episodes(tmp_path):
    """Preset (128x128, learning rate 1e-3), shaped reward, 40,000 steps, seed 0 (about 3.5 min on one core).

    Measured, this configuration: seeds 0 and 1 stand for all 10 evaluation episodes at 40,000 steps
    (returns 1,448 and 1,389 of 1,500); seed 0 also at 25,000, seed 1 at 30,000; at 20,000 neither
    does (mean lengths 470 and 335): SAC's evaluations still dip now and then at these budgets.
    """
    returns, lengths, _, posture = train(tmp_path, "simrl/BipedStand-v0", 40_000, 0)
    assert np.all(lengths == 500), lengths
    assert returns.mean() > 1200  # of at most 1,500: upright and tall, not merely alive
    # Its posture (issue 16), measured on this run: torso within 20 degrees of vertical 94% of the steps,
    # both feet down 65%, 0.25 m of drift, joints at 1.2 rad/s on average. v0's reward asks for none of it
    # but the upright torso: these catch a policy that crouches, hops or walks off, not yet a person's stance.
    assert posture["upright"] > 0.85, posture
    assert posture["both_feet_down"] > 0.5, posture
    assert posture["torso_drift"] < 0.4, posture
