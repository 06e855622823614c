"""Seeded SAC's pieces with known answers: returns-to-go, LayerNorm critics that keep SAC's weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from simrl.imitation.seeded import add_layer_norm, returns_to_go


def test_returns_to_go_by_hand():
    rewards = np.array([1.0, 2.0, 3.0, -1.0, 4.0])
    lengths = np.array([3, 2])
    truncated = np.array([False, False, False, False, True])  # a terminated episode, then a truncated one
    g = returns_to_go(rewards, lengths, truncated, gamma=0.5)
    # terminated: nothing after its last row; truncated: its last reward forever, 4 / (1 - 0.5) = 8
    np.testing.assert_allclose(g, [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, -1 + 0.5 * 8, 8])


def test_returns_to_go_of_an_endless_constant_reward_is_its_value():
    g = returns_to_go(np.full(50, 2.0), np.array([50]), np.array([False] * 49 + [True]), gamma=0.9)
    np.testing.assert_allclose(g, 20.0)  # 2 / (1 - 0.9) from every row


def test_layer_norm_critics_keep_sacs_weights_and_normalize_each_hidden_layer():
    from stable_baselines3 import SAC

    from simrl.envs.vec import make_vec_env

    env = make_vec_env("simrl/Pendulum-v0", 1, seed=0)
    model = SAC("MlpPolicy", env, policy_kwargs={"net_arch": [8, 8]}, seed=0, device="cpu")
    critic = model.policy.critic
    before = {k: v.clone() for k, v in critic.state_dict().items()}
    obs, act = torch.randn(5, 3), torch.rand(5, 1) * 2 - 1
    add_layer_norm(critic)
    assert critic.state_dict().keys() == before.keys()  # no new parameters: a plain SAC zip holds them
    q_net = critic.q_networks[0]
    x = torch.cat([obs, act], dim=1)
    for layer in (q_net[0], q_net[2]):
        x = torch.relu(torch.nn.functional.layer_norm(layer(x), (layer.out_features,)))
    expected = q_net[4](x)
    torch.testing.assert_close(critic(obs, act)[0], expected)
    env.close()


@pytest.mark.parametrize("weight_at", [(0, 0.4), (5000, 0.2), (10000, 0.1)])
def test_the_pull_towards_the_imitator_halves_every_half_life(weight_at):
    from simrl.imitation.seeded import SeededSACSettings

    step, weight = weight_at
    assert SeededSACSettings(recalibrate=0.4, recalibrate_half_life=5000).recalibration_weight(step) == pytest.approx(
        weight
    )
