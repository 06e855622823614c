"""Train SAC on a planar task through simrl's own training path and presets (for the two tests beside this).

The cart-pole and biped tests live in files of their own so that `pytest -n 2 --dist loadfile` (make test)
can start them at once on different workers: each takes minutes (see tests/conftest.py).
"""

from __future__ import annotations

import json

import numpy as np

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
        measures = {k.removeprefix("metric_"): float(ev[k][-1].mean()) for k in ev.files if k.startswith("metric_")}
        return ev["results"][-1], ev["ep_lengths"][-1], meta, measures
