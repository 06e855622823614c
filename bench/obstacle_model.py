"""MPC on simrl/Obstacles-v0: what the planner reaches on the true dynamics, and how the model fits the walls.

    python bench/obstacle_model.py                      # about a minute on one core
    python bench/obstacle_model.py --hidden 256 256 --activation relu --max-epochs 1000 --patience 200

(1) The planner on the true dynamics: random shooting of ``--candidates`` uniformly random action
    sequences over ``--horizon`` steps (the homework's 1,000 x 10), scored with the env's reward and
    termination, each step's best first action executed, on the 10 starts ``simrl eval`` uses
    (seeds 1,000,000 + i). The true moves are written out here (the env's rule: a move ending outside
    the square or strictly inside an obstacle does not happen), batched over candidates.
(2) The learned model: a DynamicsModel with the preset's model settings (configs/mpc.yaml, the obstacle
    block) or those given, fitted on ``--transitions`` one-step transitions from free points drawn
    uniformly over the square with uniformly random actions, then scored on 4,000 more: the mean error of
    the predicted move on free moves and on blocked ones, and the fraction of blocked moves it predicts
    as a move of more than half a step's length (0.05).

One torch thread. Prints the figures and writes them to ``--json`` (default bench/results/obstacle_model.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
EVAL_SEED = 1_000_000


def true_moves(pos: torch.Tensor, actions: torch.Tensor, step_size: float = 0.1) -> torch.Tensor:
    """The env's move rule for rows of positions ``[B, 2]`` and actions ``[B, 2]``."""
    from simrl.envs.obstacles import BOUNDARY, OBSTACLES

    rects = torch.tensor(OBSTACLES, dtype=pos.dtype)
    new = pos + actions.clamp(-1, 1) * step_size
    x, y = new[:, :1], new[:, 1:]
    left, top, width, height = rects.T
    inside = ((left < x) & (x < left + width) & (top - height < y) & (y < top)).any(dim=1)
    outside = (new.abs() >= BOUNDARY).any(dim=1)
    return torch.where((inside | outside)[:, None], pos, new)


def plan_true(horizon: int, candidates: int, seed: int) -> list[float]:
    """Returns of random shooting on the true dynamics from eval's 10 starts."""
    import gymnasium as gym

    import simrl.envs  # noqa: F401  (registers the env)
    from simrl.envs.obstacles import GOAL

    goal = torch.tensor(GOAL, dtype=torch.float64)
    rng = np.random.default_rng(seed)
    env = gym.make("simrl/Obstacles-v0")
    returns = []
    for episode in range(10):
        obs, _ = env.reset(seed=EVAL_SEED + episode)
        total, done = 0.0, False
        while not done:
            seqs = torch.as_tensor(rng.uniform(-1, 1, (candidates, horizon, 2)))
            pos = torch.tensor(obs[:2], dtype=torch.float64).repeat(candidates, 1)
            score, alive = torch.zeros(candidates, dtype=torch.float64), torch.ones(candidates, dtype=torch.bool)
            for k in range(horizon):
                pos = true_moves(pos, seqs[:, k])
                dist = (pos - goal).norm(dim=1)
                score += torch.where(alive, -dist, torch.zeros_like(dist))
                alive &= dist >= 0.1
            obs, reward, terminated, truncated, _ = env.step(seqs[score.argmax(), 0].numpy().astype(np.float32))
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    env.close()
    return returns


def transitions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """``n`` one-step transitions from uniformly drawn free points, uniformly random actions."""
    from simrl.envs.obstacles import BOUNDARY, GOAL, is_free

    points: list[np.ndarray] = []
    while len(points) < n:
        p = rng.uniform(-BOUNDARY, BOUNDARY, 2)
        if is_free(*p):
            points.append(p)
    pos = torch.as_tensor(np.array(points))
    actions = torch.as_tensor(rng.uniform(-1, 1, (n, 2)))
    nxt = true_moves(pos, actions).numpy()
    goal = np.tile(GOAL, (n, 1))
    obs = np.hstack([pos.numpy(), goal]).astype(np.float32)
    next_obs = np.hstack([nxt, goal]).astype(np.float32)
    blocked = np.all(nxt == pos.numpy(), axis=1)
    return obs, actions.numpy().astype(np.float32), next_obs, blocked


