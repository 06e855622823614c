"""simrl report, compare, record and eval --grid, end to end on small real runs."""

from __future__ import annotations

import csv
import json
import shutil

import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from .browser import page_facts_or_skip
from .conftest import FAST_SAC, snapshot
from .test_bad_input import check_one_line_error


def distinct_colours(path) -> int:
    return len(Image.open(path).convert("RGB").getcolors(maxcolors=1 << 20) or [])


@pytest.fixture(scope="module")
def more_runs(tmp_path_factory, sac_run):
    """Two more SAC seeds and two TD3 seeds: two groups, one of three runs and one of two (about 8 s: slow)."""
    from simrl.cli import main

    out = tmp_path_factory.mktemp("more")
    for algo, seed in (("sac", 4), ("sac", 5), ("td3", 1), ("td3", 2)):
        try:
            main(
                [
                    "train",
                    algo,
                    "simrl/Pendulum-v0",
                    "--timesteps",
                    "400",
                    "--seed",
                    str(seed),
                    "--out",
                    str(out),
                    "--name",
                    f"{algo}{seed}",
                    *FAST_SAC,
                ]
            )
        except SystemExit as e:
            assert not e.code
    return [sac_run, out / "sac4", out / "sac5", out / "td31", out / "td32"]


@pytest.mark.slow
def test_report_writes_every_plot_and_a_page_that_renders(cli, sac_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sac_run, run)
    r = cli("report", run, "--video")
    assert r.code == 0, r.err
    plots = run / "plots"
    expected = {"learning_curve.png", "comparison.png", "checkpoint_means.png"}
    expected |= {f"{kind}_{pct}.png" for kind in ("boxplot", "hist") for pct in ("025", "050", "100")}
    assert {p.name for p in plots.iterdir()} == expected
    for png in plots.iterdir():
        assert png.stat().st_size > 5_000 and distinct_colours(png) > 20, png
    html = (run / "report.html").read_text()
    assert html.count("data:image/png;base64,") == len(expected)
    assert html.count("data:image/gif;base64,") == 3  # each checkpoint's rollout, beside its plots
    assert "IQM" in html and "random" in html
    assert {p.name for p in (run / "videos").iterdir()} == {
        f"{pct}.{ext}" for pct in ("025", "050", "100") for ext in ("mp4", "gif")
    }
    facts = page_facts_or_skip(run / "report.html", tmp_path / "shot.png")
    assert facts["images"] >= len(expected) and facts["images_loaded"] == facts["images"]
    assert facts["requests"] == [] and facts["colours"] > 50


def test_record_all_checkpoints_joins_them_in_one_video(cli, sac_run, tmp_path):
    out = tmp_path / "progress.mp4"
    r = cli("record", sac_run, "--checkpoint", "all", "--episodes", "1", "--out", out)
    assert r.code == 0, r.err
    reader = imageio_ffmpeg.read_frames(str(out))
    meta = next(reader)
    n = sum(1 for _ in reader)
    # Three checkpoints x (200 steps + the first frame) + a held last frame per checkpoint (15).
    assert n == 3 * 201 + 3 * 15
    assert meta["size"] == (256, 256) and meta["fps"] == 20
    gif = out.with_suffix(".gif")
    assert gif.is_file() and gif.stat().st_size < 2_000_000
    with Image.open(gif) as im:
        assert im.width < 256 and im.n_frames > 10
    for label in ("checkpoint 25%", "checkpoint 50%", "checkpoint 100%"):
        assert label in r.out
    # Each checkpoint's own video beside the joined one, named as its folder (what `simrl report` shows).
    for pct in ("025", "050", "100"):
        assert (tmp_path / f"{pct}.mp4").is_file() and (tmp_path / f"{pct}.gif").is_file()


def test_eval_grid_two_parameters(cli, sac_run, tmp_path):
    r = cli(
        "eval",
        sac_run,
        "--grid",
        "mass=0.5:1.5:3",
        "--grid",
        "length=0.5:1.0:2",
        "--episodes",
        "2",
        "--out",
        tmp_path,
        "--json",
    )
    assert r.code == 0, r.err
    report = json.loads(r.out)
    assert np.array(report["mean"]).shape == (3, 2)
    rows = list(csv.DictReader((tmp_path / "robustness.csv").open()))
    assert len(rows) == 6 and set(rows[0]) == {"mass", "length", "mean", "std", "iqm", "episodes"}
    assert distinct_colours(tmp_path / "robustness.png") > 20
    # The nominal cell (mass 1, length 1) equals plain evaluation on the same seeds.
    plain = json.loads(cli("eval", sac_run, "--episodes", "2", "--json").out)
    assert report["mean"][1][1] == pytest.approx(plain["mean"], abs=1e-3)


def test_eval_grid_one_parameter_writes_a_line(cli, sac_run, tmp_path):
    r = cli("eval", sac_run, "--grid", "length=0.5:1.5:4", "--episodes", "2", "--out", tmp_path)
    assert r.code == 0, r.err
    assert len(list(csv.DictReader((tmp_path / "robustness.csv").open()))) == 4
    assert (tmp_path / "robustness.png").is_file()


