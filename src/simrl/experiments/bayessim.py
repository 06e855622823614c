"""The BayesSim pipeline: observe the "real" system, infer a posterior over its parameters, train PPO
on posterior randomization and on the uniform prior, and compare them on the real and other systems.

Everything lands in one folder::

    runs/bayessim-<YYYYmmdd-HHMMSS>/
      config.json          the preset and every setting, the true parameters (hidden from inference)
      posterior/           model (weights + JSON), samples.npz (names, samples), diagnostics.json
      policies/<method>-s<seed>/   ordinary run folders (simrl report/eval/compare work on them)
      summary.json         per system and method: mean, IQM with 95% CI; improvement in % with a CI
      plots/  report.html

Compute, write, render: :func:`run` computes a :class:`~simrl.experiments.bayessim_summary.BayesSimSummary`,
``bayessim_summary.write_summary`` writes it and ``bayessim_report.write_report`` renders it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import ConfigError, EnvError
from simrl.experiments.bayessim_summary import (
    BayesSimSummary,
    Improvement,
    MethodResult,
    PosteriorSummary,
    Robustness,
    SystemResult,
    write_diagnostics,
    write_summary,
)
from simrl.experiments.executor import ExecutorSettings
from simrl.inference.settings import PRESETS as INFERENCE
from simrl.inference.settings import InferenceSettings

ENV_ID = "simrl/Pendulum-v0"
# The "real" system: a pendulum heavier and shorter than the simulator's default.
DEFAULT_TRUTH = {"mass": 1.3, "length": 0.8}
# Named test systems (the real one is added as "Real"). Default is the simulator's nominal pendulum;
# Light-Short and Heavy-Long sit on either side of it inside the prior box [0.1, 2.0]^2.
TEST_SYSTEMS = {
    "Default": {"mass": 1.0, "length": 1.0},
    "Light-Short": {"mass": 0.5, "length": 0.5},
    "Heavy-Long": {"mass": 1.5, "length": 1.5},
}
METHODS = ("uniform", "posterior")


@dataclass(frozen=True)
class Preset:
    """Every setting of a BayesSim run that is not the true system."""

    inference: InferenceSettings
    """What to simulate, summarise and fit, passed whole to the fit: simulations per round, rounds,
    trajectories (K, recorded on the real system and simulated per draw), steps per trajectory, the
    summary statistics, the MDN (components, hidden width) and how it trains."""
    timesteps: int
    """PPO training budget per policy (both methods alike)."""
    seeds: tuple[int, ...]
    eval_episodes: int
    grid_points: int
    """Points per axis of the robustness grid over the prior box."""
    heldout: int = 200
    """Held-out simulations for the diagnostics (accuracy, coverage)."""
    bank: int = 10_000
    """Posterior samples drawn once; training episodes draw their parameters from them."""
    seed: int = 0
    """Seed of the inference stage (collection actions, simulations, network)."""


PRESETS = {
    # The inference settings of the same name (measured in inference/settings.py, checked by tests/inference),
    # plus the training and evaluation budget.
    # Under 90 s on 2 cores: every stage runs, nothing is meant to be good.
    "smoke": Preset(
        INFERENCE["smoke"], timesteps=8_192, seeds=(0,), eval_episodes=3, grid_points=3, heldout=100, bank=2_000
    ),
    # Under 8 minutes (about one here): what `make demo` runs.
    "quick": Preset(INFERENCE["quick"], timesteps=61_440, seeds=(0, 1, 2), eval_episodes=10, grid_points=5),
    # The comparison that means something: 5 seeds, 3.3x the budget, two inference rounds.
    "full": Preset(INFERENCE["full"], timesteps=204_800, seeds=(0, 1, 2, 3, 4), eval_episodes=20, grid_points=7),
}
# Overrides that replace a field of the inference settings (the CLI's flag -> InferenceSettings' field).
INFERENCE_OVERRIDES = {
    "simulations": "simulations",
    "rounds": "rounds",
    "components": "components",
    "summary": "summary",
    "observations": "trajectories",
    "steps": "steps",
}
_AT_LEAST_ONE = (
    *("simulations", "rounds", "components", "observations", "steps"),
    *("timesteps", "eval_episodes", "grid_points", "heldout", "bank"),
)


def resolve_preset(name: str, **overrides: Any) -> Preset:
    """A preset with overrides (None values ignored), checked.

    ``simulations``, ``rounds``, ``components``, ``summary``, ``observations`` and ``steps`` replace fields
    of the preset's inference settings (``observations`` is their ``trajectories``); any other key a field
    of the preset, ``inference`` included.

    Raises:
        ConfigError: an unknown preset, a count below 1, no seeds, inference settings that do not hold.
    """
    if name not in PRESETS:
        raise ConfigError(f"unknown preset '{name}'", f"choose one of: {', '.join(PRESETS)}")
    given = {k: v for k, v in overrides.items() if v is not None}
    for key in _AT_LEAST_ONE:
        if key in given and int(given[key]) < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {given[key]}")
    inference = {INFERENCE_OVERRIDES[k]: given.pop(k) for k in list(given) if k in INFERENCE_OVERRIDES}
    preset = replace(PRESETS[name], **given)
    if inference:  # InferenceSettings checks the result (at least 10 simulations, a known summary, ...)
        preset = replace(preset, inference=replace(preset.inference, **inference))
    if not preset.seeds:
        raise ConfigError("--seeds must name at least one seed")
    if any(seed < 0 for seed in preset.seeds):
        raise ConfigError(f"--seeds must be non-negative, got {','.join(map(str, preset.seeds))}")
    return preset


def check_truth(prior: Any, truth: Mapping[str, float]) -> dict[str, float]:
    """The true parameters, every inferred one given (defaults filled in) and inside the prior box."""
    from simrl.envs.vec import param_space

    space = param_space(ENV_ID)
    values = {n: DEFAULT_TRUTH.get(n, space.get(n).default) for n in prior.names}
    for name, value in truth.items():
        if name not in prior.names:
            space.get(name)  # an unknown name raises here
            raise EnvError(f"true parameter '{name}' is not inferred", f"inferred: {', '.join(prior.names)}")
        values[name] = space.check_value(name, value)
    for name, lo, hi in zip(prior.names, prior.low, prior.high, strict=True):
        if not lo <= values[name] <= hi:
            raise EnvError(
                f"true parameter {name}={values[name]:g} lies outside the prior box [{lo:g}, {hi:g}]",
                "BayesSim cannot find a system its prior excludes",
            )
    return values


Log = Callable[[str], None]


@dataclass(frozen=True)
class BayesSimResult:
    """What :func:`run` did: the run folder, what it found, and how long it took."""

    folder: Path
    summary: BayesSimSummary
    seconds: float


def run(
    preset: Preset,
    *,
    truth: Mapping[str, float] | None = None,
    out: Path = Path("runs"),
    collect: Path | None = None,
    posterior_dir: Path | None = None,
    executor: ExecutorSettings | None = None,
    log: Log = print,
) -> BayesSimResult:
    """The whole pipeline (see the module docstring). Bad input raises before anything is written.

    ``executor`` says where the policies train (default: one after another in this process; local worker
    processes or a Ray cluster as ``simrl sweep`` runs its runs); a policy whose training fails is tried again
    from its newest checkpoint up to ``executor.retries`` times, then the pipeline stops with a RuntimeError.
    """
    from simrl.inference.prior import BoxPrior

    started = time.monotonic()
    prior = BoxPrior.for_env(ENV_ID)
    true_params = check_truth(prior, truth or {})
    policy = _collection_policy(collect)
    loaded = _load_posterior(posterior_dir, preset) if posterior_dir is not None else None
    from simrl.experiments.config import check_out_dir, resolve

    for seed in preset.seeds:  # the policies' settings, checked now rather than after the fit
        resolve("ppo", ENV_ID, timesteps=preset.timesteps, seed=seed, eval_episodes=preset.eval_episodes)
    check_out_dir(out, "--out")

    folder = out / f"bayessim-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    if folder.exists():
        raise ConfigError(f"'{folder}' already exists", "wait a second or choose another --out")
    folder.mkdir(parents=True)
    _write_json(
        folder / "config.json",
        {
            "preset": asdict(preset),
            "true_params": true_params,
            "env_id": ENV_ID,
            "prior": {"names": list(prior.names), "low": prior.low.tolist(), "high": prior.high.tolist()},
            "collect": str(collect) if collect else None,
            "test_systems": TEST_SYSTEMS,
        },
    )

    settings = preset.inference
    log(f"[1/5] observing the real system ({settings.trajectories} trajectories of {settings.steps} steps)")
    inference = infer(preset, prior, true_params, policy, folder / "posterior", loaded, log)
    log(f"      posterior mean {_fmt(inference.posterior_mean)} (truth {_fmt(true_params)})")

    systems = {"Real": dict(true_params), **TEST_SYSTEMS}
    runs = _train(preset, prior, folder, executor or ExecutorSettings(), log)
    log("[4/5] evaluating both methods on the real and the test systems, and on the robustness grid")
    results, overall, robustness = _evaluate(preset, prior, runs, systems)
    summary = BayesSimSummary(true_params, inference, results, overall, robustness)
    write_summary(folder, summary)
    log("[5/5] plots and report")
    from simrl.experiments.bayessim_report import write_report

    write_report(folder, preset, prior, summary, runs)
    return BayesSimResult(folder, summary, time.monotonic() - started)


def _fmt(values: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={v:.3f}" for k, v in values.items())


def _write_json(path: Path, obj: Any) -> None:
    import json

    from simrl.utils import atomic

    atomic.write_text(path, json.dumps(obj, indent=2) + "\n")


def _collection_policy(collect: Path | None) -> Any:
    """None (random actions from a fixed seed) or the best policy of a run folder."""
    if collect is None:
        return None
    from simrl.experiments.kinds import kind_of_file
    from simrl.experiments.runfolder import RunFolder
    from simrl.experiments.targets import resolve_target

    if RunFolder.is_run(collect):
        trained_on = RunFolder.open(collect).read_config().get("env_id")
    else:
        # a plain SB3 zip does not say: loading it onto the pendulum decides
        trained_on = (kind_of_file(collect)[1].get("env_id") if collect.is_file() else None) or ENV_ID
    if trained_on != ENV_ID:
        raise ConfigError(f"--collect: '{collect}' was trained on {trained_on}", f"BayesSim observes {ENV_ID}")
    return resolve_target(collect, env_id=ENV_ID, which="best").model


def _load_posterior(path: Path, preset: Preset) -> Any:
    """A saved posterior (``posterior/model`` of an earlier run) for this env and summary."""
    from simrl.inference.posterior import MDNPosterior

    return MDNPosterior.load(path, env_id=ENV_ID, summary=preset.inference.summary)


def fit_posterior(settings: InferenceSettings, prior: Any, simulate: Any, x_o: np.ndarray, *, seed: int) -> Any:
    """The MDN posterior fitted with every inference setting: simulations, rounds, network, summary, training."""
    from simrl.inference.posterior import MDNPosterior

    return MDNPosterior.fit_rounds(
        prior,
        simulate,
        x_o,
        simulations=settings.simulations,
        rounds=settings.rounds,
        components=settings.components,
        hidden=settings.hidden,
        train=settings.train,
        summary=settings.summary,
        seed=seed,
    )


def infer(
    preset: Preset, prior: Any, truth: Mapping[str, float], policy: Any, folder: Path, loaded: Any, log: Log
) -> PosteriorSummary:
    """Observe, simulate, fit (or reuse) the posterior, sample the bank, run the diagnostics."""
    from simrl.inference import diagnostics
    from simrl.inference.simulate import observe, simulator
    from simrl.inference.summaries import get_summary

    settings = preset.inference
    summarize = get_summary(settings.summary)
    collect = {"trajectories": settings.trajectories, "steps": settings.steps, "policy": policy, "seed": preset.seed}

    # (theta, round) -> summaries, memory-bounded; each round draws initial states of its own.
    run_sims = simulator(ENV_ID, prior.names, summarize, **collect)
    x_o = summarize(observe(ENV_ID, truth, **collect))[0]
    started = time.monotonic()
    if loaded is None:
        log(
            f"[2/5] simulating {settings.simulations:,} draws from the prior and fitting the MDN posterior "
            f"({settings.components} components, {settings.rounds} round(s))"
        )
        posterior = fit_posterior(settings, prior, run_sims, x_o, seed=preset.seed)
    else:
        log("[2/5] using the given posterior")
        posterior = loaded
    fit_seconds = time.monotonic() - started
    folder.mkdir(parents=True, exist_ok=True)
    posterior.save(folder / "model")
    samples = posterior.sample(preset.bank, x_o, seed=preset.seed)
    import io

    from simrl.utils import atomic

    buf = io.BytesIO()
    np.savez(buf, names=np.array(prior.names), samples=samples)
    atomic.write_bytes(folder / "samples.npz", buf.getvalue())

    log(f"      diagnostics on {preset.heldout} held-out simulations")
    theta_test = prior.sample(preset.heldout, np.random.default_rng(preset.seed + 1))
    x_test = run_sims(theta_test, 999)
    truth_vec = np.array([truth[n] for n in prior.names])
    obs = diagnostics.at_observation(posterior, x_o, truth_vec, seed=preset.seed)
    result = PosteriorSummary(
        posterior_mean=obs["mean"],
        posterior_std=obs["std"],
        map=obs["map"],
        ci90={n: (obs["quantiles"]["0.05"][n], obs["quantiles"]["0.95"][n]) for n in prior.names},
        truth_in_ci90=obs["in_central"],
        abs_error_of_mean=obs["abs_error"],
        hpd_level_of_truth=obs["hpd_level"],
        log_prob_truth=float(np.asarray(posterior.log_prob(truth_vec[None], x_o)).ravel()[0]),
        fit_seconds=fit_seconds,
        heldout=diagnostics.accuracy(posterior, theta_test, x_test, seed=preset.seed),
        coverage=diagnostics.coverage(posterior, theta_test, x_test, seed=preset.seed),
        ppc=diagnostics.predictive_check(posterior, x_o, run_sims, seed=preset.seed),
    )
    write_diagnostics(folder, result)
    return result


def _train(preset: Preset, prior: Any, folder: Path, executor: ExecutorSettings, log: Log) -> dict[str, list[Path]]:
    """PPO run folders under policies/, one per method and seed, trained on the method's randomization."""
    from simrl.experiments import config as cfg
    from simrl.experiments.executor import run_tasks
    from simrl.experiments.sweep import train_run

    uniform = {n: [float(lo), float(hi)] for n, lo, hi in zip(prior.names, prior.low, prior.high, strict=True)}
    tasks: dict[str, tuple[Any, ...]] = {}
    for seed in preset.seeds:
        for method in METHODS:
            if method == "uniform":
                kwargs: dict[str, Any] = {"randomize": uniform}
            else:
                kwargs = {"param_samples": folder / "posterior" / "samples.npz"}
            config = cfg.resolve(
                "ppo", ENV_ID, timesteps=preset.timesteps, seed=seed, eval_episodes=preset.eval_episodes, **kwargs
            )
            name = f"{method}-s{seed}"
            tasks[name] = (str(folder / "policies"), name, config.to_dict(), f"simrl bayessim ({method}, seed {seed})")
    where = f"on Ray ({executor.ray})" if executor.ray else f"on {min(executor.workers, len(tasks))} worker(s)"
    log(
        f"[3/5] training PPO on uniform and posterior randomization: {len(tasks)} policies of "
        f"{preset.timesteps:,} steps {where}"
    )

    def event(what: str, key: Any, attempt: int, error: str | None) -> None:
        if what in ("done", "retry", "failed"):
            log(f"      {key}: {what}" + (f" ({error})" if error else ""))

    outcomes = run_tasks(train_run, tasks, executor, event=event)
    failed = [f"{k}: {o.error}" for k, o in outcomes.items() if not o.ok]
    if failed:
        raise RuntimeError(f"BayesSim: {len(failed)} policies failed to train ({'; '.join(failed)})")
    return {m: [folder / "policies" / f"{m}-s{seed}" for seed in preset.seeds] for m in METHODS}


