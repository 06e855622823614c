"""`simrl train seeded-sac` end to end: the ordinary run folder, the seeding before the first step, exact
resume with every option on, plain SB3 loading (LayerNorm critics included), and bad input (one line, exit
2, nothing written)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from .conftest import main_ok, snapshot
from .test_bad_input import _unfinished_copy, check_one_line_error
from .test_resume import assert_same_model

ENV = "simrl/Pendulum-v0"
TINY = ["--set", "sac.policy_kwargs={net_arch: [16, 16]}", "--set", "sac.batch_size=32", "--set", "clone_steps=100",
        "--set", "clone.check_freq=25", "--eval-episodes", "2", "--eval-freq", "100"]  # fmt: skip
# Every option of the learner on at once: critic regression, a frozen actor first, LayerNorm critics, a
# pull towards the imitator that decays, fewer demonstrations per batch.
ALL_ON = ["--set", "critic_steps=50", "--set", "actor_delay=120", "--set", "layer_norm=true",
          "--set", "recalibrate=1.0", "--set", "recalibrate_half_life=100", "--set", "demo_ratio=0.25"]  # fmt: skip


@pytest.fixture(scope="module")
def demos(sac_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "demos.npz"
    main_ok("collect", sac_run, "--episodes", 2, "--out", out)
    return out


@pytest.fixture(scope="module")
def seeded_run(demos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("seeded")
    main_ok("train", "seeded-sac", ENV, "--demos", demos, "--timesteps", 200, "--seed", 3, "--out", out,
          "--name", "run", "--checkpoints", "50,100", *TINY, *ALL_ON)  # fmt: skip
    return out / "run"


def _blob(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=True)["imitator"]


def test_the_run_folder_is_the_ordinary_one(seeded_run, demos):
    config = yaml.safe_load((seeded_run / "config.yaml").read_text())
    assert (config["kind"], config["algo"], config["demos"]) == ("imitation", "seeded-sac", "demos.npz")
    hp = config["hyperparams"]
    # simrl's SAC preset for the env under seeded-sac's own sac: block and --set
    assert hp["sac"] == {
        "learning_rate": 1e-3,
        "policy_kwargs": {"net_arch": [16, 16]},
        "learning_starts": 0,
        "ent_coef": "auto_0.01",
        "batch_size": 32,
    }
    assert (seeded_run / "demos.npz").read_bytes() == demos.read_bytes()
    assert {p.name for p in (seeded_run / "checkpoints" / "100").iterdir()} == {
        "model.zip",
        "replay_buffer.npz",
        "seeded.pt",
        "state.json",
        "eval.npz",
    }
    with zipfile.ZipFile(seeded_run / "best_model.zip") as archive:
        info = json.loads(archive.read("simrl.json"))
    assert (info["kind"], info["algo"]) == ("sb3", "sac")
    assert info["learner"]["kind"] == "imitation" and info["learner"]["algo"] == "seeded-sac"
    progress = (seeded_run / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"seed/clone_steps", "seed/critic_loss", "seed/recalibration_weight", "train/actor_loss"} <= set(progress)


def test_the_actor_starts_as_the_clone_and_learns_after_its_delay(seeded_run, demos, tmp_path):
    """With the actor frozen for 120 steps, the policy at step 100 (050) is exactly the clone (the imitator saved
    beside it), and the one at step 200 has moved."""
    from simrl import api

    imitator = _blob(seeded_run / "checkpoints/050/seeded.pt")
    obs = torch.as_tensor(np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (16, 3)), dtype=torch.float32)
    actions = {}
    for pct in ("050", "100"):
        policy = api.load_policy(seeded_run / "checkpoints" / pct / "model.zip")
        actions[pct] = policy.predict(obs.numpy(), deterministic=True)[0]
        weights = {k.removeprefix("actor."): v for k, v in policy.policy.state_dict().items() if k.startswith("actor.")}
        same = all(torch.equal(weights[k], v) for k, v in imitator.items())
        assert same == (pct == "050"), pct
    assert not np.array_equal(actions["050"], actions["100"])


def test_resume_is_exact(cli, seeded_run, tmp_path):
    resumed = _unfinished_copy(seeded_run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/model.zip", "best_model.zip"):
        assert_same_model(seeded_run / name, resumed / name)
    a, b = _blob(seeded_run / "checkpoints/100/seeded.pt"), _blob(resumed / "checkpoints/100/seeded.pt")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with (
        np.load(seeded_run / "checkpoints/100/replay_buffer.npz") as p,
        np.load(resumed / "checkpoints/100/replay_buffer.npz") as q,
    ):
        for key in p.files:
            np.testing.assert_array_equal(p[key], q[key])
    state = [json.loads((d / "checkpoints/100/state.json").read_text())["trainer"] for d in (seeded_run, resumed)]
    assert state[0] == state[1]
    with np.load(seeded_run / "evaluations.npz") as p, np.load(resumed / "evaluations.npz") as q:
        np.testing.assert_array_equal(p["results"], q["results"])


def test_plain_sac_loads_it_and_simrl_reads_it(cli, seeded_run):
    from stable_baselines3 import SAC

    from simrl import api

    model = SAC.load(seeded_run / "best_model.zip", device="cpu")  # LayerNorm critics have SAC's own weights
    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (8, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], api.load_policy(seeded_run).predict(obs, deterministic=True)[0]
    )
    r = cli("eval", seeded_run, "--json", "--episodes", 1)
    assert r.code == 0, r.err


BAD = {
    "demos of another env": (["--demos", "{other}"], "are of Pendulum-v1, not simrl/Pendulum-v0"),
    "no demonstrations": ([], "needs demonstrations"),
    "demo_ratio above 1": (["--demos", "{demos}", "--set", "demo_ratio=1.5"], "demo_ratio must be in [0, 1]"),
    "a negative recalibrate": (["--demos", "{demos}", "--set", "recalibrate=-1"], "recalibrate must be at least 0"),
    "recalibrating to no imitator": (
        ["--demos", "{demos}", "--set", "clone_steps=0"],
        "recalibrate needs an imitator",
    ),
    "normalized observations": (["--demos", "{demos}", "--set", "sac.normalize=true"], "sac.normalize"),
    "an unknown key": (["--demos", "{demos}", "--set", "demo_ration=0.5"], "did you mean 'demo_ratio'"),
    "an unknown clone key": (["--demos", "{demos}", "--set", "clone.los=nll"], "did you mean 'loss'"),
    "an unknown SAC key": (["--demos", "{demos}", "--set", "sac.learnin_rate=1e-3"], "learning_rate"),
    "a negative actor_delay": (["--demos", "{demos}", "--set", "actor_delay=-1"], "actor_delay"),
    "an expert acting in another action space": (["--expert", "{expert}"], "acts in"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_is_one_line_and_writes_nothing(cli, sac_run, demos, other_demos, tmp_path, case):
    args, words = BAD[case]
    env = "simrl/CartPole-v0" if "action space" in case else ENV
    fill = {"demos": demos, "other": other_demos, "expert": sac_run}
    before, inputs = snapshot(tmp_path), (snapshot(sac_run), snapshot(demos.parent))
    r = cli(
        "train", "seeded-sac", env, *[a.format(**fill) for a in args], "--timesteps", 100, "--out", tmp_path / "runs"
    )
    check_one_line_error(r)
    assert words in r.err, r.err
    assert snapshot(tmp_path) == before and (snapshot(sac_run), snapshot(demos.parent)) == inputs
    assert not (tmp_path / "runs").exists()
