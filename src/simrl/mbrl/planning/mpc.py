"""Model-predictive control: plan through the learned model, act with the plan's first action, replan.

:func:`imagined_returns` scores a batch of action sequences by rolling the dynamics model forward
(every candidate of every env, times particles, in one tensor per step); :class:`MPCAgent` is a
:class:`~simrl.types.Policy` that runs a trajectory optimiser over that score at every step. Its plan
carries over from step to step (warm start, shifted by the optimiser) in the ``state`` the rollout
collector hands back, and is dropped for the envs whose episode starts; so ``simrl eval``, ``record``
and the robustness grid drive it as they drive any policy.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from simrl.envs.fns import TaskFns
from simrl.mbrl.models.dynamics import DynamicsModel


def imagined_returns(
    model: DynamicsModel,
    fns: TaskFns | None,
    obs: torch.Tensor,
    actions: torch.Tensor,
    *,
    particles: int,
    propagation: str,
    generator: torch.Generator,
    uncertainty_penalty: float = 0.0,
) -> torch.Tensor:
    """The mean predicted return of each action sequence.

    Args:
        model: the fitted dynamics model; its reward head, when it learns the reward, scores the steps.
        fns: the task's batched reward and termination functions (the reward unless the model learns
            it); None: the model's reward and no terminations.
        obs: ``[B, obs_dim]`` the current observation of each of B envs.
        actions: ``[B, C, H, act_dim]`` C candidate sequences of H actions per env.
        particles: with ``propagation="ts"``, rollouts per candidate; particle p keeps to elite member
            ``p mod elites`` for the whole horizon and samples its noise (PETS' TS-inf).
        propagation: ``"ts"`` or ``"mean"`` (every elite member's mean prediction, averaged: one rollout).
        uncertainty_penalty: lambda of a pessimistic score: every step costs lambda times the spread of the
            next states predicted for the candidate (the Euclidean norm of their standard deviation over the
            members, or over the particles with ``"ts"``), so plans avoid what the model does not know (MOPO's
            penalty, Yu et al. 2020, used as a planning cost). 0: the plain mean return.

    Returns:
        ``[B, C]`` returns summed over the horizon, averaged over particles, less the penalty; an action taken
        after a predicted termination earns nothing. Non-finite returns (a diverged model) become -inf.
    """
    b, c, h, _ = actions.shape
    m = b * c
    elites = torch.as_tensor(model.elites, dtype=torch.long)
    ts = propagation == "ts"
    members = elites[torch.arange(particles) % len(elites)] if ts else elites
    k = len(members)
    g = k if ts else 1  # rollouts kept per candidate: a particle each, or the one mean rollout
    state = obs[:, None, :].expand(b, c, obs.shape[-1]).reshape(1, m, -1).expand(g, m, -1)
    by_step = actions.permute(2, 0, 1, 3).reshape(h, 1, m, -1)  # one copy: each step's actions contiguous
    states, learned_rewards = [state], []
    spread = torch.zeros(m)
    for t in range(h):
        act = by_step[t].expand(k, m, -1)
        nxt, learned = model.step(state.expand(k, m, -1), act, members, sample=ts, generator=generator)
        if uncertainty_penalty and k > 1:
            spread = spread + nxt.std(0, correction=0).norm(dim=-1)
        if not ts:  # every elite's mean prediction, averaged: the reward is then scored once, not per member
            nxt = nxt.mean(0, keepdim=True)
            learned = learned.mean(0, keepdim=True) if learned is not None else None
        states.append(nxt)
        learned_rewards.append(learned)
        state = nxt
    # Rewards and terminations for the whole horizon at once, [H, g, m]: the functions' few small ops per
    # step cost as much as the small models' products (bench/mbrl.py part b), once per plan they do not.
    path = torch.stack(states)
    acts = by_step.expand(h, g, m, -1)
    learned = learned_rewards[0] is not None
    rewards = torch.stack(learned_rewards) if learned else fns.reward(path[:-1], acts, path[1:])  # type: ignore[union-attr]
    if fns is not None and fns.terminates:  # an action after a predicted termination earns nothing
        ended = fns.terminated(path[:-1], acts, path[1:])
        before = ended.cumsum(0)  # terminations up to and including each step
        alive = torch.cat((torch.ones_like(ended[:1]), before[:-1] == 0))
        rewards = torch.where(alive, rewards, 0.0)
    total = rewards.sum(0)
    returns = (total.mean(0) - uncertainty_penalty * spread).reshape(b, c)
    return torch.where(torch.isfinite(returns), returns, -torch.inf)


class MPCAgent:
    """Acts by planning through ``model`` with ``optimizer`` at every step (a ``Policy``).

    Args:
        model: the dynamics model (read only: acting never changes it).
        fns: the task's reward and termination functions (None: the model's learned reward, no terminations).
        optimizer: a trajectory optimiser (``simrl.mbrl.planning.optimizers``).
        horizon, particles, propagation, uncertainty_penalty: as in :class:`simrl.mbrl.settings.MPCSettings`.
        low, high: the action bounds.
        generator: the planner's noise; the agent owns it, so a run's collection and its evaluations
            draw from different ones.
    """

    def __init__(
        self,
        model: DynamicsModel,
        fns: TaskFns | None,
        optimizer: Any,
        *,
        horizon: int,
        particles: int,
        propagation: str,
        low: np.ndarray,
        high: np.ndarray,
        generator: torch.Generator,
        uncertainty_penalty: float = 0.0,
    ) -> None:
        self.model, self.fns, self.optimizer = model, fns, optimizer
        self.horizon, self.particles, self.propagation = horizon, particles, propagation
        self.uncertainty_penalty = float(uncertainty_penalty)
        self.low = torch.as_tensor(np.asarray(low, np.float32))
        self.high = torch.as_tensor(np.asarray(high, np.float32))
        self.generator = generator

    def predict(
        self,
        observation: np.ndarray,
        state: Any = None,
        episode_start: np.ndarray | None = None,
        deterministic: bool = False,
    ) -> tuple[np.ndarray, Any]:
        """The first action of each env's plan, and the plans' state for the next step.

        ``deterministic`` changes nothing: a plan is a search with sampled candidates, reproducible
        through the agent's generator.
        """
        obs = torch.as_tensor(np.asarray(observation, np.float32))
        obs = obs.reshape(len(obs), -1)
        batch = len(obs)
        if state is None or state.mean.shape[0] != batch:
            state = self.optimizer.initial(batch, self.horizon, self.low, self.high)
        elif episode_start is not None and np.any(episode_start):
            state = self.optimizer.reset(state, torch.as_tensor(np.asarray(episode_start, bool)))

        def objective(actions: torch.Tensor) -> torch.Tensor:
            return imagined_returns(
                self.model,
                self.fns,
                obs,
                actions,
                particles=self.particles,
                propagation=self.propagation,
                generator=self.generator,
                uncertainty_penalty=self.uncertainty_penalty,
            )

        with torch.no_grad():
            plan, state = self.optimizer.plan(objective, state, self.low, self.high, generator=self.generator)
        return plan[:, 0].numpy().astype(np.float32), state


class RandomActions:
    """Uniform random actions from a numpy generator (a ``Policy``): the data before the first model fit."""

    def __init__(self, low: np.ndarray, high: np.ndarray, rng: np.random.Generator) -> None:
        self.low, self.high, self.rng = np.asarray(low, np.float32), np.asarray(high, np.float32), rng

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        n = len(observation)
        return self.rng.uniform(self.low, self.high, size=(n, len(self.low))).astype(np.float32), None
