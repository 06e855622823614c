"""mbrl-lib 0.2.0's PETS planner on the pendulum: wall time per planned action (one torch thread).

Not simrl: this runs in an environment of its own with mbrl-lib installed, and ``bench/mbrl.py --part b
--mbrl-lib-python ENV/bin/python`` runs it beside simrl's planner at the same settings. Prints one JSON
object (the last line of stdout).

    python bench/mbrl_lib_plan.py --hid 200 --layers 3 --act silu --repeats 7

mbrl-lib pins gymnasium 0.26 and hydra-core 1.0, which does not import on Python 3.11; what installs here:

    python3.11 -m venv /tmp/mbrl-lib && cd /tmp/mbrl-lib
    bin/pip install torch==2.13.0                       # first: the CPU build, as simrl's
    bin/pip install "pip<24.1"                          # newer pip refuses omegaconf 2.0.6's PyYAML>=5.1.*
    bin/pip download --no-deps mbrl==0.2.0 -d wheels
    bin/pip install wheels/mbrl-0.2.0-py3-none-any.whl torch==2.13.0
    bin/pip install hydra-core==1.3.2 omegaconf==2.3.0  # over the pins: see _recursive_ below

Built as mbrl-lib's PETS (mbrl/algorithms/pets.py) and its notebooks/pets_example.ipynb build it:
``mbrl.util.common.create_one_dim_tr_model`` (a GaussianMLP ensemble in a OneDTransitionRewardModel,
normalize=True, target_is_delta=True, learned_rewards=False), ``mbrl.models.ModelEnv`` with the pendulum's
true reward as a torch function of (act, next_obs) and ``termination_fns.no_termination``,
``mbrl.planning.create_trajectory_optim_agent_for_model`` with a TrajectoryOptimizerAgent and CEMOptimizer.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import argparse
import importlib.metadata
import itertools
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

OBS, ACT = 3, 1
POP, ELITE_RATIO, HORIZON, ITERS, ALPHA, PARTICLES, ENSEMBLE = 100, 0.1, 25, 5, 0.1, 20, 5
ACTIVATIONS = {
    "silu": {"_target_": "torch.nn.SiLU"},
    # the notebook's (notebooks/pets_example.ipynb): LeakyReLU(negative_slope=0.01)
    "leakyrelu": {"_target_": "torch.nn.LeakyReLU", "negative_slope": 0.01},
}


def pendulum_reward(act: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
    """Gymnasium Pendulum-v1's reward, -(theta^2 + 0.1 thetadot^2 + 0.001 u^2), on next_obs (mbrl-lib's
    reward_fn convention takes (act, next_obs)); theta = atan2(sin, cos) in [-pi, pi]. Shape [B, 1]."""
    assert len(next_obs.shape) == len(act.shape) == 2
    theta = torch.atan2(next_obs[:, 1], next_obs[:, 0])
    u = act[:, 0].clamp(-2.0, 2.0)
    cost = theta**2 + 0.1 * next_obs[:, 2] ** 2 + 0.001 * u**2
    return (-cost).view(-1, 1)


def build(hid: int, layers: int, act: str, seed: int):
    # Run as a script, this folder comes first on sys.path, and its mbrl.py (simrl's benchmark) would be
    # imported in place of mbrl-lib's package of the same name: mbrl-lib is imported here, without it.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    import mbrl.env.termination_fns as termination_fns
    import mbrl.models as models
    import mbrl.planning as planning
    import mbrl.util.common as common_util
    import omegaconf
    from gymnasium.envs.classic_control.pendulum import PendulumEnv

    env = PendulumEnv()  # the class itself: gym.make's passive checker uses np.bool8, gone in numpy 2
    env.reset(seed=seed)
    env.action_space.seed(seed)
    rng = np.random.default_rng(seed)
    generator = torch.Generator()
    generator.manual_seed(seed)
    cfg = omegaconf.OmegaConf.create(
        {
            "dynamics_model": {
                "_target_": "mbrl.models.GaussianMLP",
                # hydra-core 1.0.3 (mbrl 0.2.0's pin) does not run on Python 3.11; 1.3.2 is installed, whose
                # instantiate() is recursive by default. 1.0.x passed nested configs through untouched, which
                # GaussianMLP (activation_fn_cfg) and TrajectoryOptimizer (optimizer_cfg) expect: so off.
                "_recursive_": False,
                "device": "cpu",
                "num_layers": layers,
                "ensemble_size": ENSEMBLE,
                "hid_size": hid,
                "in_size": "???",
                "out_size": "???",
                "deterministic": False,
                "propagation_method": "fixed_model",
                "activation_fn_cfg": ACTIVATIONS[act],
            },
            "algorithm": {"learned_rewards": False, "target_is_delta": True, "normalize": True},
            "overrides": {"trial_length": 200, "num_steps": 2000, "model_batch_size": 32, "validation_ratio": 0.05},
        }
    )
    dynamics_model = common_util.create_one_dim_tr_model(cfg, env.observation_space.shape, env.action_space.shape)
    done = termination_fns.no_termination
    model_env = models.ModelEnv(env, dynamics_model, done, pendulum_reward, generator=generator)
    replay_buffer = common_util.create_replay_buffer(cfg, env.observation_space.shape, env.action_space.shape, rng=rng)
    # 400 random transitions (two 200-step episodes), as the notebook collects its first trial
    common_util.rollout_agent_trajectories(
        env, 400, planning.RandomAgent(env), {}, replay_buffer=replay_buffer, trial_length=200
    )
    # the notebook's training: normalizer on all data, bootstrap iterators, ModelTrainer (Adam lr 1e-3, wd 5e-5)
    dynamics_model.update_normalizer(replay_buffer.get_all())
    train_it, val_it = common_util.get_basic_buffer_iterators(
        replay_buffer,
        batch_size=32,
        val_ratio=0.05,
        ensemble_size=ENSEMBLE,
        shuffle_each_epoch=True,
        bootstrap_permutes=False,
    )
    trainer = models.ModelTrainer(dynamics_model, optim_lr=1e-3, weight_decay=5e-5)
    t = time.perf_counter()
    trainer.train(train_it, dataset_val=val_it, num_epochs=5, patience=50, silent=True)
    fit_s = time.perf_counter() - t
    agent_cfg = omegaconf.OmegaConf.create(
        {
            "_target_": "mbrl.planning.TrajectoryOptimizerAgent",
            "_recursive_": False,  # see the model's config above
            "planning_horizon": HORIZON,
            "replan_freq": 1,
            "verbose": False,
            "action_lb": "???",
            "action_ub": "???",
            "optimizer_cfg": {
                "_target_": "mbrl.planning.CEMOptimizer",
                "num_iterations": ITERS,
                "elite_ratio": ELITE_RATIO,
                "population_size": POP,
                "alpha": ALPHA,
                "device": "cpu",
                "lower_bound": "???",
                "upper_bound": "???",
                "return_mean_elites": True,  # the notebook's; the class default is False (best sample)
                "clipped_normal": False,  # the notebook's and the class default: truncated normal
            },
        }
    )
    agent = planning.create_trajectory_optim_agent_for_model(model_env, agent_cfg, num_particles=PARTICLES)
    obs = replay_buffer.get_all().obs[0].astype(np.float32)
    return dynamics_model, agent, obs, fit_s, cfg


def flops_per_row(hid: int, layers: int) -> int:
    """2 x multiply-adds of the ensemble's linear layers for one input row (biases and activations not counted)."""
    sizes = [OBS + ACT] + [hid] * layers + [2 * OBS]  # mean and log-variance head
    return sum(2 * a * b for a, b in itertools.pairwise(sizes))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--hid", type=int, required=True)
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--act", choices=sorted(ACTIVATIONS), default="silu")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(a.seed)
    dynamics_model, agent, obs, fit_s, _ = build(a.hid, a.layers, a.act, a.seed)

    agent.act(obs)  # warm up
    plans, cpus = [], []
    for _ in range(a.repeats):
        c, t = time.process_time(), time.perf_counter()
        agent.act(obs)
        plans.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)  # CPU time of this process: excludes time descheduled

    # Bare ensemble forward passes the plan needs: GaussianMLP.forward with fixed_model propagation on the
    # POP*PARTICLES rows, HORIZON*ITERS calls (no normalizer, no sampling, no reward, no CEM)
    gmlp = dynamics_model.model
    rows = POP * PARTICLES
    x = torch.randn(rows, OBS + ACT)
    idx = gmlp.sample_propagation_indices(rows, None)
    bare = []
    with torch.no_grad():
        gmlp.forward(x, propagation_indices=idx)
        for _ in range(a.repeats):
            t = time.perf_counter()
            for _ in range(HORIZON * ITERS):
                gmlp.forward(x, propagation_indices=idx)
            bare.append(time.perf_counter() - t)

    plan, fwd = statistics.median(plans), statistics.median(bare)
    flops = flops_per_row(a.hid, a.layers) * rows * HORIZON * ITERS
    out = {
        "side": "mbrl-lib",
        "mbrl_version": importlib.metadata.version("mbrl"),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "hid": a.hid,
        "layers": a.layers,
        "activation": a.act,
        "model": repr(gmlp).replace("\n", " "),
        "fit_s": fit_s,
        "plan_s": {"median": plan, "min": min(plans), "max": max(plans), "values": plans},
        "plan_cpu_s": {"median": statistics.median(cpus), "min": min(cpus), "max": max(cpus), "values": cpus},
        "forward_s": {"median": fwd, "min": min(bare), "max": max(bare), "values": bare},
        "flops": flops,
        "gflops_per_s_plan": flops / plan / 1e9,
        "gflops_per_s_forward": flops / fwd / 1e9,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
