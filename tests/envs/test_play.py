"""``simrl play``: keys become actions, Backspace/Space/Escape work, the window draws, the CLI runs (headless)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pygame
import pytest

from simrl.cli import main
from simrl.envs.play import keys_help, play
from simrl.errors import EnvError

FAST = {"fps": 1000}


class Toy(gym.Env):
    """Three action dimensions with different bounds; the reward is the action's sum."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 50}  # noqa: RUF012

    def __init__(self, render_mode=None, low=(-1.0, 1.0, -5.0), high=(1.0, 3.0, -2.0)):
        self.render_mode = render_mode
        self.action_space = gym.spaces.Box(np.array(low, np.float32), np.array(high, np.float32))
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), float(np.sum(action)), False, False, {}

    def render(self):
        return np.full((32, 48, 3), 90, np.uint8)


class ToyWithKeys(Toy):
    KEYS = (("up", "down"), ("x", "z"), ("m", "n"))


for _id, _cls in (("simrl-test/Toy-v0", Toy), ("simrl-test/ToyWithKeys-v0", ToyWithKeys)):
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls, max_episode_steps=3)


def keys_at(schedule: dict[int, list[tuple[int, int]]]):
    """A before_frame hook posting (event type, key) pairs at the given frames."""

    def hook(frame: int) -> None:
        for kind, key in schedule.get(frame, []):
            pygame.event.post(pygame.event.Event(kind, key=key))

    return hook


DOWN, UP = pygame.KEYDOWN, pygame.KEYUP


def test_held_keys_drive_the_pendulum():
    hook = keys_at({2: [(DOWN, pygame.K_q)], 5: [(UP, pygame.K_q)], 6: [(DOWN, pygame.K_RIGHT)]})
    r = play("simrl/Pendulum-v0", max_frames=10, before_frame=hook, log=lambda _: None, **FAST)
    assert r.frames == 10
    assert r.actions.shape == (10, 1)
    np.testing.assert_array_equal(r.actions[:, 0], [0, 0, 2, 2, 2, 0, 2, 2, 2, 2])
    assert r.episodes == 1 and r.returns == []


def test_both_keys_cancel_and_minus_goes_to_low():
    hook = keys_at({1: [(DOWN, pygame.K_a)], 3: [(DOWN, pygame.K_RIGHT)], 4: [(UP, pygame.K_a)]})
    r = play("simrl/Pendulum-v0", max_frames=5, before_frame=hook, log=lambda _: None, **FAST)
    np.testing.assert_array_equal(r.actions[:, 0], [0, -2, -2, 0, 2])


def test_default_keys_of_a_three_dimensional_box():
    # Dim 0: q and a together cancel (0); dim 1: w -> high 3, neutral is the middle 2 (0 is outside [1, 3]);
    # dim 2: d -> low -5, neutral -3.5. The arrows drive nothing when there is more than one dimension.
    presses = [(DOWN, pygame.K_q), (DOWN, pygame.K_a), (DOWN, pygame.K_w), (DOWN, pygame.K_d), (DOWN, pygame.K_RIGHT)]
    r = play("simrl-test/Toy-v0", max_frames=2, before_frame=keys_at({1: presses}), log=lambda _: None, **FAST)
    np.testing.assert_array_equal(r.actions, [[0, 2, -3.5], [0, 3, -5]])


def test_keys_declared_by_the_env():
    env = gym.make("simrl-test/ToyWithKeys-v0", render_mode="rgb_array")
    assert keys_help(env)[:3] == ["up/down: action 0 to 1 / -1", "x/z: action 1 to 3 / 1", "m/n: action 2 to -2 / -5"]
    env.close()
    hook = keys_at({1: [(DOWN, pygame.K_UP), (DOWN, pygame.K_n), (DOWN, pygame.K_q)]})
    r = play("simrl-test/ToyWithKeys-v0", max_frames=2, before_frame=hook, log=lambda _: None, **FAST)
    np.testing.assert_array_equal(r.actions[1], [1, 2, -5])  # q is not a key of this env


def test_episode_end_is_logged_and_the_next_starts():
    lines: list[str] = []
    hook = keys_at({0: [(DOWN, pygame.K_w)]})
    r = play("simrl-test/Toy-v0", max_frames=7, before_frame=hook, log=lines.append, **FAST)
    # Three steps per episode (the time limit), each with reward 0 + 3 - 3.5.
    assert r.returns == pytest.approx([-1.5, -1.5])
    assert r.episodes == 3
    ended = [line for line in lines if "return" in line and "truncated" in line]
    assert len(ended) == 2 and "-1.5" in ended[0]


def test_backspace_resets_the_episode():
    lines: list[str] = []
    hook = keys_at({3: [(DOWN, pygame.K_BACKSPACE)]})
    r = play("simrl/Pendulum-v0", max_frames=8, before_frame=hook, log=lines.append, **FAST)
    assert r.frames == 8 and len(r.actions) == 8
    assert r.episodes == 2 and r.returns == []
    assert any("reset by hand after 3 steps" in line for line in lines)


