"""Fixtures shared by the learning tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from simrl.cli import main

EXPERT_STEPS = 4000


@pytest.fixture(scope="session")
def pendulum_expert(tmp_path_factory) -> Path:
    """A SAC expert on simrl/Pendulum-v0: the preset at 4,000 steps, seed 0, evaluated once at the end.

    Measured: -123 on the evaluation seeds (the random policy: -1,207); about 30 s of one core. The imitation
    learning tests clone it (its run folder: evaluations.npz's last row is its return on eval's seeds).
    """
    out = tmp_path_factory.mktemp("expert")
    args = ["train", "sac", "simrl/Pendulum-v0", "--timesteps", str(EXPERT_STEPS), "--seed", "0", "--out", str(out)]
    try:
        main([*args, "--name", "sac", "--eval-freq", str(EXPERT_STEPS), "--checkpoints", "100"])
    except SystemExit as e:
        assert not e.code
    return out / "sac"
