"""imagined_returns: the planners' score of action sequences, on a model whose answers are known by hand."""

from __future__ import annotations

import torch

from simrl.envs.fns import TaskFns, never
from simrl.mbrl.planning.mpc import imagined_returns


class ShiftModel:
    """next_obs = obs + action + offset[member] (+ noise when sampling); member k's offset is k / 10."""

    def __init__(self, members: int = 3, learn_reward: bool = False) -> None:
        self.elites = list(range(members))
        self.offsets = torch.arange(members, dtype=torch.float32) / 10
        self.learn_reward = learn_reward
        self.calls: list[tuple[tuple[int, ...], list[int]]] = []

    def step(self, obs, actions, members, *, sample, generator):
        self.calls.append((tuple(obs.shape), members.tolist()))
        nxt = obs + actions + self.offsets[members][:, None, None]
        if sample:
            nxt = nxt + 0.0 * torch.randn(nxt.shape, generator=generator)  # draws, changes nothing
        return nxt, (nxt[..., 0] * 2 if self.learn_reward else None)


def position(obs, action, next_obs):
    return next_obs[..., 0]


def passed_one(obs, action, next_obs):
    return next_obs[..., 0] > 1.0


def test_mean_propagation_averages_the_members_and_sums_rewards():
    model = ShiftModel(members=3)  # mean offset 0.1
    obs = torch.zeros(1, 1)
    actions = torch.tensor([0.0, 0.5]).reshape(1, 2, 1, 1).expand(1, 2, 3, 1).contiguous()  # [B=1, C=2, H=3, A=1]
    r = imagined_returns(model, TaskFns(position, never, True), obs, actions, particles=1, propagation="mean",
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    # candidate 0: positions 0.1, 0.2, 0.3 -> 0.6; candidate 1: 0.6, 1.2, 1.8 -> 3.6
    torch.testing.assert_close(r, torch.tensor([[0.6, 3.6]]))
    assert model.calls == [((3, 2, 1), [0, 1, 2])] * 3  # every member on every candidate, one call per step


def test_trajectory_sampling_keeps_each_particle_on_one_member():
    model = ShiftModel(members=2)
    obs = torch.zeros(2, 1)  # two envs
    actions = torch.zeros(2, 4, 2, 1)
    r = imagined_returns(model, TaskFns(position, never, True), obs, actions, particles=5, propagation="ts",
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    assert r.shape == (2, 4)
    # particles on members 0,1,0,1,0 -> offsets 0, .1, 0, .1, 0: each particle's return is offset * (1 + 2)
    torch.testing.assert_close(r, torch.full((2, 4), 3 * 0.2 / 5))
    assert model.calls == [((5, 8, 1), [0, 1, 0, 1, 0])] * 2


def test_no_reward_after_a_predicted_termination():
    model = ShiftModel(members=1)
    obs = torch.zeros(1, 1)
    actions = torch.full((1, 1, 4, 1), 0.6)  # positions 0.6, 1.2 (terminates), 1.8, 2.4
    r = imagined_returns(model, TaskFns(position, passed_one, True), obs, actions, particles=1, propagation="mean",
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    torch.testing.assert_close(r, torch.tensor([[0.6 + 1.2]]))  # the terminating step earns, the later ones do not


def test_learned_reward_and_diverged_rollouts():
    model = ShiftModel(members=2, learn_reward=True)
    obs = torch.zeros(1, 1)
    actions = torch.tensor([0.0, float("nan")]).reshape(1, 2, 1, 1)
    r = imagined_returns(model, None, obs, actions, particles=1, propagation="mean",
                         generator=torch.Generator().manual_seed(0))  # fmt: skip
    # candidate 0: the members' learned rewards 0 and 0.2, averaged; candidate 1 diverged: -inf
    torch.testing.assert_close(r, torch.tensor([[0.1, -torch.inf]]))


def test_the_uncertainty_penalty_costs_the_spread_of_the_predictions():
    obs = torch.zeros(1, 1)
    actions = torch.tensor([0.0, 0.5]).reshape(1, 2, 1, 1).expand(1, 2, 3, 1).contiguous()
    fns = TaskFns(position, never, True)

    def score(members: int, penalty: float, propagation: str = "mean") -> torch.Tensor:
        return imagined_returns(ShiftModel(members=members), fns, obs, actions, particles=1, propagation=propagation,
                                generator=torch.Generator().manual_seed(0), uncertainty_penalty=penalty)  # fmt: skip

    # members' offsets 0, .1, .2 from one state: their std is sqrt(2/3) * 0.1 at each of the 3 steps
    spread = 3 * (2 / 3) ** 0.5 * 0.1
    torch.testing.assert_close(score(3, 2.0), torch.tensor([[0.6, 3.6]]) - 2.0 * spread)
    torch.testing.assert_close(score(3, 0.0), torch.tensor([[0.6, 3.6]]))
    torch.testing.assert_close(score(1, 5.0), score(1, 0.0))  # one member: nothing to disagree