def test_space_pauses_and_resumes():
    hook = keys_at({2: [(DOWN, pygame.K_SPACE)], 5: [(DOWN, pygame.K_SPACE)]})
    r = play("simrl/Pendulum-v0", max_frames=8, before_frame=hook, log=lambda _: None, **FAST)
    assert r.frames == 8
    assert len(r.actions) == 5  # no step in frames 2, 3, 4


@pytest.mark.parametrize(
    "event", [pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE), pygame.event.Event(pygame.QUIT)]
)
def test_escape_or_closing_the_window_quits(event):
    r = play(
        "simrl/Pendulum-v0",
        max_frames=50,
        before_frame=lambda i: i == 4 and pygame.event.post(event),
        log=lambda _: None,
        **FAST,
    )
    assert r.frames == 4 and len(r.actions) == 4
    assert not pygame.display.get_init()


def test_overlay_draws_at_scale_2():
    shots = []

    def hook(frame: int) -> None:
        if frame == 3:
            shots.append(pygame.surfarray.array3d(pygame.display.get_surface()))

    r = play("simrl/Pendulum-v0", scale=2.0, max_frames=4, before_frame=hook, log=lambda _: None, **FAST)
    assert r.frames == 4
    (shot,) = shots  # (width, height, 3)
    assert shot.shape[0] >= 512 and shot.shape[1] > 512 + 60  # the 256 px frame doubled, the panel below
    panel = shot[:, 512:]
    bright = (panel.min(axis=2) > 200).mean()
    assert 0.01 < bright < 0.5, "the panel should hold light text on a dark ground"


def test_keys_help_lists_the_mapping():
    env = gym.make("simrl/Pendulum-v0", render_mode="rgb_array")
    lines = keys_help(env)
    env.close()
    assert lines[0] == "q/a or right/left: action 0 to 2 / -2"
    assert "backspace" in lines[-1] and "space" in lines[-1] and "escape" in lines[-1]


@pytest.mark.parametrize(
    ("env_id", "kwargs", "what"),
    [
        ("CartPole-v1", {}, "Discrete action space"),
        ("simrl-test/Toy-v0", {"env_kwargs": {"low": [-1] * 9, "high": [1] * 9}}, "9 action dimensions"),
        ("simrl/Pendulum-v0", {"env_kwargs": {"reward": "alive"}}, "unknown env kwarg 'reward'"),
        ("simrl/Pendulum-v0", {"params": {"mass": 100}}, "outside its bounds"),
        ("NoSuchEnv-v0", {}, "unknown environment"),
    ],
)
def test_what_cannot_be_played_is_an_env_error(env_id, kwargs, what):
    with pytest.raises(EnvError, match=what):
        play(env_id, max_frames=1, log=lambda _: None, **kwargs, **FAST)
    assert not pygame.display.get_init()


def run_cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_plays_and_prints_the_keys(capsys):
    code, out, err = run_cli(capsys, "play", "simrl/Pendulum-v0", "--frames", "5", "--fps", "1000", "--scale", "1.5")
    assert code == 0, err
    assert "q/a or right/left: action 0 to 2 / -2" in out
    assert "no episode ended" in out


def test_cli_takes_env_params(capsys):
    args = ("play", "simrl/Pendulum-v0", "--frames", "3", "--fps", "1000", "--env-param", "mass=1.5")
    code, _, err = run_cli(capsys, *args)
    assert code == 0, err


@pytest.mark.parametrize(
    "args",
    [
        ["NoSuchEnv-v0"],
        ["CartPole-v1"],
        ["simrl/Pendulum-v0", "--env-param", "mass=100"],
        ["simrl/Pendulum-v0", "--env-kwarg", "reward=alive"],
        ["simrl/Pendulum-v0", "--fps", "0"],
    ],
)
def test_cli_mistakes_are_one_line(capsys, args):
    code, _, err = run_cli(capsys, "play", *args, "--frames", "1")
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simrl: error: "), err
    assert "Traceback" not in err


def test_the_cart_is_pushed_by_the_arrow_keys():
    """The planar cart-pole declares right/left: holding right pushes the cart right."""
    hook = keys_at({0: [(DOWN, pygame.K_RIGHT)], 6: [(UP, pygame.K_RIGHT)]})
    r = play("simrl/CartPole-v0", max_frames=8, before_frame=hook, log=lambda _: None, **FAST)
    np.testing.assert_array_equal(r.actions[:, 0], [1, 1, 1, 1, 1, 1, 0, 0])


@pytest.mark.parametrize("env_id", ["simrl/BipedStand-v0", "simrl/BallBalance-v0"])
def test_the_bipeds_play_with_the_default_keys(env_id):
    hook = keys_at({0: [(DOWN, pygame.K_q), (DOWN, pygame.K_f)]})
    r = play(env_id, max_frames=3, before_frame=hook, log=lambda _: None, env_kwargs={"reward": "alive"}, **FAST)
    assert r.actions.shape[1] == gym.make(env_id).action_space.shape[0]
    np.testing.assert_array_equal(r.actions[:, :4], [[1, 0, 0, -1]] * 3)  # left hip +, right knee -
