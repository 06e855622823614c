"""simrl.envs.fns: the batched reward and termination functions agree with the envs make_env builds."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

import simrl.envs  # noqa: F401  registers the ids and picks the GL back end
from simrl.envs.fns import has_task_fns, task_fns
from simrl.envs.vec import make_env
from simrl.errors import EnvError

SHORT = {"max_episode_steps": 60}  # MuJoCo episodes kept cheap, as elsewhere in the tests


def toward_goal(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The obstacle course: straight at the goal plus noise, so that some episodes reach it."""
    return np.clip(10 * (obs[2:] - obs[:2]), -1, 1) + rng.uniform(-1.5, 1.5, 2)


def collect(
    env_id: str,
    kwargs: dict | None = None,
    params: dict | None = None,
    steps: int = 400,
    policy: Callable[[np.ndarray, np.random.Generator], np.ndarray] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]:
    """``steps`` transitions across episode ends, actions uniform over 1.5 times the action box (clipping)."""
    env = make_env(env_id, params, kwargs)
    rng = np.random.default_rng(0)
    low, high = env.action_space.low, env.action_space.high
    rows: list[tuple] = []
    obs, _ = env.reset(seed=0)
    for _ in range(steps):
        a = rng.uniform(1.5 * low, 1.5 * high) if policy is None else policy(obs, rng)
        a = a.astype(np.float32)
        nxt, r, term, trunc, _ = env.step(a)
        rows.append((obs, a, nxt, r, term))
        obs = env.reset()[0] if term or trunc else nxt
    env.close()
    o, a, n, r, t = (np.array(col) for col in zip(*rows, strict=True))
    return torch.as_tensor(o), torch.as_tensor(a), torch.as_tensor(n), r, t


NO_X = {**SHORT, "exclude_current_positions_from_observation": False}  # HalfCheetah observes x: exact
EXACT = [
    pytest.param("simrl/Pendulum-v0", None, None, None, id="pendulum"),
    pytest.param("simrl/CartPole-v0", None, None, None, id="cartpole-shaped"),
    pytest.param("simrl/CartPole-v0", {"reward": "alive"}, None, None, id="cartpole-alive"),
    pytest.param("simrl/CartPole-v0", {"reward": "shaped"}, {"motor_strength": 30.0}, None, id="cartpole-params"),
    pytest.param("simrl/Obstacles-v0", None, None, toward_goal, id="obstacles"),
    pytest.param(
        "simrl/Obstacles-v0",
        {"random_starts": False},
        {"goal_radius": 0.3, "step_size": 0.15},
        toward_goal,
        id="obstacles-params",
    ),
    pytest.param("HalfCheetah-v5", NO_X, None, None, id="cheetah-x-observed"),
    pytest.param(
        "HalfCheetah-v5", {**NO_X, "forward_reward_weight": 2.0}, {"mass_scale": 1.5}, None, id="cheetah-forward-weight"
    ),
    pytest.param("HalfCheetah-v5", {**NO_X, "ctrl_cost_weight": 0.5}, None, None, id="cheetah-ctrl-weight"),
    pytest.param("Reacher-v5", SHORT, None, None, id="reacher"),
    pytest.param(
        "Reacher-v5",
        {**SHORT, "reward_dist_weight": 2.0, "reward_control_weight": 0.1},
        {"gear_scale": 1.4},
        None,
        id="reacher-weights",
    ),
]


