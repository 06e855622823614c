"""Summary statistics: a trajectory set -> one feature vector per parameter draw.

``bayessim`` is the statistic of BayesSim (Ramos, Possas and Fox, RSS 2019): for the state
differences ``ds_t = s_{t+1} - s_t`` (the observation vector as the env returns it) and the actions
``a_t`` of one trajectory,

* the normalised dot products ``<ds_i, a_j> / T`` of every state dimension ``i`` with every action
  dimension ``j`` (their cross-correlation at lag 0, not mean-centred), row-major over (i, j);
* the mean of each ``ds_i`` over time;
* the standard deviation of each ``ds_i`` over time;

averaged over the K trajectories of a draw. That is ``obs_dim * act_dim + 2 * obs_dim`` numbers, 9
for the pendulum. The paper writes the statistic over state differences; the authors' released
pendulum code applied it to the states themselves (``states=True`` here). Differences carry the
dynamics directly: for the pendulum ``<d(thetadot), a> / T ~ 3 dt E[a^2] / (m l^2)`` is the torque
gain, and the spread of ``d(thetadot)`` the gravity gain ``3 g / (2 l)``.

``bayessim-sa`` appends the cross-correlations ``<s_i, a_j> / T`` of the state each action was
applied in with the action (the issue's "cross-correlations between state and action dimensions"
taken literally, 12 numbers for the pendulum). With open-loop random actions the torque term's
estimate ``<d(thetadot), a> / T`` carries noise ``dt (3 g / 2 l) <sin(theta), a> / T`` from
gravity; given ``<sin(theta), a> / T`` the network can take it out. On the pendulum it halves the
posterior's width in mass at the same simulation budget (see ``tests/inference``).

``downsampled`` is the alternative: the observations every ``every`` steps, averaged over K.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import numpy as np

from simrl.errors import ConfigError
from simrl.inference.simulate import Trajectories

_CHUNK = 1024  # draws per float64 temporary
RAW_EVERY = 10  # the "raw" summary keeps every 10th observation (21 frames of 200 steps)


def bayessim(traj: Trajectories, *, states: bool = False, state_action: bool = False) -> np.ndarray:
    """BayesSim's summary statistics, (N, obs_dim * act_dim + 2 * obs_dim) float64.

    Args:
        traj: N draws x K trajectories.
        states: use the states ``s_{t+1}`` (as the released BayesSim code does) instead of the
            differences ``s_{t+1} - s_t`` (as the paper does).
        state_action: append ``<s_i, a_j> / T`` for the state ``s_t`` each action was applied in
            (``obs_dim * act_dim`` more numbers, at the end).
    """
    n = traj.num_draws
    out = None
    for lo in range(0, n, _CHUNK):  # bounded float64 temporaries
        feats = _bayessim_chunk(traj.obs[lo : lo + _CHUNK], traj.actions[lo : lo + _CHUNK], states, state_action)
        if out is None:
            out = np.empty((n, feats.shape[1]))
        out[lo : lo + len(feats)] = feats
    return out


def _bayessim_chunk(obs: np.ndarray, act: np.ndarray, states: bool, state_action: bool) -> np.ndarray:
    obs = obs.reshape(*obs.shape[:3], -1).astype(np.float64)
    act = act.reshape(*act.shape[:3], -1).astype(np.float64)
    ds = obs[:, :, 1:] if states else obs[:, :, 1:] - obs[:, :, :-1]  # (N, K, T, S)
    steps = ds.shape[2]
    cross = np.matmul(ds.transpose(0, 1, 3, 2), act) / steps  # (N, K, S, A)
    mean = ds.mean(axis=2)
    std = np.sqrt(np.maximum((ds * ds).mean(axis=2) - mean * mean, 0.0))
    parts = [cross.reshape(*cross.shape[:2], -1), mean, std]
    if state_action:
        sa = np.matmul(obs[:, :, :-1].transpose(0, 1, 3, 2), act) / steps  # (N, K, S, A)
        parts.append(sa.reshape(*sa.shape[:2], -1))
    return np.concatenate(parts, axis=-1).mean(axis=1)


def downsampled(traj: Trajectories, every: int = RAW_EVERY) -> np.ndarray:
    """The observations at steps 0, every, 2 every, ..., averaged over K, flattened: (N, frames * obs_dim)."""
    if every < 1:
        raise ConfigError(f"the down-sampling interval must be at least 1, got {every}")
    obs = traj.obs[:, :, ::every].astype(np.float64)
    return obs.mean(axis=1).reshape(len(obs), -1)


Summary = Callable[[Trajectories], np.ndarray]
SUMMARIES: dict[str, Summary] = {
    "bayessim": bayessim,
    "bayessim-sa": partial(bayessim, state_action=True),
    "raw": partial(downsampled, every=RAW_EVERY),
}


def get_summary(kind: str) -> Summary:
    """The summary function called ``kind``.

    Raises:
        ConfigError: an unknown kind.
    """
    try:
        return SUMMARIES[kind]
    except KeyError:
        raise ConfigError(f"unknown summary statistic '{kind}'", f"choose from {', '.join(SUMMARIES)}") from None
