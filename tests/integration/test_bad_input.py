"""The bad-input corpus: each mistake prints one line ``simrl: error: ...``, exits 2, changes nothing."""

from __future__ import annotations

import io
import json
import shutil
import zipfile
from pathlib import Path

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