def _final_policy(run_dir: Path) -> Any:
    from simrl.experiments.targets import resolve_target

    return resolve_target(run_dir, env_id=ENV_ID, which="final").model


def _evaluate(
    preset: Preset, prior: Any, runs: dict[str, list[Path]], systems: dict[str, dict[str, float]]
) -> tuple[dict[str, SystemResult], Improvement, Robustness]:
    """Returns per system and method, statistics over seeds, improvement in %, robustness maps (each run's
    final policy, read from its folder)."""
    from simrl.evaluation.evaluate import evaluate
    from simrl.evaluation.robustness import Axis, evaluate_grid
    from simrl.evaluation.stats import aggregate, probability_of_improvement

    policies = {r: _final_policy(r) for m in METHODS for r in runs[m]}
    per: dict[str, dict[str, Any]] = {}
    for system, params in systems.items():
        per[system] = {}
        for method in METHODS:
            results = [evaluate(policies[r], ENV_ID, preset.eval_episodes, params=params).returns for r in runs[method]]
            seed_means = np.array([r.mean() for r in results])
            per[system][method] = MethodResult.of(results, seed_means, aggregate(seed_means, rng=0))

    by_system = {}
    for system, params in systems.items():
        uniform, posterior = per[system]["uniform"], per[system]["posterior"]
        post, unif = np.array(posterior.seed_means), np.array(uniform.seed_means)
        poi = probability_of_improvement(post, unif, rng=0)
        p_ci = (poi["ci"][0], poi["ci"][1])
        imp = Improvement(_percent(post, unif), _paired_ci(post, unif, _percent), poi["p"], p_ci)
        by_system[system] = SystemResult(params, uniform, posterior, imp)
    post_all = np.array([per[s]["posterior"].seed_means for s in systems]).sum(axis=0)
    unif_all = np.array([per[s]["uniform"].seed_means for s in systems]).sum(axis=0)
    overall = Improvement(_percent(post_all, unif_all), _paired_ci(post_all, unif_all, _percent))

    axes = [
        Axis(n, np.linspace(lo, hi, preset.grid_points))
        for n, lo, hi in zip(prior.names, prior.low, prior.high, strict=True)
    ]
    maps = {
        m: np.mean([evaluate_grid(policies[r], ENV_ID, axes, preset.eval_episodes).mean for r in runs[m]], axis=0)
        for m in METHODS
    }
    return by_system, overall, Robustness({a.name: a.values for a in axes}, maps)


def _percent(post: np.ndarray, unif: np.ndarray) -> float:
    """The improvement of posterior over uniform randomization in % of the uniform mean's magnitude."""
    return float((post.mean() - unif.mean()) / abs(unif.mean()) * 100.0)


def _paired_ci(
    post: np.ndarray, unif: np.ndarray, stat: Callable[[np.ndarray, np.ndarray], float]
) -> tuple[float, float] | None:
    """95% bootstrap CI of ``stat`` resampling seeds in pairs (both methods share their seeds); None for one seed."""
    from simrl.evaluation.stats import paired_bootstrap_ci

    if len(post) < 2:
        return None
    return paired_bootstrap_ci(post, unif, stat, rng=0)
