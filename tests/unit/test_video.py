"""Videos: every frame recorded and written, at the right size and speed, reproducibly, annotated."""

from __future__ import annotations

from typing import ClassVar

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pytest
from gymnasium import spaces
from PIL import Image

from simrl.errors import EnvError
from simrl.evaluation.evaluate import EVAL_SEED, evaluate
from simrl.evaluation.video import annotate, join, record_episodes, write_gif, write_mp4

PENDULUM = "simrl/Pendulum-v0"


class Torque:
    """A stand-in policy: the same torque whatever it sees."""

    def __init__(self, torque: float) -> None:
        self.torque = torque

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        return np.full((len(observation), 1), self.torque, dtype=np.float32), None


@pytest.fixture(scope="module")
def episodes():
    return record_episodes(Torque(1.0), PENDULUM, episodes=2)


def read_mp4(path) -> tuple[dict, list[np.ndarray]]:
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    w, h = meta["size"]
    return meta, [np.frombuffer(b, np.uint8).reshape(h, w, 3) for b in reader]


def all_frames(episodes) -> list[np.ndarray]:
    return [frame for ep in episodes for frame in ep.frames]


# --------------------------------------------------------------------------------------- recording


def test_an_episode_holds_the_frame_after_reset_and_one_per_step(episodes):
    assert [ep.seed for ep in episodes] == [EVAL_SEED, EVAL_SEED + 1]
    for ep in episodes:
        assert ep.length == 200  # the id's time limit
        assert ep.frames.shape == (201, 256, 256, 3) and ep.frames.dtype == np.uint8
        assert ep.fps == 20  # real time: one step is 0.05 s
        assert len(np.unique(ep.frames[0].reshape(-1, 3), axis=0)) > 10  # a picture, not one colour
    assert not np.array_equal(episodes[0].frames[0], episodes[1].frames[0])  # seeds differ, starts differ


def test_the_return_is_the_one_evaluate_scores(episodes):
    result = evaluate(Torque(1.0), PENDULUM, 1)
    assert episodes[0].ret == pytest.approx(result.returns[0], rel=1e-6)  # the vec env's rewards are float32


def test_the_same_seed_gives_the_same_frames():
    a, b = (record_episodes(Torque(-0.5), PENDULUM, seed=7, max_steps=15)[0] for _ in range(2))
    assert a.length == 15 and len(a.frames) == 16
    assert np.array_equal(a.frames, b.frames) and a.ret == b.ret
    c = record_episodes(Torque(-0.5), PENDULUM, seed=8, max_steps=15)[0]
    assert not np.array_equal(a.frames, c.frames)


def test_params_reach_the_rendered_env():
    light, heavy = (
        record_episodes(Torque(0.0), PENDULUM, params={"mass": m}, max_steps=1)[0].frames[0] for m in (1.0, 4.0)
    )
    # Same seed, same state: only the bob, drawn larger for a heavier rod, differs.
    assert (heavy != light).any(axis=2).sum() > 50
    with pytest.raises(EnvError, match="mass"):
        record_episodes(Torque(0.0), PENDULUM, params={"mass": 99.0}, max_steps=1)


class _Blank(gym.Env):
    """A throwaway env that steps but cannot draw."""

    metadata: ClassVar[dict] = {"render_modes": ["rgb_array"]}
    observation_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = spaces.Box(-1.0, 1.0, (1,), np.float32)

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(2, np.float32), {}

    def step(self, action):
        return np.zeros(2, np.float32), 0.0, False, False, {}

    def render(self):
        return None


class _Unrenderable(_Blank):
    metadata: ClassVar[dict] = {"render_modes": []}


class _NoContext(_Blank):
    """Fails to draw as MuJoCo does with no display and no MUJOCO_GL."""

    def render(self):
        raise RuntimeError("an OpenGL platform library has not been loaded")


@pytest.fixture
def no_frame_envs():
    ids = {
        "simrl_test/NoneFrames-v0": _Blank,
        "simrl_test/NoRender-v0": _Unrenderable,
        "simrl_test/NoContext-v0": _NoContext,
    }
    for env_id, cls in ids.items():
        gym.register(env_id, entry_point=cls, max_episode_steps=5, disable_env_checker=True)
    yield list(ids)
    for env_id in ids:
        gym.registry.pop(env_id)