@pytest.mark.slow
def test_compare_groups_with_ci_probability_of_improvement_and_grid(cli, more_runs, tmp_path):
    out = tmp_path / "cmp"
    r = cli("compare", *more_runs, "--out", out, "--grid", "mass=0.5:1.5:2")
    assert r.code == 0, r.err
    result = json.loads((out / "compare.json").read_text())
    groups = {g["group"]: g for g in result["groups"]}
    assert set(groups) == {"sac simrl/Pendulum-v0", "td3 simrl/Pendulum-v0"}
    sac, td3 = groups["sac simrl/Pendulum-v0"], groups["td3 simrl/Pendulum-v0"]
    assert sac["n_runs"] == 3 and td3["n_runs"] == 2
    assert sac["iqm_ci"][0] <= sac["iqm"] <= sac["iqm_ci"][1]
    assert sac["warning"] is None and td3["warning"] is not None
    assert "warning" in r.out
    (poi,) = result["probability_of_improvement"]
    assert 0.0 <= poi["ci"][0] <= poi["p_x_better"] <= poi["ci"][1] <= 1.0
    assert np.array(result["robustness"]["diff_to_first"]["td3 simrl/Pendulum-v0"]).shape == (2,)
    names = {p.name for p in out.iterdir()}
    assert {"compare.json", "compare.html", "iqm_curves.png", "performance_profile.png"} <= names
    assert sum(n.startswith("robustness_") for n in names) == 3  # two maps and their difference
    html = (out / "compare.html").read_text()
    assert html.count("data:image/png;base64,") == 5


@pytest.mark.slow
def test_compare_group_by_a_config_key(cli, more_runs, tmp_path):
    r = cli("compare", *more_runs[:3], "--group-by", "seed", "--out", tmp_path / "c")
    assert r.code == 0, r.err
    labels = [g["group"] for g in json.loads((tmp_path / "c" / "compare.json").read_text())["groups"]]
    assert labels == ["seed=3", "seed=4", "seed=5"]


# -------------------------------------------------------------------------------------- bad input
def test_results_commands_on_a_folder_that_is_not_a_run(cli, tmp_path):
    (tmp_path / "x.txt").write_text("x")
    before = snapshot(tmp_path)
    for args in (["report", tmp_path], ["compare", tmp_path, "--out", tmp_path / "c"], ["record", tmp_path]):
        check_one_line_error(cli(*args))
    assert snapshot(tmp_path) == before


def test_report_of_a_run_with_no_evaluations_yet(cli, sac_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sac_run, run)
    (run / "evaluations.npz").unlink()
    before = snapshot(run)
    r = cli("report", run)
    check_one_line_error(r)
    assert "no evaluations yet" in r.err
    assert snapshot(run) == before


def test_record_an_env_that_cannot_render(cli, tmp_path):
    # An env with no rgb_array mode at all, registered here for the test, and a model for it.
    import gymnasium as gym
    from stable_baselines3 import SAC

    class NoRender(gym.Env):
        metadata = {"render_modes": []}  # noqa: RUF012

        def __init__(self, render_mode=None):
            self.observation_space = gym.spaces.Box(-1, 1, (2,))
            self.action_space = gym.spaces.Box(-1, 1, (1,))

        def reset(self, *, seed=None, options=None):
            super().reset(seed=seed)
            return np.zeros(2, dtype=np.float32), {}

        def step(self, action):
            return np.zeros(2, dtype=np.float32), 0.0, True, False, {}

    gym.register("simrl-test/NoRender-v0", entry_point=NoRender, max_episode_steps=5)
    model = SAC("MlpPolicy", NoRender(), learning_starts=1, buffer_size=10)
    path = tmp_path / "m.zip"
    model.save(path)
    before = snapshot(tmp_path)
    r = cli("record", path, "--env", "simrl-test/NoRender-v0")
    check_one_line_error(r)
    assert "render" in r.err
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize(
    "spec", ["mass=0.5:2.0", "mass=a:b:3", "mass=2:1:3", "mass=0.5:2:0", "mass", "mass=0.5:9:3", "colour=0:1:3"]
)
def test_grid_specs_that_do_not_parse(cli, sac_run, tmp_path, spec):
    before = snapshot(sac_run)
    check_one_line_error(cli("eval", sac_run, "--grid", spec))
    assert snapshot(sac_run) == before


def test_three_grid_axes_are_refused(cli, sac_run):
    check_one_line_error(
        cli("eval", sac_run, "--grid", "mass=1:2:2", "--grid", "length=1:2:2", "--grid", "gravity=9:10:2")
    )


def test_compare_grid_needs_two_groups(cli, sac_run, tmp_path):
    r = cli("compare", sac_run, "--grid", "mass=0.5:1:2", "--out", tmp_path / "c")
    check_one_line_error(r)
    assert not (tmp_path / "c").exists()


def test_a_group_of_one_run_gets_no_interval(cli, sac_run, tmp_path):
    r = cli("compare", sac_run, "--out", tmp_path / "c")
    assert r.code == 0, r.err
    group = json.loads((tmp_path / "c" / "compare.json").read_text())["groups"][0]
    assert group["n_runs"] == 1 and group["iqm_ci"] is None and group["mean_ci"] is None
    assert "no CI" in r.out and "one run: no CI" in (tmp_path / "c" / "compare.html").read_text()
