"""The bad-input corpus: each mistake prints one line ``simrl: error: ...``, exits 2, changes nothing."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import run_subprocess, snapshot

TRAIN = ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "100", "--eval-episodes", "1"]

TRAIN_CASES = {
    "unknown algorithm": ["train", "dqnx", "simrl/Pendulum-v0", "--timesteps", "100"],
    "unknown env id": ["train", "sac", "simrl/Nope-v0", "--timesteps", "100"],
    "unknown --set key": [*TRAIN, "--set", "not_a_key=1"],
    "--set without =": [*TRAIN, "--set", "gamma"],
    "--set value of the wrong type": [*TRAIN, "--set", "batch_size=abc"],
    "--set schedule that does not parse": [*TRAIN, "--set", "learning_rate=lin_x"],
    "non-numeric --env-param": [*TRAIN, "--env-param", "mass=heavy"],
    "out-of-bounds --env-param": [*TRAIN, "--env-param", "mass=100"],
    "negative --env-param": [*TRAIN, "--env-param", "length=-1"],
    "unknown parameter name": [*TRAIN, "--env-param", "colour=1"],
    "unknown randomized parameter": [*TRAIN, "--randomize", "colour=0:1"],
    "--randomize low > high": [*TRAIN, "--randomize", "mass=2.0:0.5"],
    "--randomize out of bounds": [*TRAIN, "--randomize", "mass=0.5:50"],
    "--randomize that does not parse": [*TRAIN, "--randomize", "mass=0.5"],
    "zero timesteps": ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "0"],
    "negative timesteps": ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "-5"],
    "non-integer timesteps": ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "ten"],
    "zero envs": [*TRAIN, "--n-envs", "0"],
    "bad checkpoints": [*TRAIN, "--checkpoints", "10,200"],
    "params on an env without any": ["train", "sac", "Pendulum-v1", "--timesteps", "100", "--env-param", "mass=1"],
    "unknown option": [*TRAIN, "--bogus"],
    "missing hyper-parameter file": [*TRAIN, "--hyperparams", "/nonexistent/hp.yaml"],
    "unknown --env-kwarg": ["train", "sac", "Pendulum-v1", "--timesteps", "100", "--env-kwarg", "nope=1"],
    "--env-kwarg naming a simulator parameter": [*TRAIN, "--env-kwarg", "mass=2"],
    "--env-kwarg without =": ["train", "sac", "Pendulum-v1", "--timesteps", "100", "--env-kwarg", "g"],
    "--env-kwarg value the env cannot use": ["train", "sac", "Pendulum-v1", "--timesteps", "100", "--env-kwarg", "g=x"],
    "off-policy algorithm on Discrete actions": ["train", "sac", "CartPole-v1", "--timesteps", "100"],
    # Values of the right type that make no sense (SB3 would train on NaN losses or crash later).
    "batch_size 0": [*TRAIN, "--set", "batch_size=0"],
    "negative buffer_size": [*TRAIN, "--set", "buffer_size=-5"],
    "a layer of width 0": [*TRAIN, "--set", "policy_kwargs.net_arch=[0]"],
    "a negative layer width": [*TRAIN, "--set", "policy_kwargs.net_arch=[-4, 64]"],
    "net_arch of the wrong shape": [*TRAIN, "--set", "policy_kwargs.net_arch=64"],
    "a net_arch dict with a zero width": [*TRAIN, "--set", "policy_kwargs.net_arch={pi: [64], qf: [0]}"],
    "gamma above 1": [*TRAIN, "--set", "gamma=2"],
    "negative gamma": [*TRAIN, "--set", "gamma=-0.1"],
    "tau 0": [*TRAIN, "--set", "tau=0"],
    "zero learning rate": [*TRAIN, "--set", "learning_rate=0"],
    "a schedule starting below 0": [*TRAIN, "--set", "learning_rate=lin_-1e-3"],
    "gradient_steps 0": [*TRAIN, "--set", "gradient_steps=0"],
    "train_freq 0": [*TRAIN, "--set", "train_freq=0"],
    "negative learning_starts": [*TRAIN, "--set", "learning_starts=-1"],
    "infinite learning rate": [*TRAIN, "--set", "learning_rate=.inf"],
    "ppo n_steps 0": ["train", "ppo", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "n_steps=0"],
    "ppo gae_lambda above 1": ["train", "ppo", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "gae_lambda=1.5"],
    "ppo n_epochs 0": ["train", "ppo", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "n_epochs=0"],
    "ppo negative clip_range": ["train", "ppo", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "clip_range=-0.2"],
    "td3 policy_delay 0": ["train", "td3", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "policy_delay=0"],
    "td3 negative noise_std": ["train", "td3", "simrl/Pendulum-v0", "--timesteps", "100", "--set", "noise_std=-1"],
    # rl-zoo's normalize: true, false or a mapping of VecNormalize's settings
    "normalize that is neither a bool nor a mapping": [*TRAIN, "--set", "normalize=3"],
    "unknown normalize key": [*TRAIN, "--set", "normalize={norm_obs: true, clip: 5}"],
    "normalize.norm_reward not a bool": [*TRAIN, "--set", "normalize.norm_reward=maybe"],
    "normalize.clip_obs 0": [*TRAIN, "--set", "normalize.clip_obs=0"],
    "normalize.gamma above 1": [
        "train",
        "ppo",
        "simrl/Pendulum-v0",
        "--timesteps",
        "100",
        "--set",
        "normalize={gamma: 2}",
    ],
    "unknown --device": [*TRAIN, "--device", "cuda9"],
    "a --device that is no device": [*TRAIN, "--device", "toaster"],
    "a CUDA --device on a machine without one": [*TRAIN, "--device", "cuda"],
}
# The planar tasks: an unknown parameter, a value out of bounds, an unknown reward name.
PLANAR = ["train", "sac", "simrl/BipedStand-v0", "--timesteps", "100", "--eval-episodes", "1"]
TRAIN_CASES |= {
    "planar: unknown parameter": [*PLANAR, "--env-param", "torso_weight=3"],
    "planar: parameter out of bounds": [*PLANAR, "--env-param", "motor_strength=5000"],
    "planar: randomized out of bounds": [*PLANAR, "--randomize", "friction=0:1"],
    "planar: unknown reward name": [*PLANAR, "--env-kwarg", "reward=nice"],
    "planar: misspelt reward kwarg": [*PLANAR, "--env-kwarg", "rewards=alive"],
    "planar: cart-pole parameter on the ball task": [
        *["train", "sac", "simrl/BallBalance-v0", "--timesteps", "100"],
        *["--env-param", "pole_length=1"],
    ],
}

# The MuJoCo tasks: parameters are scale factors with bounds; env kwargs follow the constructor chain.
MUJOCO = ["train", "sac", "HalfCheetah-v5", "--timesteps", "100", "--eval-episodes", "1"]
TRAIN_CASES |= {
    "mujoco: unknown parameter": [*MUJOCO, "--env-param", "wing_scale=1.2"],
    "mujoco: scale out of bounds": [*MUJOCO, "--env-param", "torso_mass_scale=3"],
    "mujoco: randomized out of bounds": [*MUJOCO, "--randomize", "gear_scale=0.1:1"],
    "mujoco: a parameter of another task": [*MUJOCO, "--env-param", "pole_mass_scale=1.2"],
    "mujoco: --eval-env-kwarg the constructor lacks": [*MUJOCO, "--eval-env-kwarg", "reset_noise=0.1"],
    "mujoco: --eval-env-kwarg with a bad value": [*MUJOCO, "--eval-env-kwarg", "xml_file=no-such-model.xml"],
    "mujoco: --eval-env-kwarg naming a parameter": [*MUJOCO, "--eval-env-kwarg", "mass_scale=2"],
    "mujoco: --env-kwarg render_mode": [*MUJOCO, "--env-kwarg", "render_mode=human"],
    "unknown --vec-env": [*MUJOCO, "--vec-env", "threads"],
}


def check_one_line_error(r) -> None:
    assert r.code == 2, (r.code, r.err)
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("simrl: error: ")
    assert "Traceback" not in r.err


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_train_mistakes(cli, tmp_path, case):
    out = tmp_path / "runs"
    r = cli(*TRAIN_CASES[case], "--out", out, "--name", "r")
    check_one_line_error(r)
    assert not out.exists(), "a rejected command must not create the run folder"


def test_hyperparams_file_that_is_not_yaml(cli, tmp_path):
    bad = tmp_path / "hp.yaml"
    bad.write_text("simrl/Pendulum-v0:\n  gamma: [0.9\n  batch_size: 64\n")
    before = snapshot(tmp_path)
    r = cli(*TRAIN, "--hyperparams", bad, "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "not valid YAML" in r.err
    assert snapshot(tmp_path) == before


def test_hyperparams_file_with_unknown_key(cli, tmp_path):
    bad = tmp_path / "hp.yaml"
    bad.write_text("default:\n  gammma: 0.9\n")
    r = cli(*TRAIN, "--hyperparams", bad, "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "gammma" in r.err


def test_existing_run_folder_is_not_overwritten(cli, sac_run):
    before = snapshot(sac_run)
    r = cli(*TRAIN, "--out", sac_run.parent, "--name", sac_run.name)
    check_one_line_error(r)
    assert snapshot(sac_run) == before


def test_mistakes_in_a_fresh_process_print_no_traceback(tmp_path):
    r = run_subprocess("train", "sac", "simrl/Pendulum-v0", "--timesteps", "-1", "--out", tmp_path)
    check_one_line_error(r)
    r = run_subprocess("resume", tmp_path)
    check_one_line_error(r)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ resume and eval
def test_resume_of_a_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    before = snapshot(tmp_path)
    check_one_line_error(cli("resume", tmp_path))
    check_one_line_error(cli("resume", tmp_path / "missing"))
    assert snapshot(tmp_path) == before


def test_resume_of_a_finished_run(cli, sac_run):
    before = snapshot(sac_run)
    r = cli("resume", sac_run)
    check_one_line_error(r)
    assert "already complete" in r.err
    assert snapshot(sac_run) == before


def _unfinished_copy(run: Path, dest: Path, keep: str = "025") -> Path:
    """A copy of a finished run that looks killed right after checkpoint ``keep``."""
    shutil.copytree(run, dest)
    for cp in (dest / "checkpoints").iterdir():
        if int(cp.name) > int(keep):
            shutil.rmtree(cp)
    meta = json.loads((dest / "meta.json").read_text())
    meta["status"] = "running"
    (dest / "meta.json").write_text(json.dumps(meta))
    return dest


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@pytest.mark.parametrize("name", ["model.zip", "replay_buffer.npz", "state.json"])
def test_resume_with_a_truncated_checkpoint_file(cli, sac_run, tmp_path, name):
    run = _unfinished_copy(sac_run, tmp_path / "run")
    _truncate(run / "checkpoints" / "025" / name)
    before = snapshot(run)
    r = cli("resume", run)
    check_one_line_error(r)
    assert snapshot(run) == before


def test_eval_of_a_truncated_model_zip(cli, sac_run, tmp_path):
    model = tmp_path / "model.zip"
    shutil.copy(sac_run / "best_model.zip", model)
    _truncate(model)
    before = snapshot(tmp_path)
    check_one_line_error(cli("eval", model, "--env", "simrl/Pendulum-v0"))
    assert snapshot(tmp_path) == before


def test_eval_of_a_file_that_is_not_a_model(cli, tmp_path):
    junk = tmp_path / "model.zip"
    junk.write_text("not a zip")
    check_one_line_error(cli("eval", junk, "--env", "simrl/Pendulum-v0"))


def _with_members(src: Path, dst: Path, members: dict[str, str | bytes | None]) -> Path:
    """A copy of the zip ``src`` at ``dst`` with ``members`` replaced (None: removed)."""
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst, "w") as b:
        for name in a.namelist():
            if name not in members:
                b.writestr(name, a.read(name))
        for name, content in members.items():
            if content is not None:
                b.writestr(name, content)
    return dst


def _pickled_list() -> bytes:
    buf = io.BytesIO()
    torch.save([1, 2, 3], buf)
    return buf.getvalue()


# Zips whose members have the right names and the wrong content; the foreign ones lack simrl.json.
MALFORMED_MODELS = {
    "data is a JSON array": {"data": "[1, 2]"},
    "data is a JSON string": {"data": '"model"'},
    "data is JSON null": {"data": "null"},
    "data without its keys (foreign)": {"data": "{}", "simrl.json": None},
    "counter of the wrong type": "num_timesteps",
    "policy_kwargs not base64 (foreign)": "policy_kwargs",
    "simrl.json is a JSON array": {"simrl.json": "[]"},
    "simrl.json hyperparams not a mapping": {"simrl.json": '{"algo": "sac", "hyperparams": [1]}'},
    "policy.pth is garbage": {"policy.pth": b"not a tensor file"},
    "policy.pth holds a list": {"policy.pth": _pickled_list()},
    "optimizer state is garbage": {"actor.optimizer.pth": b"\x00" * 64},
}


@pytest.mark.parametrize("case", sorted(MALFORMED_MODELS))
def test_eval_of_a_malformed_model_zip(cli, sac_run, tmp_path, case):
    src = sac_run / "best_model.zip"
    members = MALFORMED_MODELS[case]
    if isinstance(members, str):  # a field of data
        with zipfile.ZipFile(src) as a:
            data = json.loads(a.read("data"))
        if members == "num_timesteps":
            members = {"data": json.dumps({**data, "num_timesteps": "many"})}
        else:
            data["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": "not base64!"}
            members = {"data": json.dumps(data), "simrl.json": None}
    model = _with_members(src, tmp_path / "model.zip", members)
    before = snapshot(tmp_path)
    check_one_line_error(cli("eval", model, "--env", "simrl/Pendulum-v0", "--episodes", "1"))
    assert snapshot(tmp_path) == before


def test_eval_with_mismatched_env(cli, sac_run):
    # The pendulum's 3-dimensional observation does not fit MountainCarContinuous's 2.
    r = cli("eval", sac_run / "best_model.zip", "--env", "MountainCarContinuous-v0", "--episodes", "1")
    check_one_line_error(r)


@pytest.mark.parametrize(
    "args",
    [
        ["--env-param", "mass=100"],
        ["--env-param", "mass=abc"],
        ["--env-param", "colour=1"],
        ["--episodes", "0"],
        ["--model", "37"],
        ["--model", "newest"],
        ["--env-kwarg", "mass=2"],
        ["--env-kwarg", "reward=alive"],
        ["--env-kwarg", "reward"],
    ],
)
def test_eval_mistakes(cli, sac_run, args):
    check_one_line_error(cli("eval", sac_run, *args))


def test_eval_of_a_run_without_a_model_yet(cli, sac_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sac_run, run)
    shutil.rmtree(run / "checkpoints")
    (run / "best_model.zip").unlink()
    r = cli("eval", run)
    check_one_line_error(r)
    assert "no model yet" in r.err


def test_env_kwarg_errors_name_the_fix(cli, tmp_path):
    r = cli("train", "sac", "Pendulum-v1", "--timesteps", "100", "--env-kwarg", "gg=1", "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "unknown env kwarg 'gg'" in r.err and "did you mean 'g'" in r.err
    r = cli(*TRAIN, "--env-kwarg", "mass=2", "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "--env-param mass=VALUE" in r.err
    assert not (tmp_path / "runs").exists()


def test_api_mistakes_raise_before_anything_is_written(tmp_path):
    from simrl import api
    from simrl.errors import SimrlError

    cases = [
        dict(algo="sac", env_id="simrl/Pendulum-v0", hyperparams={"gammma": 0.9}),
        dict(algo="sac", env_id="simrl/Pendulum-v0", hyperparams={"batch_size": "abc"}),
        dict(algo="sac", env_id="simrl/Pendulum-v0", env_params={"mass": 100}),
        dict(algo="sac", env_id="simrl/Pendulum-v0", randomize={"mass": (2.0, 0.5)}),
        dict(algo="sac", env_id="simrl/Pendulum-v0", checkpoints=(10, 200)),
        dict(algo="ppo", env_id="simrl/Pendulum-v0", name="a/b"),
        dict(algo="sac", env_id="CartPole-v1"),
    ]
    for case in cases:
        with pytest.raises(SimrlError):
            api.train(timesteps=100, out=tmp_path / "runs", **case)
    assert not (tmp_path / "runs").exists()


def test_a_hyperparams_file_for_other_envs_only_names_the_ids_it_holds(cli, tmp_path):
    hp = tmp_path / "hp.yaml"
    hp.write_text("CartPole-v1:\n  gamma: 0.9\nHopper-v5:\n  gamma: 0.99\n")
    r = cli(*TRAIN, "--hyperparams", hp, "--out", tmp_path / "runs")
    check_one_line_error(r)
    assert "CartPole-v1, Hopper-v5" in r.err and "simrl/Pendulum-v0" in r.err
    assert not (tmp_path / "runs").exists()


def _a_file(tmp_path: Path) -> Path:
    f = tmp_path / "a-file"
    f.write_text("not a folder")
    return f


@pytest.mark.parametrize(
    "args",
    [
        ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "100", "--out", "{file}"],
        ["train", "sac", "simrl/Pendulum-v0", "--timesteps", "100", "--out", "{file}/runs"],
        ["eval", "{run}", "--grid", "mass=0.5:1.5:2", "--out", "{file}"],
        ["compare", "{run}", "--out", "{file}"],
        ["compare", "{run}", "--out", "{file}/cmp"],
        ["record", "{run}", "--out", "{file}/v.mp4"],
        ["record", "{run}", "--out", "{dir}"],
        ["bayessim", "--preset", "smoke", "--out", "{file}"],
    ],
    ids=lambda a: " ".join(a[:1] + a[-2:]).replace("{", "").replace("}", ""),
)
def test_an_out_that_is_a_file_or_leads_through_one(cli, sac_run, tmp_path, args):
    f = _a_file(tmp_path)
    (tmp_path / "v.mp4").mkdir()
    filled = [a.format(file=f, run=sac_run, dir=tmp_path / "v.mp4") for a in args]
    before, run_before = snapshot(tmp_path), snapshot(sac_run)
    r = cli(*filled)
    check_one_line_error(r)
    assert snapshot(tmp_path) == before and snapshot(sac_run) == run_before


@pytest.mark.parametrize(
    "args",
    [
        ["--seeds", "-1"],
        ["--seeds", "0,-3"],
        ["--simulations", "5"],
        ["--timesteps", "0"],
        ["--observations", "0"],
        ["--true-param", "mass=9"],
        ["--true-param", "colour=1"],
        ["--summary", "moments"],
        ["--preset", "huge"],
        ["--collect", "{cartpole}"],
        ["--collect", "{missing}"],
        ["--posterior", "{missing}"],
        ["--workers", "0"],
        ["--retries", "-1"],
        ["--ray", " "],
    ],
    ids=lambda a: " ".join(a).replace("{", "").replace("}", ""),
)
def test_bayessim_mistakes_are_caught_before_simulating(cli, tmp_path, cartpole_run, args):
    out = tmp_path / "out"
    filled = [a.format(cartpole=cartpole_run, missing=tmp_path / "nothing") for a in args]
    r = cli("bayessim", "--preset", "smoke", "--out", out, *filled)
    check_one_line_error(r)
    assert not out.exists()


@pytest.fixture(scope="module")
def cartpole_run(tmp_path_factory) -> Path:
    from simrl import api

    out = tmp_path_factory.mktemp("cp")
    settings = {"n_steps": 64, "batch_size": 64, "n_epochs": 1}
    return api.train("ppo", "CartPole-v1", timesteps=64, eval_episodes=1, hyperparams=settings, out=out, name="cp").dir


def test_compare_refuses_runs_of_different_envs(cli, sac_run, cartpole_run, tmp_path):
    before = snapshot(tmp_path)
    r = cli("compare", sac_run, cartpole_run, "--out", tmp_path / "cmp")
    check_one_line_error(r)
    assert "simrl/Pendulum-v0 (1 run)" in r.err and "CartPole-v1 (1 run)" in r.err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ every other subcommand
def _corrupt_copy(run: Path, dest: Path, what: str) -> Path:
    """A copy of a finished run with one thing broken."""
    shutil.copytree(run, dest)
    if what == "config.yaml":
        (dest / "config.yaml").write_text("algo: [sac\n")
    elif what == "config.yaml of another shape":
        (dest / "config.yaml").write_text("- just\n- a list\n")
    elif what == "config.yaml with an unknown key":
        (dest / "config.yaml").write_text((dest / "config.yaml").read_text() + "colour: red\n")
    elif what == "meta.json":
        (dest / "meta.json").write_text("{not json")
    elif what == "empty meta.json":
        (dest / "meta.json").write_text("")
    elif what == "evaluations.npz":
        _truncate(dest / "evaluations.npz")
    elif what == "empty evaluations.npz":
        (dest / "evaluations.npz").write_bytes(b"")
    elif what == "random_baseline.npz":
        (dest / "random_baseline.npz").write_text("garbage")
    elif what == "no random_baseline.npz":
        (dest / "random_baseline.npz").unlink()
    elif what == "best_model.zip":
        (dest / "best_model.zip").write_bytes(b"PK\x03\x04 not really a zip")
    elif what == "a pickled evaluations.npz":
        np.savez(dest / "evaluations.npz", timesteps=np.array([object()], dtype=object))
    else:
        raise AssertionError(what)
    return dest


BROKEN = [
    "config.yaml",
    "config.yaml of another shape",
    "config.yaml with an unknown key",
    "meta.json",
    "empty meta.json",
    "evaluations.npz",
    "empty evaluations.npz",
    "random_baseline.npz",
    "no random_baseline.npz",
    "a pickled evaluations.npz",
]


@pytest.mark.parametrize("what", BROKEN)
def test_report_of_a_broken_run(cli, sac_run, tmp_path, what):
    run = _corrupt_copy(sac_run, tmp_path / "run", what)
    before = snapshot(tmp_path)
    check_one_line_error(cli("report", run))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("what", ["config.yaml", "meta.json", "config.yaml with an unknown key", "best_model.zip"])
def test_eval_and_record_of_a_broken_run(cli, sac_run, tmp_path, what):
    run = _corrupt_copy(sac_run, tmp_path / "run", what)
    before = snapshot(tmp_path)
    check_one_line_error(cli("eval", run))
    check_one_line_error(cli("record", run, "--out", tmp_path / "v.mp4"))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("what", ["config.yaml", "config.yaml of another shape", "meta.json", "empty meta.json"])
def test_resume_and_compare_of_a_broken_run(cli, sac_run, tmp_path, what):
    run = _unfinished_copy(sac_run, tmp_path / "src")
    run = _corrupt_copy(run, tmp_path / "run", what)
    before = snapshot(tmp_path)
    check_one_line_error(cli("resume", run))
    check_one_line_error(cli("compare", run, sac_run, "--out", tmp_path / "cmp"))
    assert snapshot(tmp_path) == before


OTHER_CASES = {
    "report: missing folder": ["report", "{missing}"],
    "report: a file": ["report", "{run}/best_model.zip"],
    "report: a folder that is not a run": ["report", "{empty}"],
    "report: bad device": ["report", "{run}", "--device", "toaster"],
    "report: unknown option": ["report", "{run}", "--bogus"],
    "record: unknown checkpoint": ["record", "{run}", "--checkpoint", "37"],
    "record: checkpoint that is not one": ["record", "{run}", "--checkpoint", "newest"],
    "record: zero episodes": ["record", "{run}", "--episodes", "0"],
    "record: out not an mp4": ["record", "{run}", "--out", "{tmp}/v.avi"],
    "record: unknown env": ["record", "{run}", "--env", "Nope-v9"],
    "record: parameter out of bounds": ["record", "{run}", "--env-param", "mass=100"],
    "record: env without rgb frames": [
        "record",
        "{run}",
        "--env",
        "simrl/Pendulum-v0",
        "--env-kwarg",
        "render_mode=human",
    ],
    "record: missing target": ["record", "{missing}"],
    "compare: no runs": ["compare", "--out", "{tmp}/out"],
    "compare: the same run twice": ["compare", "{run}", "{run}", "--out", "{tmp}/out"],
    "compare: a folder that is not a run": ["compare", "{run}", "{empty}", "--out", "{tmp}/out"],
    "compare: unknown --group-by key": ["compare", "{run}", "--group-by", "colour", "--out", "{tmp}/out"],
    "compare: --grid of one group": ["compare", "{run}", "--grid", "mass=0.5:1:2", "--out", "{tmp}/out"],
    "compare: --grid that does not parse": ["compare", "{run}", "--grid", "mass=0.5", "--out", "{tmp}/out"],
    "compare: bad device": ["compare", "{run}", "--device", "cuda7", "--out", "{tmp}/out"],
    "eval: negative episodes": ["eval", "{run}", "--episodes", "-3"],
    "eval: --grid with three axes": [
        "eval",
        "{run}",
        "--grid",
        "mass=1:2:2",
        "--grid",
        "length=1:2:2",
        "--grid",
        "gravity=9:10:2",
    ],
    "eval: --grid out of bounds": ["eval", "{run}", "--grid", "mass=0.01:100:3"],
    "eval: --grid with N 0": ["eval", "{run}", "--grid", "mass=1:2:0"],
    "eval: --grid naming a parameter twice": ["eval", "{run}", "--grid", "mass=1:2:2", "--grid", "mass=1:3:2"],
    "eval: --grid of a parameter the env lacks": ["eval", "{run}", "--grid", "colour=1:2:2"],
    "eval: a model.zip without --env": ["eval", "{tmp}/plain.zip"],
    "eval: bad device": ["eval", "{run}", "--device", "toaster"],
    "eval: unknown algorithm for a model.zip": ["eval", "{run}/best_model.zip", "--algo", "dqnx"],
    "resume: missing folder": ["resume", "{missing}"],
    "resume: a file": ["resume", "{run}/best_model.zip"],
    "envs: an extra argument": ["envs", "extra"],
    "envs: unknown option": ["envs", "--bogus"],
    "demo: negative seed": ["demo", "--seed", "-1", "--out", "{tmp}/runs"],
    "demo: --out through a file": ["demo", "--out", "{file}/runs"],
    "demo: unknown option": ["demo", "--bogus"],
    "play: no Box actions": ["play", "CartPole-v1", "--frames", "1"],
    "play: zero scale": ["play", "simrl/Pendulum-v0", "--scale", "0", "--frames", "1"],
    "play: negative frames": ["play", "simrl/Pendulum-v0", "--frames", "-1"],
    "top level: torch threads 0": ["--torch-threads", "0", "envs"],
    "top level: unknown command": ["fly"],
    "train: a name that climbs out of --out": [*TRAIN, "--out", "{tmp}/runs", "--name", "../escape"],
    "train: a name with a newline": [*TRAIN, "--out", "{tmp}/runs", "--name", "a\nb"],
    "train: a name with a control character": [*TRAIN, "--out", "{tmp}/runs", "--name", "a\x1bb"],
    "train: an empty name": [*TRAIN, "--out", "{tmp}/runs", "--name", ""],
    "train: --randomize-from a missing file": [*TRAIN, "--out", "{tmp}/runs", "--randomize-from", "{missing}"],
    "train: --randomize-from a file of junk": [*TRAIN, "--out", "{tmp}/runs", "--randomize-from", "{file}"],
    "train: eval episodes 0": [*TRAIN, "--out", "{tmp}/runs", "--eval-episodes", "0"],
    "train: eval freq 0": [*TRAIN, "--out", "{tmp}/runs", "--eval-freq", "0"],
    "train: negative seed": [*TRAIN, "--out", "{tmp}/runs", "--seed", "-4"],
    "train: an empty hyper-parameter file that is a list": [*TRAIN, "--out", "{tmp}/runs", "--hyperparams", "{list}"],
}


@pytest.mark.parametrize("case", sorted(OTHER_CASES))
def test_every_subcommand_refuses_its_mistakes_in_one_line(cli, sac_run, tmp_path, case):
    (tmp_path / "empty").mkdir()
    (tmp_path / "a-file").write_text("junk")
    (tmp_path / "list.yaml").write_text("- 1\n- 2\n")
    _with_members(sac_run / "best_model.zip", tmp_path / "plain.zip", {"simrl.json": None})  # no env recorded
    fill = {
        "run": sac_run,
        "missing": tmp_path / "missing",
        "empty": tmp_path / "empty",
        "tmp": tmp_path,
        "file": tmp_path / "a-file",
        "list": tmp_path / "list.yaml",
    }
    args = [a.format(**fill) for a in OTHER_CASES[case]]
    before, run_before = snapshot(tmp_path), snapshot(sac_run)
    check_one_line_error(cli(*args))
    assert snapshot(tmp_path) == before and snapshot(sac_run) == run_before
