"""`simrl train bc` end to end: from a demonstrations file and from an expert run, the ordinary run folder,
exact resume (early stopping included), every reader, plain SB3 loading and RL training of the clone, and
bad input (one line, exit 2, nothing written)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from simrl.data.demos import Demos

from .conftest import main_ok, snapshot
from .test_bad_input import _unfinished_copy, check_one_line_error
from .test_resume import assert_same_model

ENV = "simrl/Pendulum-v0"
TINY = ["--set", "check_freq=50", "--set", "batch_size=32", "--set", "policy_kwargs={net_arch: [16, 16]}",
        "--eval-episodes", "2", "--eval-freq", "100"]  # fmt: skip
# One episode, half held out, NLL at a step size that overfits: measured to stop early at 250 of 400 steps.
EARLY = ["--demo-episodes", "1", "--set", "check_freq=25", "--set", "loss=nll", "--set", "holdout=0.5",
         "--set", "patience=3", "--set", "learning_rate=5e-3"]  # fmt: skip


@pytest.fixture(scope="module")
def demos(sac_run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demos") / "demos.npz"
    main_ok("collect", sac_run, "--episodes", 3, "--out", out)
    return out


@pytest.fixture(scope="module")
def bc_run(demos, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bc")
    main_ok("train", "bc", ENV, "--demos", demos, "--timesteps", 400, "--seed", 3, "--out", out, "--name", "run", *TINY)
    return out / "run"


def _tensors(path: Path) -> dict[str, torch.Tensor]:
    blob = torch.load(path, weights_only=True)
    flat = {f"params/{i}": t for i, t in enumerate(blob["params"])}
    flat.update({f"best/{i}": t for i, t in enumerate(blob["best_params"])})
    for i, state in blob["optimizer"]["state"].items():
        flat.update({f"optimizer/{i}/{k}": v for k, v in state.items() if torch.is_tensor(v)})
    return flat


def test_the_run_folder_is_the_ordinary_one(bc_run, demos):
    config = yaml.safe_load((bc_run / "config.yaml").read_text())
    assert (config["kind"], config["algo"], config["demos"], config["expert"]) == ("imitation", "bc", "demos.npz", None)
    hp = config["hyperparams"]
    assert (hp["as"], hp["loss"], hp["policy_kwargs"], hp["check_freq"]) == ("sac", "mse", {"net_arch": [16, 16]}, 50)
    assert (bc_run / "demos.npz").read_bytes() == demos.read_bytes()  # the run keeps its own copy
    meta = json.loads((bc_run / "meta.json").read_text())
    assert meta["status"] == "done" and meta["timesteps_done"] == 400
    assert {p.name for p in (bc_run / "checkpoints" / "100").iterdir()} == {
        "model.zip",
        "bc.pt",
        "state.json",
        "eval.npz",
    }
    with np.load(bc_run / "evaluations.npz") as ev:
        assert list(ev["timesteps"]) == [100, 200, 300, 400]
    with zipfile.ZipFile(bc_run / "best_model.zip") as archive:
        info = json.loads(archive.read("simrl.json"))
    assert (info["kind"], info["algo"], info["hyperparams"]) == (
        "sb3",
        "sac",
        {"policy_kwargs": {"net_arch": [16, 16]}},
    )
    assert info["learner"]["kind"] == "imitation" and info["learner"]["algo"] == "bc"
    progress = (bc_run / "progress.csv").read_text().splitlines()[0].split(",")
    assert {"train/loss", "train/holdout_loss", "train/gradient_steps", "eval/mean_reward"} <= set(progress)


def test_the_default_network_is_the_presets_of_the_policy_it_clones_into(demos):
    from simrl import api

    pendulum = {"net_arch": [32, 32], "activation_fn": "tanh"}  # bc.yaml's pendulum block
    assert api.configure("bc", ENV, demos=demos).hyperparams["policy_kwargs"] == pendulum
    cartpole = api.configure("bc", "simrl/CartPole-v0", demos=demos, hyperparams={"n_timesteps": 10})
    assert cartpole.hyperparams["policy_kwargs"] == {"net_arch": [64, 64]}  # none in bc.yaml: sac.yaml's
    ppo = api.configure("bc", "simrl/CartPole-v0", demos=demos, hyperparams={"as": "ppo"})
    assert ppo.hyperparams["policy_kwargs"] == {} and ppo.timesteps == 5000  # ppo.yaml has none: SB3's default
    assert api.configure("bc", ENV, demos=demos, hyperparams={"as": "ppo"}).hyperparams["policy_kwargs"] == pendulum


@pytest.mark.parametrize("early", [False, True], ids=["to the end", "stopping early"])
def test_resume_is_exact(cli, bc_run, demos, tmp_path, early):
    run = bc_run
    if early:
        run = tmp_path / "early"
        r = cli("train", "bc", ENV, "--demos", demos, "--timesteps", 400, "--seed", 3, "--out", tmp_path,
                "--name", "early", *TINY, *EARLY)  # fmt: skip
        assert r.code == 0, r.err
        cloner = {p: json.loads((run / "checkpoints" / p / "state.json").read_text())["trainer"]["cloner"]
                  for p in ("050", "100")}  # fmt: skip
        assert not cloner["050"]["stopped"] and cloner["100"]["stopped"] and cloner["100"]["steps"] < 400
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="050")
    r = cli("resume", resumed)
    assert r.code == 0, r.err
    for name in ("checkpoints/100/model.zip", "best_model.zip"):
        assert_same_model(run / name, resumed / name)
    a, b = _tensors(run / "checkpoints/100/bc.pt"), _tensors(resumed / "checkpoints/100/bc.pt")
    assert a.keys() == b.keys() and len(a) > 6
    for key, value in a.items():
        torch.testing.assert_close(value, b[key], rtol=0, atol=0, msg=key)
    state = [json.loads((d / "checkpoints/100/state.json").read_text())["trainer"] for d in (run, resumed)]
    assert state[0] == state[1]
    with np.load(run / "evaluations.npz") as p, np.load(resumed / "evaluations.npz") as q:
        np.testing.assert_array_equal(p["results"], q["results"])


def test_from_an_expert_run_its_demonstrations_are_collected_first(cli, sac_run, tmp_path):
    r = cli("train", "bc", ENV, "--expert", sac_run, "--demo-episodes", 2, "--timesteps", 100, "--seed", 0,
            "--out", tmp_path, "--name", "bc", *TINY)  # fmt: skip
    assert r.code == 0, r.err
    run = tmp_path / "bc"
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["expert"], config["demos"], config["demo_episodes"]) == (str(sac_run.resolve()), "demos.npz", 2)
    demos = Demos.load(run / "demos.npz", env_id=ENV)
    assert demos.n_episodes == 2 and (demos.source.kind, demos.source.algo) == ("sb3", "sac")
    assert Path(demos.source.path) == (sac_run / "best_model.zip").resolve()
    assert cli("collect", sac_run, "--episodes", 2, "--out", tmp_path / "same.npz").code == 0  # what collect records
    np.testing.assert_array_equal(demos.actions, Demos.load(tmp_path / "same.npz").actions)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bc", "same.npz"]


@pytest.mark.slow
def test_eval_report_record_and_compare_read_it(cli, bc_run, tmp_path):
    r = cli("eval", bc_run, "--json")
    assert r.code == 0, r.err
    with np.load(bc_run / "evaluations.npz") as ev:
        assert json.loads(r.out)["mean"] == pytest.approx(ev["results"].mean(axis=1).max())
    r = cli("eval", bc_run / "best_model.zip", "--json", "--episodes", 2, "--env-param", "mass=1.5")
    assert r.code == 0, r.err
    assert cli("report", bc_run).code == 0 and (bc_run / "report.html").is_file()
    r = cli("record", bc_run, "--out", tmp_path / "v.mp4")
    assert r.code == 0, r.err
    assert (tmp_path / "v.mp4").stat().st_size > 0
    r = cli("compare", bc_run, _unfinished_copy(bc_run, tmp_path / "copy", keep="100"), "--out", tmp_path / "cmp")
    assert r.code == 0, r.err


def test_plain_sac_loads_the_clone_acts_as_simrl_does_and_trains_it_further(bc_run):
    from stable_baselines3 import SAC

    from simrl import api
    from simrl.envs.vec import make_vec_env

    env = make_vec_env(ENV, 1, seed=0)
    model = SAC.load(bc_run / "best_model.zip", env=env, device="cpu")
    obs = np.random.default_rng(0).uniform([-1, -1, -8], [1, 1, 8], (32, 3)).astype(np.float32)
    simrl_policy = api.load_policy(bc_run)
    np.testing.assert_array_equal(
        model.predict(obs, deterministic=True)[0], simrl_policy.predict(obs, deterministic=True)[0]
    )
    before = [p.detach().clone() for p in model.actor.parameters()]
    model.learn(150)  # SAC's defaults: 100 random steps, then a gradient step per env step
    assert model.num_timesteps == 150
    assert any(not torch.equal(p, q) for p, q in zip(before, model.actor.parameters(), strict=True))
    env.close()


def test_the_clone_can_be_ppos_policy(cli, demos, tmp_path):
    from stable_baselines3 import PPO

    r = cli("train", "bc", ENV, "--demos", demos, "--as", "ppo", "--timesteps", 100, "--seed", 0, "--out", tmp_path,
            "--name", "ppo", *TINY)  # fmt: skip
    assert r.code == 0, r.err
    model = PPO.load(tmp_path / "ppo" / "best_model.zip", device="cpu")
    assert model.policy.mlp_extractor.policy_net[0].out_features == 16
    r = cli("eval", tmp_path / "ppo" / "best_model.zip", "--json", "--episodes", 1)
    assert r.code == 0, r.err


class _Linear:
    """a = W obs + b, inside the pendulum's bounds (|a| <= 1.8 on its observations)."""

    W, B = np.array([[0.5, -0.3, 0.1]]), np.array([0.2])

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return (observation @ self.W.T + self.B).astype(np.float32), None