@pytest.mark.parametrize(("env_id", "kwargs", "params", "policy"), EXACT)
def test_exact_functions_equal_the_env(env_id, kwargs, params, policy):
    o, a, n, rewards, terminated = collect(env_id, kwargs, params, policy=policy)
    fns = task_fns(env_id, kwargs, params)
    assert fns is not None and fns.exact
    r, t = fns.reward(o, a, n), fns.terminated(o, a, n)
    assert r.dtype == torch.float32 and r.shape == (len(rewards),)
    assert t.dtype == torch.bool and t.shape == (len(rewards),)
    np.testing.assert_allclose(r.numpy(), rewards, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(t.numpy(), terminated)
    if env_id in ("simrl/CartPole-v0", "simrl/Obstacles-v0"):
        assert terminated.sum() >= 3  # the termination was exercised, not only its absence
    if env_id in ("simrl/Pendulum-v0", "simrl/CartPole-v0"):
        assert np.abs(a.numpy()).max() > 1.2 * np.abs(make_env(env_id).action_space.high).max()  # clipping met


def test_half_cheetah_default_is_an_approximation_within_its_measured_error():
    """x is not observed by default: the velocity is the mean of the root's before and after (fns' docstring)."""
    o, a, n, rewards, terminated = collect("HalfCheetah-v5", SHORT, steps=600)
    fns = task_fns("HalfCheetah-v5", SHORT)
    assert fns is not None and not fns.exact
    r = fns.reward(o, a, n).numpy()
    error = np.abs(r - rewards)
    assert error.mean() < 0.25 and np.corrcoef(r, rewards)[0, 1] > 0.93, (error.mean(), np.corrcoef(r, rewards))
    assert error.mean() > 1e-3  # an approximation indeed: exact=False is honest
    assert not fns.terminated(o, a, n).any() and not terminated.any()


def test_leading_batch_dimensions_broadcast():
    for env_id, kwargs in (("simrl/CartPole-v0", None), ("simrl/Obstacles-v0", None), ("Reacher-v5", SHORT)):
        o, a, n, _, _ = collect(env_id, kwargs, steps=6)
        fns = task_fns(env_id, kwargs)
        flat_r, flat_t = fns.reward(o, a, n), fns.terminated(o, a, n)
        shaped = [x.reshape(2, 3, -1) for x in (o, a, n)]
        assert fns.reward(*shaped).shape == (2, 3) and fns.terminated(*shaped).shape == (2, 3)
        torch.testing.assert_close(fns.reward(*shaped).reshape(-1), flat_r)
        assert torch.equal(fns.terminated(*shaped).reshape(-1), flat_t)
    pendulum = task_fns("simrl/Pendulum-v0")
    obs = torch.tensor([1.0, 0.0, 0.0]).expand(4, 5, 3)
    assert torch.equal(pendulum.reward(obs, torch.zeros(4, 5, 1), obs), torch.zeros(4, 5))


class WallsIgnored:
    """A learned model's error at the walls, made whole: every move happens, through walls and obstacles."""

    elites = (0,)

    def step(self, obs, actions, members, *, sample, generator):
        return torch.cat((obs[..., :2] + 0.1 * actions, obs[..., 2:]), dim=-1), None


def test_a_predicted_exit_from_the_obstacle_course_does_not_end_a_plan():
    """No move leaves the square, so the planner's termination is the goal alone: with the exit as an end, a
    model that lets moves through the wall made "up, out of the square" the best plan (its costs stop)."""
    from simrl.mbrl.planning.mpc import imagined_returns

    fns = task_fns("simrl/Obstacles-v0")
    start = torch.tensor([[-0.45, 0.95, 0.7, -0.8]])
    out = torch.tensor([[-0.45, 1.05, 0.7, -0.8]])
    at_goal = torch.tensor([[0.65, -0.78, 0.7, -0.8]])
    assert not fns.terminated(start, torch.zeros(1, 2), out).any()
    assert fns.terminated(start, torch.zeros(1, 2), at_goal).all()
    up = torch.tensor([0.0, 1.0]).expand(10, 2)
    toward_goal = torch.tensor([0.6, -0.8]).expand(10, 2)
    actions = torch.stack((up, toward_goal))[None]  # [1 env, 2 candidates, 10 steps, 2]
    returns = imagined_returns(WallsIgnored(), fns, start, actions, particles=1, propagation="mean",
                               generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert returns[0, 1] > returns[0, 0] + 5, returns  # about -15 against -25: the plan toward the goal wins


def test_envs_without_functions_and_kwargs_they_cannot_follow():
    assert task_fns("Hopper-v5") is None and not has_task_fns("Hopper-v5")
    assert task_fns("simrl/BipedStand-v0") is None
    assert has_task_fns("simrl/CartPole-v0", {"reward": "alive"}) and has_task_fns("HalfCheetah-v5", SHORT)
    with pytest.raises(EnvError, match="unknown reward 'nice'"):
        task_fns("simrl/CartPole-v0", {"reward": "nice"})
    with pytest.raises(EnvError, match="xml_file"):
        task_fns("HalfCheetah-v5", {"xml_file": "other.xml"})
    assert not has_task_fns("Reacher-v5", {"xml_file": "other.xml"})
    with pytest.raises(EnvError, match="unknown parameter 'radius'"):
        task_fns("simrl/Obstacles-v0", env_params={"radius": 0.2})
    with pytest.raises(EnvError, match="outside its bounds"):
        task_fns("simrl/Obstacles-v0", env_params={"goal_radius": 5.0})
