"""MBPO beats SAC at equal env steps on the pendulum: 1,500 steps each, the same seed, both presets.

Measured (`simrl train mbpo simrl/Pendulum-v0 --seed S --eval-freq 500` and `simrl train sac ... --timesteps
3000`): at 1,500 steps MBPO's evaluations were -121, -120, -168 and -379 over seeds 0-3, SAC's -1289 and
-1524 on seeds 0 and 1 (-1343 averaged over seeds 0-2 in an earlier measurement). The worst MBPO seed still
beats the best SAC one by 900; the test asks for 500 on seed 0. Most of MBPO's gain here is its 10 SAC
updates per env step: SAC at the same update ratio with no model data (`--set real_ratio=1.0`) evaluated
-125 and -134 at 1,000 steps (seeds 0, 1), against MBPO's -552 and -127 (README, model-based RL).
"""

from __future__ import annotations

import numpy as np
import pytest

from simrl.cli import main


def _final(tmp_path, algo: str) -> float:
    try:
        main(["train", algo, "simrl/Pendulum-v0", "--timesteps", "1500", "--seed", "0", "--out", str(tmp_path),
              "--name", algo, "--eval-freq", "1500", "--checkpoints", "100"])  # fmt: skip
    except SystemExit as e:
        assert not e.code
    with np.load(tmp_path / algo / "evaluations.npz", allow_pickle=False) as ev:
        assert list(ev["timesteps"]) == [1500]
        return float(ev["results"][-1].mean())


@pytest.mark.slow(minutes=1.5)
def test_mbpo_beats_sac_at_1500_steps(tmp_path):
    mbpo, sac = _final(tmp_path, "mbpo"), _final(tmp_path, "sac")
    assert mbpo >= -500, (mbpo, sac)
    assert mbpo > sac + 500, (mbpo, sac)
