"""``simrl sweep``: local workers equal runs made one by one, a killed sweep resumes exactly, failures retried."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import torch

from simrl.cli import main
from simrl.experiments import sweep as sw
from simrl.experiments.config import TrainConfig

HERE = Path(__file__).resolve().parent
TINY = [
    "ppo",
    "simrl/Pendulum-v0",
    "--seeds", "0-1",
    "--grid", "learning_rate=1e-3,3e-4",
    "--timesteps", "4096",
    "--set", "n_steps=64",
    "--checkpoints", "25,50,75,100",
    "--eval-episodes", "2",
]  # fmt: skip


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simrl.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])},
    )


def _weights(run_dir: Path) -> dict[str, torch.Tensor]:
    with zipfile.ZipFile(run_dir / "checkpoints" / "100" / "model.zip") as z:
        return torch.load(io.BytesIO(z.read("policy.pth")), weights_only=True)


def _assert_same(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    assert all(torch.equal(wa[k], wb[k]) for k in wa), f"{a.name}: weights differ from {b}"


@pytest.fixture(scope="module")
def one_by_one(tmp_path_factory) -> Path:
    """The tiny sweep's runs (and those of seed 2) made one by one in this process: what every sweep must equal."""
    from simrl.experiments import imitating

    out = tmp_path_factory.mktemp("one-by-one")
    runs, _ = sw.plan(_base(), seeds=[0, 1, 2], grid=sw.parse_grid(["learning_rate=1e-3,3e-4"]))
    for r in runs:
        run = imitating.start(TrainConfig.from_dict(r.config), out, r.name, "test")
        run.train()
    return out


def _base() -> dict:
    return {
        "algo": "ppo",
        "env_id": "simrl/Pendulum-v0",
        "timesteps": 4096,
        "sets": ["n_steps=64"],
        "checkpoints": (25, 50, 75, 100),
        "eval_episodes": 2,
    }


def test_local_sweep_equals_runs_one_by_one(tmp_path, one_by_one, capsys):
    main(["sweep", *TINY, "--workers", "2", "--out", str(tmp_path / "sw")])
    out = capsys.readouterr().out
    assert "4 of 4 runs done" in out
    manifest = json.loads((tmp_path / "sw" / "sweep.json").read_text())
    names = [r["name"] for r in manifest["runs"]]
    assert names == ["learning_rate=1e-3_s0", "learning_rate=1e-3_s1", "learning_rate=3e-4_s0", "learning_rate=3e-4_s1"]
    assert manifest["group_by"] == ["hyperparams.learning_rate"]
    status = json.loads((tmp_path / "sw" / "status.json").read_text())["runs"]
    assert {s["status"] for s in status.values()} == {"done"}
    for name in names:
        _assert_same(tmp_path / "sw" / "runs" / name, one_by_one / name)

    # The same command again trains nothing; compare groups by the swept key.
    main(["sweep", *TINY, "--workers", "2", "--out", str(tmp_path / "sw")])
    assert "4 of 4 runs done" in capsys.readouterr().out
    main(["compare", str(tmp_path / "sw"), "--out", str(tmp_path / "cmp")])
    groups = json.loads((tmp_path / "cmp" / "compare.json").read_text())["groups"]
    assert sorted(g["group"] for g in groups) == [
        "hyperparams.learning_rate=0.0003",
        "hyperparams.learning_rate=0.001",
    ]
    assert all(g["n_runs"] == 2 for g in groups)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, waiting for its parent to read its status, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_sweep_resumes_to_identical_runs(tmp_path, one_by_one, signum):
    """SIGKILL: the workers die with the head (PR_SET_PDEATHSIG). SIGTERM: the head stops its workers and
    exits 143 at once, not after their runs end.

    The runs take about a second, so a kill can land after the runs in flight have ended: nothing is then cut
    short to resume. That kill is repeated on a fresh sweep, up to three times; one must cut a run short.
    """
    for attempt in range(3):
        if _kill_and_finish(tmp_path / f"sw{attempt}", tmp_path, one_by_one, signum):
            return
    pytest.fail("no run was resumed after 3 kills: each came after the runs in flight had ended")


