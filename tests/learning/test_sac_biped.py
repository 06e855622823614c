"""SAC, through simrl's own training path and presets, keeps the biped standing straight and still.

"Full episodes": every one of the 10 final evaluation episodes lasts the 500 steps (10 s) of the
time limit. The posture is what the env reports (``metric_*``, each episode's mean over its steps,
then the mean over the 10 episodes). Measured budgets and seeds are in the docstring of the test, in
configs/sac.yaml and in issue 16's closing note.
"""

from __future__ import annotations

import numpy as np
import pytest

from .planar import train


@pytest.mark.slow(minutes=6)  # measured on the shared 2-core machine; sets the order under xdist
def test_sac_keeps_the_biped_standing_straight_and_still(tmp_path):
    """v1 (ankles, posture terms), the preset's settings (128x128, learning rate 1e-3) on two thirds of
    its budget: 40,000 steps, seed 0 (about 4.5 min on one core).

    Measured at 40,000 steps in the sweep of the preset (`simrl sweep sac simrl/BipedStand-v1 --seeds 0-4
    --eval-freq 4000`), seeds 0-4: every evaluation episode full in all five; returns 2,197-2,328 of at
    most 2,500; both feet down 0.94, 0.78, 0.99, 0.99, 0.99 of the steps; torso drift 0.02-0.08 m;
    upright 0.996-1.0. This test's own run (seed 0, one evaluation, at the end): all 10 full, 2,316,
    feet down 0.975, drift 0.05 m, upright 1.0. The thresholds hold for all five seeds: SAC's
    evaluations still dip now and then (seed 1's feet), so the feet ask for 0.75, the goal of the
    5-seed benchmark (0.95 at the full budget) being bench/planar_learning.py's.
    """
    returns, lengths, _, posture = train(tmp_path, "simrl/BipedStand-v1", 40_000, 0)
    assert np.all(lengths == 500), lengths
    assert returns.mean() > 2000  # of at most 2,500: straight, tall, on both feet and in place
    assert posture["both_feet_down"] > 0.75, posture
    assert posture["torso_drift"] < 0.15, posture
    assert posture["upright"] > 0.95, posture