def test_an_env_that_cannot_render_frames_is_an_env_error(no_frame_envs):
    for env_id in no_frame_envs[:2]:
        with pytest.raises(EnvError, match="cannot render rgb_array") as err:
            record_episodes(Torque(0.0), env_id)
        assert "\n" not in err.value.line()
    # A renderer's own failure (no graphics context) is one line with the fix, not a traceback.
    with pytest.raises(EnvError, match="could not render a frame here \\(RuntimeError: an OpenGL") as err:
        record_episodes(Torque(0.0), no_frame_envs[2])
    assert "MUJOCO_GL=egl" in err.value.line()
    with pytest.raises(EnvError, match="no simulator parameters"):
        record_episodes(Torque(0.0), no_frame_envs[0], params={"mass": 1.0})
    with pytest.raises(EnvError, match="unknown environment"):
        record_episodes(Torque(0.0), "simrl/NoSuchEnv-v0")


# -------------------------------------------------------------------------------------- annotating


def test_annotate_writes_on_the_top_left_of_a_copy(episodes):
    frame = episodes[0].frames[0]
    out = annotate(frame, ["checkpoint 50%", "return -153.2"])
    changed = (out != frame).any(axis=2)
    rows, cols = np.nonzero(changed)
    assert changed.sum() > 500
    assert rows.max() < 48 and cols.max() < 128  # a two-line box in the corner, nothing elsewhere
    box = out[: rows.max() + 1, : cols.max() + 1]
    assert (box == 255).all(axis=2).sum() > 50 and (box < 110).all(axis=2).mean() > 0.5  # white on dark
    assert np.array_equal(annotate(frame, []), frame)


def test_join_labels_every_frame_and_holds_the_last_of_each_group(episodes):
    groups = [("checkpoint 50%", episodes[:1]), ("checkpoint 100%", episodes)]
    frames = join(groups, hold=5)
    assert len(frames) == 201 + 5 + 2 * 201 + 5
    source = all_frames(episodes[:1]) + all_frames(episodes)
    shown = frames[:201] + frames[206:-5]
    for i in (0, 200, 201, 402, 602):
        changed = (shown[i] != source[i]).any(axis=2)
        assert changed[:20, :40].any() and not changed[64:].any()
    assert all(f is frames[200] for f in frames[201:206])
    assert not np.array_equal(frames[0][:40, :128], frames[206][:40, :128])  # another label


# ----------------------------------------------------------------------------------------- writing


def test_mp4_has_every_frame_at_the_env_rate(episodes, tmp_path):
    path = write_mp4(all_frames(episodes), tmp_path / "videos" / "pendulum.mp4", episodes[0].fps)
    meta, decoded = read_mp4(path)
    assert len(decoded) == 2 * 201
    assert meta["size"] == (256, 256) and meta["fps"] == 20
    error = np.abs(decoded[250].astype(float) - episodes[1].frames[49]).mean()
    assert error < 2.0  # the frames, in order, not merely as many


def test_mp4_of_odd_sized_frames_is_padded_to_even(tmp_path):
    frames = np.random.default_rng(0).integers(0, 256, (3, 33, 47, 3), dtype=np.uint8)
    meta, decoded = read_mp4(write_mp4(frames, tmp_path / "odd.mp4", 10))
    assert meta["size"] == (48, 34) and len(decoded) == 3


def test_a_failed_write_leaves_the_old_file(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"old")
    frames = [np.zeros((16, 16, 3), np.uint8)] * 3 + [np.zeros((8, 8, 3), np.uint8)]
    with pytest.raises(ValueError, match="one size"):
        write_mp4(frames, path, 10)
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]


def test_gif_is_small_subsampled_and_plays_at_the_real_speed(episodes, tmp_path):
    frames = join([("checkpoint 100%", episodes)], hold=0)
    path = write_gif(frames, tmp_path / "pendulum.gif", 30, width=160, max_frames=100)
    assert path.stat().st_size < 400_000
    with Image.open(path) as gif:
        assert gif.size == (160, 160) and gif.info["loop"] == 0
        assert 50 <= gif.n_frames <= 100
        delays = []
        for i in range(gif.n_frames):
            gif.seek(i)
            delays.append(gif.info["duration"])
    step = 5  # ceil(402 / 100)
    assert abs(sum(delays) - 402 / 30 * 1000) <= step / 30 * 1000
    assert min(delays) >= 20