def test_noisy_demonstrations_are_cloned_from_their_labels_not_the_actions_taken(tmp_path):
    """DART's demonstrations: the env took the linear policy's action plus noise of std 1.0; a linear clone
    fitted to the labels acts as the policy does, one fitted to the noisy actions would not."""
    from stable_baselines3 import PPO

    from simrl.data.demos import Source, collect

    demos = collect(_Linear(), ENV, 2, source=Source("linear", "test", None), noise=0.5)
    assert np.abs(demos.actions - demos.expert_actions).mean() > 0.5
    demos.save(tmp_path / "noisy.npz")
    cli_args = ("train", "bc", ENV, "--demos", tmp_path / "noisy.npz", "--as", "ppo", "--timesteps", 1500,
                    "--set", "policy_kwargs={net_arch: {pi: [], vf: [8]}}", "--set", "learning_rate=2e-2",
                    "--set", "holdout=0", "--eval-episodes", "1", "--out", tmp_path, "--name", "clone")  # fmt: skip
    main_ok(*cli_args)
    model = PPO.load(tmp_path / "clone" / "best_model.zip", device="cpu")
    acted, _ = model.predict(demos.observations, deterministic=True)
    np.testing.assert_allclose(acted, demos.expert_actions, atol=1e-2)
    assert np.abs(acted - demos.actions).mean() > 0.5