def model_accuracy(model_settings: dict, n: int, seed: int) -> dict:
    from simrl.mbrl.models.dynamics import DynamicsModel, ModelSettings
    from simrl.mbrl.settings import from_mapping

    settings = from_mapping(ModelSettings, model_settings, prefix="model.")
    settings.check()
    rng = np.random.default_rng(seed)
    obs, actions, next_obs, _ = transitions(n, rng)
    model = DynamicsModel(4, 2, settings, generator=torch.Generator().manual_seed(seed))
    start = time.perf_counter()
    report = model.fit(obs, actions, next_obs, None, rng=rng)
    seconds = time.perf_counter() - start
    obs, actions, next_obs, blocked = transitions(4000, rng)
    members = settings.members
    with torch.no_grad():
        mean, _ = model.predict(
            torch.as_tensor(obs)[None].expand(members, -1, -1), torch.as_tensor(actions)[None].expand(members, -1, -1)
        )
    move = mean[torch.as_tensor(model.elites)].mean(dim=0).numpy()[:, :2]
    err = np.linalg.norm(move - (next_obs - obs)[:, :2], axis=1)
    return {
        "settings": model_settings,
        "transitions": n,
        "epochs": report.epochs,
        "fit_seconds": round(seconds, 2),
        "blocked_share": round(float(blocked.mean()), 3),
        "error_free": round(float(err[~blocked].mean()), 4),
        "error_blocked": round(float(err[blocked].mean()), 4),
        "blocked_predicted_as_moves": round(float((np.linalg.norm(move[blocked], axis=1) > 0.05).mean()), 3),
    }


def main() -> None:
    from simrl.experiments.hyperparams import preset_path, read_yaml, zoo_blocks

    torch.set_num_threads(1)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--horizon", type=int, default=10)
    p.add_argument("--candidates", type=int, default=1000)
    p.add_argument("--transitions", type=int, default=8000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--hidden", type=int, nargs="+")
    p.add_argument("--activation")
    p.add_argument("--max-epochs", type=int)
    p.add_argument("--patience", type=int)
    p.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "obstacle_model.json")
    args = p.parse_args()
    preset = zoo_blocks(read_yaml(preset_path("mpc"), "preset"), "simrl/Obstacles-v0", "configs/mpc.yaml")
    model = dict(preset.get("model") or {})
    for key, value in (("hidden", args.hidden), ("activation", args.activation), ("max_epochs", args.max_epochs),
                       ("patience", args.patience)):  # fmt: skip
        if value is not None:
            model[key] = value
    returns = plan_true(args.horizon, args.candidates, args.seed)
    planner = {
        "horizon": args.horizon,
        "candidates": args.candidates,
        "mean": round(float(np.mean(returns)), 1),
        "median": round(float(np.median(returns)), 1),
        "returns": [round(r, 1) for r in returns],
    }
    print(f"true dynamics, random shooting {args.candidates} x {args.horizon}: mean {planner['mean']}, "
          f"median {planner['median']}, {planner['returns']}")  # fmt: skip
    accuracy = model_accuracy(model, args.transitions, args.seed)
    print(f"learned model {accuracy['settings']}, {accuracy['transitions']} transitions, {accuracy['epochs']} epochs "
          f"({accuracy['fit_seconds']} s): move error {accuracy['error_free']} on free moves, "
          f"{accuracy['error_blocked']} on blocked ones ({accuracy['blocked_share']:.0%} of moves); "
          f"{accuracy['blocked_predicted_as_moves']:.0%} of blocked moves predicted as moves")  # fmt: skip
    args.json.parent.mkdir(parents=True, exist_ok=True)
    machine = {"python": platform.python_version(), "torch": torch.__version__, "cpu": platform.processor()}
    args.json.write_text(json.dumps({"machine": machine, "planner": planner, "model": accuracy}, indent=2) + "\n")


if __name__ == "__main__":
    main()
