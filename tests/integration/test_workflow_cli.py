"""The whole workflow in one command (train --report), and simrl watch, end to end."""

from __future__ import annotations

import base64
import json
import shutil

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pytest
from PIL import Image

from simrl.envs.pendulum import ParametricPendulum
from simrl.errors import Interrupted

from .conftest import FAST_SAC, snapshot
from .test_bad_input import _unfinished_copy, check_one_line_error


# -------------------------------------------------------------------------------------- --report
@pytest.mark.slow
def test_train_with_report_writes_the_page_plots_and_every_checkpoints_video(cli, tmp_path):
    r = cli(
        "train",
        "sac",
        "simrl/Pendulum-v0",
        "--timesteps",
        "300",
        "--seed",
        "2",
        "--out",
        tmp_path,
        "--name",
        "run",
        *FAST_SAC,
        "--report",
    )
    assert r.code == 0, r.err
    run = tmp_path / "run"
    assert "report.html" in r.out and "3 videos" in r.out
    plots = {p.name for p in (run / "plots").iterdir()}
    assert plots == {"learning_curve.png", "comparison.png", "checkpoint_means.png"} | {
        f"{kind}_{pct}.png" for kind in ("boxplot", "hist") for pct in ("025", "050", "100")
    }
    videos = run / "videos"
    assert {p.name for p in videos.iterdir()} == {
        f"{pct}.{ext}" for pct in ("025", "050", "100") for ext in ("mp4", "gif")
    }
    html = (run / "report.html").read_text()
    for pct in ("025", "050", "100"):
        reader = imageio_ffmpeg.read_frames(str(videos / f"{pct}.mp4"))
        assert next(reader)["size"] == (256, 256)
        assert sum(1 for _ in reader) == 201 + 15  # one 200-step episode, the first frame, a held last frame
        with Image.open(videos / f"{pct}.gif") as im:
            assert im.n_frames > 10
        # The page shows each checkpoint's gif in the checkpoint's own section, after its returns.
        section = html.split(f"<h2>Checkpoint {int(pct)}% (step")[1].split("<h2>")[0]
        assert base64.b64encode((videos / f"{pct}.gif").read_bytes()).decode() in section
        assert section.count("data:image/png;base64,") == 2 and "mean ± std" in section
    assert html.count("data:image/gif;base64,") == 3

    # `report` without --video shows the videos already recorded, and changes none of them.
    before = snapshot(videos)
    assert cli("report", run).code == 0
    assert snapshot(videos) == before
    assert (run / "report.html").read_text().count("data:image/gif;base64,") == 3


class _NoFrames(gym.Env):
    """A task with no rgb_array rendering: its runs have no videos."""

    metadata = {"render_modes": []}  # noqa: RUF012

    def __init__(self, render_mode=None):
        self.observation_space = gym.spaces.Box(-1, 1, (2,))
        self.action_space = gym.spaces.Box(-1, 1, (1,))

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, dtype=np.float32), {}

    def step(self, action):
        return np.zeros(2, dtype=np.float32), float(action[0]), False, False, {}


@pytest.mark.slow  # a training, a resume and two reports: about 5 s
def test_train_and_resume_report_a_run_whose_env_cannot_render(cli, tmp_path):
    gym.register("simrl-test/NoFrames-v0", entry_point=_NoFrames, max_episode_steps=5)
    try:
        r = cli(
            "train",
            "sac",
            "simrl-test/NoFrames-v0",
            "--timesteps",
            "60",
            "--seed",
            "0",
            "--out",
            tmp_path,
            "--name",
            "run",
            "--checkpoints",
            "50,100",
            *FAST_SAC,
            "--report",
        )
    finally:
        del gym.registry["simrl-test/NoFrames-v0"]
    assert r.code == 0, r.err
    assert "no videos:" in r.err and "render" in r.err
    run = tmp_path / "run"
    html = (run / "report.html").read_text()
    assert "no videos:" in html and "<h2>Checkpoint 50% (step" in html and "<h2>Checkpoint 100% (step" in html
    assert "data:image/gif" not in html and not (run / "videos").exists()

    # resume --report: the same page when a resumed run ends.
    resumed = _unfinished_copy(run, tmp_path / "resumed", keep="050")
    (resumed / "report.html").unlink()
    shutil.rmtree(resumed / "plots")
    gym.register("simrl-test/NoFrames-v0", entry_point=_NoFrames, max_episode_steps=5)
    try:
        r = cli("resume", resumed, "--report")
    finally:
        del gym.registry["simrl-test/NoFrames-v0"]
    assert r.code == 0, r.err
    html = (resumed / "report.html").read_text()
    assert "no videos:" in html and "<h2>Checkpoint 100% (step" in html


# ------------------------------------------------------------------------------------------ watch
@pytest.fixture
def headless_pygame(monkeypatch):
    """No display, SDL's dummy driver, and the pendulum's real time 50x faster (20 fps -> 1000 fps)."""
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.setitem(ParametricPendulum.metadata, "render_fps", 1000)


def test_watch_shows_episodes_and_prints_their_returns(cli, sac_run, headless_pygame):
    import pygame

    r = cli("watch", sac_run, "--episodes", "2", "--checkpoint", "final")
    assert r.code == 0, r.err
    lines = [line for line in r.out.splitlines() if ": episode " in line]
    assert len(lines) == 2 and all("in 200 steps" in line for line in lines), r.out
    assert "2 episode(s), mean return" in r.out
    assert not pygame.display.get_init()  # the window is closed
    # The first episode is the evaluation's first: same seed, same deterministic policy, same return.
    first = float(lines[0].split("return ")[1].split(" in")[0])
    ev = json.loads(cli("eval", sac_run, "--model", "final", "--episodes", "1", "--json").out)
    assert first == pytest.approx(ev["returns"][0], abs=0.05)


def test_watch_stops_when_the_window_is_closed_and_closes_it_on_ctrl_c(sac_run, headless_pygame):
    import pygame

    from simrl.experiments.watching import watch

    def close_after_first(line: str) -> None:
        if "episode 1:" in line:
            pygame.event.post(pygame.event.Event(pygame.QUIT))

    returns = watch(sac_run, episodes=3, log=close_after_first)
    assert [len(v) for v in returns.values()] == [1]
    assert not pygame.display.get_init()

    def ctrl_c(line: str) -> None:
        if "episode 1:" in line:
            assert pygame.display.get_init()  # the window is open while episodes play
            raise Interrupted(2)

    with pytest.raises(Interrupted):
        watch(sac_run, episodes=3, log=ctrl_c)
    assert not pygame.display.get_init()


def test_watch_a_mujoco_task_without_a_display_is_one_line_before_any_work(cli, sac_run, monkeypatch):
    import simrl.experiments.watching as watching

    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("MUJOCO_GL", "egl")

    def no_loading(*args, **kwargs):
        raise AssertionError("a policy was loaded before the display was checked")

    monkeypatch.setattr(watching, "resolve_target", no_loading)
    r = cli("watch", sac_run, "--env", "HalfCheetah-v5")
    check_one_line_error(r)
    assert "no display" in r.err and "simrl record" in r.err