BAD = {
    "demos of another env": (["--demos", "{other}"], "are of Pendulum-v1, not simrl/Pendulum-v0"),
    "an expert acting in another action space": (["--expert", "{expert}"], "acts in"),
    "both --demos and --expert": (["--demos", "{demos}", "--expert", "{expert}"], "not both"),
    "no demonstrations": ([], "needs demonstrations"),
    "zero demo episodes": (["--demos", "{demos}", "--demo-episodes", "0"], "at least 1"),
    "zero episodes collected from an expert": (["--expert", "{expert}", "--demo-episodes", "0"], "at least 1"),
    "more demo episodes than the file holds": (["--demos", "{demos}", "--demo-episodes", "9"], "holds 3 episodes"),
    "a missing demos file": (["--demos", "{tmp}/none.npz"], "do not exist"),
    "a demos file that is not one": (["--demos", "{tmp}/file.txt"], "not an npz"),
    "a missing expert": (["--expert", "{tmp}/no-run"], "does not exist"),
    "an unknown loss": (["--demos", "{demos}", "--set", "loss=huber"], "loss must be one of"),
    "an unknown --as": (["--demos", "{demos}", "--as", "td3"], "as must be one of sac, ppo"),
    "an unknown key": (["--demos", "{demos}", "--set", "batchsize=32"], "did you mean 'batch_size'"),
    "batch_size 0": (["--demos", "{demos}", "--set", "batch_size=0"], "batch_size"),
    "holdout 1": (["--demos", "{demos}", "--set", "holdout=1"], "holdout"),
    "a negative learning rate": (["--demos", "{demos}", "--set", "learning_rate=-1e-3"], "learning_rate"),
    "patience 0": (["--demos", "{demos}", "--set", "patience=0"], "patience"),
    "a layer of width 0": (["--demos", "{demos}", "--set", "policy_kwargs.net_arch=[0]"], "net_arch"),
    "an unknown policy_kwargs key": (["--demos", "{demos}", "--set", "policy_kwargs.colour=1"], "policy_kwargs key"),
    "an unknown policy_kwargs key with an expert": (
        ["--expert", "{expert}", "--set", "policy_kwargs.net_arc=[8]"],
        "did you mean 'net_arch'",
    ),
    "an unknown activation": (["--demos", "{demos}", "--set", "policy_kwargs.activation_fn=swish"], "activation_fn"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_train_bc_input_is_one_line_and_writes_nothing(cli, sac_run, demos, other_demos, tmp_path, case):
    (tmp_path / "file.txt").write_text("not demonstrations")
    args, words = BAD[case]
    env = "simrl/CartPole-v0" if "action space" in case else ENV
    fill = {"demos": demos, "other": other_demos, "expert": sac_run, "tmp": tmp_path}
    before, inputs = snapshot(tmp_path), (snapshot(sac_run), snapshot(demos.parent))
    r = cli("train", "bc", env, *[a.format(**fill) for a in args], "--timesteps", 100, "--out", tmp_path / "runs")
    assert r.code == 2, (r.code, r.err)
    check_one_line_error(r)
    assert words in r.err, r.err
    assert snapshot(tmp_path) == before and (snapshot(sac_run), snapshot(demos.parent)) == inputs
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("option", [["--demos", "{demos}"], ["--demo-episodes", "2"], ["--as", "ppo"]])
def test_imitation_options_on_another_learner_are_one_line(cli, demos, tmp_path, option):
    args = [a.format(demos=demos) for a in option]
    r = cli("train", "sac", ENV, *args, "--timesteps", 100, "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "train bc" in r.err and not (tmp_path / "runs").exists()
