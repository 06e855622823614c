"""A learner that does not use SB3, to prove the run-folder seams: kind ``linear``, algorithm ``hill``.

Hill climbing on a linear policy ``a = clip(W obs + b)``: each iteration perturbs the weights with
Gaussian noise from the trainer's own generator, scores the candidate on ``rollout_steps`` steps of
the training env, and keeps it when it scores better. Its state is the weights, the best score
and the generator; its policy file is an npz (no pickles) with its ``simrl.json`` as a string.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from simrl.data import rollout
from simrl.errors import CheckpointError, ConfigError
from simrl.utils import atomic
from simrl.utils.seeding import derive_seed

DEFAULTS = {"noise": 0.1, "rollout_steps": 50}


class LinearPolicy:
    def __init__(self, w: np.ndarray, b: np.ndarray, low: np.ndarray, high: np.ndarray) -> None:
        self.w, self.b, self.low, self.high = w, b, low, high

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        obs = np.asarray(observation, dtype=np.float64).reshape(len(observation), -1)
        return np.clip(obs @ self.w.T + self.b, self.low, self.high).astype(np.float32), None


def save_policy_file(path: Path, policy: LinearPolicy, info: dict[str, Any]) -> None:
    buf = io.BytesIO()
    np.savez(buf, w=policy.w, b=policy.b, low=policy.low, high=policy.high, simrl_json=np.array(json.dumps(info)))
    atomic.write_bytes(path, buf.getvalue())


def read_policy_file(path: Path) -> tuple[LinearPolicy, dict[str, Any]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            return LinearPolicy(z["w"], z["b"], z["low"], z["high"]), json.loads(str(z["simrl_json"]))
    except (OSError, ValueError, KeyError, EOFError) as e:
        raise CheckpointError(f"policy file '{path}' is corrupt ({type(e).__name__})") from None


class HillTrainer:
    kind = "linear"
    policy_file = "policy.npz"

    def __init__(self, venv: Any, *, seed: int, hyperparams: dict[str, Any], info: dict[str, Any]) -> None:
        self.venv = venv
        self.seed = seed
        self.noise = float(hyperparams.get("noise", DEFAULTS["noise"]))
        self.rollout_steps = int(hyperparams.get("rollout_steps", DEFAULTS["rollout_steps"]))
        self.info = info
        space = venv.action_space
        obs_dim = int(np.prod(venv.observation_space.shape))
        self.current = LinearPolicy(
            np.zeros((space.shape[0], obs_dim)),
            np.zeros(space.shape[0]),
            space.low.astype(float),
            space.high.astype(float),
        )
        self.best = -np.inf
        self.rng = np.random.default_rng(seed)
        self.steps = 0
        self.logger: Any = None

    @property
    def num_timesteps(self) -> int:
        return self.steps

    @property
    def step_unit(self) -> int:
        return self.rollout_steps * self.venv.num_envs

    def set_total_timesteps(self, total: int) -> None:
        pass  # no schedules

    def learn(self, until: int, callback) -> None:
        self.venv.seed(derive_seed(self.seed, self.steps))  # a reproducible segment start
        obs = self.venv.reset()
        while self.steps < until:
            if not callback(self.steps):
                return
            c = self.current
            cand = LinearPolicy(
                c.w + self.noise * self.rng.standard_normal(c.w.shape),
                c.b + self.noise * self.rng.standard_normal(c.b.shape),
                c.low,
                c.high,
            )
            ran = rollout.transitions(cand, self.venv, self.rollout_steps, deterministic=True, obs=obs)
            obs = self.venv.reset()
            score = float(ran.rewards.mean())
            if score > self.best:
                self.best, self.current = score, cand
            self.steps += len(ran)
            if self.logger is not None:
                self.logger.record("train/best_score", self.best)

    def state_files(self) -> tuple[str, ...]:
        return ("policy.npz",)

    def save(self, folder: Path) -> dict[str, Any]:
        self.save_policy(folder / "policy.npz")
        return {"rng": self.rng.bit_generator.state, "best": self.best, "steps": self.steps}

    def restore(self, folder: Path, state: dict[str, Any]) -> None:
        policy, _ = read_policy_file(folder / "policy.npz")
        if policy.w.shape != self.current.w.shape:
            raise CheckpointError(f"checkpoint '{folder}' holds weights for another env")
        self.current = policy
        self.rng.bit_generator.state = state["rng"]
        self.best, self.steps = float(state["best"]), int(state["steps"])

    def policy(self) -> LinearPolicy:
        return self.current

    def save_policy(self, path: Path) -> None:
        save_policy_file(path, self.current, {**self.info, "num_timesteps": self.steps})

    def set_logger(self, logger: Any) -> None:
        self.logger = logger

    def close(self) -> None:
        self.venv.close()


class LinearKind:
    name = "linear"
    policy_file = "policy.npz"

    def algos(self) -> tuple[str, ...]:
        return ("hill",)

    def resolve_hyperparams(self, algo, env_id, *, file, overrides, sets):
        from simrl.experiments.hyperparams import apply_set

        hp = dict(DEFAULTS)
        hp.update(overrides)
        for text in sets:
            apply_set(hp, text)
        unknown = set(hp) - set(DEFAULTS) - {"n_timesteps", "n_envs"}
        if unknown:
            raise ConfigError(f"unknown hyper-parameter '{sorted(unknown)[0]}' for hill")
        return hp

    def build(self, config, base=None, *, for_training=True):
        venv = config.make_env(base)
        info = {
            "kind": self.name,
            "algo": config.algo,
            "env_id": config.env_id,
            "env_params": config.env_params,
            "env_kwargs": config.env_kwargs,
        }
        return HillTrainer(venv, seed=config.seed, hyperparams=config.hyperparams, info=info)

    def read_info(self, path: Path):
        if path.suffix != ".npz":
            return None
        _, info = read_policy_file(path)
        return info if info.get("kind") == self.name else None

    def load_policy(self, path, *, env_id, env_kwargs, algo, hyperparams, device):
        return read_policy_file(path)[0]