def _kill_and_finish(folder: Path, cwd: Path, one_by_one: Path, signum: int) -> bool:
    """Kill the sweep's head once a run has a checkpoint, check its workers die, run the sweep again and check
    every run equals the one-by-one runs. Whether some run was resumed from a checkpoint."""
    args = [sys.executable, "-m", "simrl.cli", "sweep", *TINY, "--workers", "2", "--out", str(folder)]
    head = subprocess.Popen(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while not list(folder.glob("runs/*/checkpoints/*/state.json")):  # killed once a run has a checkpoint
        assert head.poll() is None and time.monotonic() < deadline, "the sweep ended before a checkpoint was seen"
        time.sleep(0.05)
    workers = _children(head.pid)
    head.send_signal(signum)  # the head only: its workers must die with it
    assert head.wait(timeout=10) == (-signum if signum == signal.SIGKILL else 128 + signum)
    for w in workers:
        while _alive(w):
            assert time.monotonic() < deadline, "a worker outlived the killed head"
            time.sleep(0.05)
    states = [sw.run_status(d)["status"] for d in (folder / "runs").iterdir()]
    assert states.count("done") < 4, "killed too late to test a resume"

    done = _cli("sweep", *TINY, "--workers", "2", "--out", str(folder), cwd=cwd)
    assert done.returncode == 0, done.stderr
    assert "4 of 4 runs done" in done.stdout
    for r in sw.open_sweep(folder).runs:
        _assert_same(folder / "runs" / r.name, one_by_one / r.name)
    # (runs/ may also hold the temporary folder of a run folder whose creation the kill cut short)
    resumed = [
        json.loads((folder / "runs" / r.name / "meta.json").read_text())["resumes"] for r in sw.open_sweep(folder).runs
    ]
    return any(n >= 1 for n in resumed)


def test_failing_runs_are_retried_and_never_stop_the_others(tmp_path):
    marker = tmp_path / "failed-once"
    result = _cli(
        "sweep", "ppo", "sweep_envs:FlakyPendulum-v0",
        "--grid", "env_kwarg.fail=never,once,always",
        "--env-kwarg", f"marker={marker}",
        "--timesteps", "2048", "--set", "n_steps=256", "--checkpoints", "25,50,75,100", "--eval-episodes", "2",
        "--workers", "2", "--retries", "1", "--out", "sw",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "1 of 3 runs did not finish (fail=always_s0;" in result.stderr
    status = json.loads((tmp_path / "sw" / "status.json").read_text())["runs"]
    assert status["fail=never_s0"]["status"] == "done" and status["fail=never_s0"]["attempts"] == 1
    assert status["fail=once_s0"]["status"] == "done" and status["fail=once_s0"]["attempts"] == 2
    assert status["fail=always_s0"]["status"] == "failed" and status["fail=always_s0"]["attempts"] == 2
    assert "fails on purpose" in status["fail=always_s0"]["error"]
    assert marker.exists()
    meta = json.loads((tmp_path / "sw" / "runs" / "fail=once_s0" / "meta.json").read_text())
    assert meta["resumes"] == 1 and meta["status"] == "done"  # the retry went on from the run's checkpoint


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ppo", "simrl/Pendulum-v0"], "simrl sweep needs --out FOLDER"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--seeds", "3-1"], "--seeds expects seeds like 0-4"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--grid", "learning_rate"], "--grid expects KEY=VALUE"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--grid", "seed=1,2"], "--grid cannot sweep 'seed'"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--grid", "learning_rat=1e-3,1e-4"], "learning_rat"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--grid", "env_param.mass=1,-5"], "[env_param.mass=-5, seed 0]"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--grid", "n_epochs=5,0"], "[n_epochs=0, seed 0]"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--workers", "0"], "--workers must be at least 1"),
        (["ppo", "simrl/Pendulum-v0", "--out", "o", "--retries", "-1"], "--retries must be at least 0"),
        (["ppo", "--out", "o"], "needs ALGO ENV_ID"),
        (["--out", "o"], "is not a sweep folder"),
        (["--out", "o", "--runs", "missing.yaml"], "missing.yaml"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as e:
        main(["sweep", *args])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("simrl: error:") and len(err.splitlines()) == 1 and message in err, err
    assert list(tmp_path.iterdir()) == []


def test_another_sweep_in_the_same_folder_is_refused(tmp_path, capsys):
    runs = tmp_path / "runs.yaml"
    runs.write_text(
        "runs:\n"
        "  - {algo: ppo, env: simrl/Pendulum-v0, timesteps: 1024, name: small, hyperparams: {n_steps: 64}}\n"
        "  - {algo: a2c, env: simrl/Pendulum-v0, timesteps: 1024, seeds: 1-2, hyperparams: {learning_rate: 1e-3}}\n"
    )
    planned, group_by = sw.plan({"eval_episodes": 2}, seeds=[0], grid=[], runs_file=sw.read_runs_file(runs))
    assert [r.name for r in planned] == ["small_s0", "a2c-simrl-Pendulum-v0_s1", "a2c-simrl-Pendulum-v0_s2"]
    assert planned[1].config["hyperparams"]["learning_rate"] == 0.001  # YAML 1.1's '1e-3' read as a number
    # the presets of two algorithms differ in many keys: the groups are by algo and what the file sets
    assert group_by == ["algo", "hyperparams.n_steps", "hyperparams.learning_rate"]
    sw.prepare(tmp_path / "sw", planned, group_by, "test")
    with pytest.raises(SystemExit) as e:
        main(["sweep", "ppo", "simrl/Pendulum-v0", "--timesteps", "1024", "--out", str(tmp_path / "sw")])
    assert e.value.code == 2
    assert "holds another sweep" in capsys.readouterr().err


def test_seeds_grid_values_and_names():
    assert sw.parse_seeds("0-2,7,1") == [0, 1, 2, 7]
    assert sw.split_values("[64,64],[128, 128]") == ["[64,64]", "[128, 128]"]
    assert sw.parse_grid(["policy_kwargs.net_arch=[64,64],[32]"]) == [("policy_kwargs.net_arch", ["[64,64]", "[32]"])]
    for bad in (["lr=1,1"], ["lr=1,"], ["lr=1", "lr=2"]):
        with pytest.raises(sw.ConfigError):
            sw.parse_grid(bad)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    """A real Ray cluster of two nodes of one CPU each on 127.0.0.1, its files in a temporary folder."""
    import tempfile

    temp = tempfile.mkdtemp(prefix="ray", dir="/tmp")  # short: Ray's socket paths must fit in 107 bytes
    # Ray's files in the temporary folder; every node, the GCS and the driver on 127.0.0.1 (Ray's
    # single-machine mode of macOS and Windows: without it the nodes bind this machine's network address).
    env = {"RAY_TMPDIR": temp, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    ray = pytest.importorskip("ray")
    from ray._private import ray_constants
    from ray.cluster_utils import Cluster

    enabled, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False  # read at import time
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    worker = cluster.add_node(num_cpus=1)
    assert cluster.address.startswith("127.0.0.1:")
    ray.init(address=cluster.address, log_to_driver=False, logging_level="WARNING")
    try:
        yield cluster, worker
    finally:
        ray.shutdown()
        cluster.shutdown()
        ray_constants.ENABLE_RAY_CLUSTER = enabled
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        import shutil

        shutil.rmtree(temp, ignore_errors=True)


def test_ray_sweep_survives_a_lost_node_bit_identical(tmp_path, one_by_one, ray_cluster, capsys):
    import threading

    cluster, worker = ray_cluster
    folder = tmp_path / "sw"
    removed = threading.Event()

    def training() -> int:  # runs training now: one on each node
        return sum(sw.run_status(d)["status"] == "running" for d in folder.glob("runs/*"))

    def remove_node_mid_sweep() -> None:
        deadline = time.monotonic() + 240
        while training() < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        cluster.remove_node(worker)  # the worker node's run dies mid-training; Ray runs its task again
        removed.set()

    remover = threading.Thread(target=remove_node_mid_sweep, daemon=True)
    remover.start()
    args = [a if a != "0-1" else "0-2" for a in TINY]
    main(["sweep", *args, "--ray", cluster.address, "--out", str(folder)])
    remover.join(timeout=60)
    assert removed.is_set()
    assert "6 of 6 runs done" in capsys.readouterr().out
    runs = sw.open_sweep(folder).runs
    assert len(runs) == 6
    for r in runs:
        _assert_same(folder / "runs" / r.name, one_by_one / r.name)
    resumed = [json.loads((folder / "runs" / r.name / "meta.json").read_text())["resumes"] for r in runs]
    assert any(n >= 1 for n in resumed), "no run was cut short by the lost node"
