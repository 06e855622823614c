"""The ``simrl`` command: parse, build a configuration, call ``experiments``; nothing else."""

from __future__ import annotations

import contextlib
import json
import shlex
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated

import typer

from simrl.errors import Interrupted, SimrlError

app = typer.Typer(
    name="simrl",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Train control policies in simulation and tell honestly how good they are.",
)

ParamOpt = Annotated[
    list[str] | None, typer.Option("--env-param", help="Fixed simulator parameter, NAME=VALUE (repeatable).")
]
KwargOpt = Annotated[
    list[str] | None,
    typer.Option("--env-kwarg", help="Env constructor argument KEY=VALUE, e.g. reward=alive (repeatable)."),
]


WorkersOpt = Annotated[int | None, typer.Option(help="Local worker processes (default: the CPU cores).")]
RayOpt = Annotated[
    str | None, typer.Option(help="Run on a Ray cluster: 'auto' (the one this machine belongs to) or its address.")
]
RetriesOpt = Annotated[int, typer.Option(help="Times a failed run is tried again (from its newest checkpoint).")]


def _executor(workers: int | None, ray: str | None, retries: int):
    """Where a command's runs train (``simrl sweep``, ``bayessim``): checked, a Ray cluster joined."""
    import os

    from simrl.experiments.executor import ExecutorSettings

    settings = ExecutorSettings(
        workers=workers if workers is not None else os.cpu_count() or 1, ray=ray, retries=retries
    )
    settings.check()
    return settings


@app.callback()
def _options(
    torch_threads: Annotated[
        int, typer.Option(help="Torch threads per process. One is fastest for small networks on CPU.")
    ] = 1,
) -> None:
    import torch

    if torch_threads < 1:
        raise SimrlError(f"--torch-threads must be at least 1, got {torch_threads}")
    torch.set_num_threads(torch_threads)


def _console(stderr: bool = False):
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    # Piped output (logs, CI) would wrap tables at 80 columns; give them room instead.
    return console if console.is_terminal else Console(stderr=stderr, highlight=False, width=120)


def _progress_bar(total: int):
    """A rich progress bar over timesteps, with the latest evaluation mean beside it."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    progress = Progress(
        TextColumn("[bold]training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[eval]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=_console(stderr=True),
        transient=False,
    )
    task = progress.add_task("train", total=total, eval="")

    def update(step: int, mean: float | None) -> None:
        if mean is None:
            progress.update(task, completed=step)
        else:
            progress.update(task, completed=step, eval=f"eval {mean:9.1f}")

    return progress, task, update


def _run_training(run) -> None:
    progress, task, update = _progress_bar(run.total)
    progress.update(task, completed=run.trainer.num_timesteps)
    _training[:] = [run]  # kept if training ends by an exception: main's one line names the run
    with progress:
        summary = run.train(lambda step, mean: update(step, mean))
    _training.clear()
    _print_summary(run, summary)


_training: list = []  # the run being trained, for the line an interrupt prints


def _print_summary(run, summary) -> None:
    from rich.table import Table

    t = Table(title=f"{run.config.algo} on {run.config.env_id} (seed {run.config.seed})")
    for col in ("", "mean return", "std", "episodes"):
        t.add_column(col, justify="right" if col else "left")
    res = run.evals.last
    t.add_row("trained (final)", f"{res.mean:.1f}", f"{res.std:.1f}", str(len(res.returns)))
    rnd = run.folder.read_baseline()
    t.add_row("random policy", f"{rnd.mean:.1f}", f"{rnd.std:.1f}", str(len(rnd.returns)))
    t.add_row("best evaluation", f"{summary.best_mean:.1f}", "", "")
    c = _console()
    c.print(t)
    c.print(f"timesteps {summary.timesteps:,}   wall time {summary.wall_time_s:.1f} s   run folder {run.dir}")


def _run_options(
    *,
    set_: list[str] | None,
    env_param: list[str] | None,
    env_kwarg: list[str] | None,
    eval_env_kwarg: list[str] | None,
    randomize: list[str] | None,
    randomize_from: Path | None,
    hyperparams: Path | None,
    checkpoints: str,
    **given,
) -> dict:
    """A run's command-line options (``simrl train``'s, ``simrl sweep``'s) as ``config.resolve``'s arguments."""
    from simrl.experiments import config as cfg

    return {
        **given,
        "hyperparams_file": hyperparams,
        "sets": set_ or [],
        "env_params": cfg.parse_env_params(env_param or []),
        "env_kwargs": cfg.parse_env_kwargs(env_kwarg or []),
        "eval_env_kwargs": cfg.parse_env_kwargs(eval_env_kwarg or [], "--eval-env-kwarg"),
        "randomize": cfg.parse_randomize(randomize or []),
        "param_samples": randomize_from,
        "checkpoints": cfg.parse_checkpoints(checkpoints),
    }


_REPORT_HELP = "When training ends, write report.html with every checkpoint's video ('simrl report --video')."


@app.command()
def train(
    algo: Annotated[
        str,
        typer.Argument(
            help="ppo, sac, td3, a2c, tqc, crossq; mpc or mbpo (model-based); bc, dagger or seeded-sac (imitation)."
        ),
    ],
    env_id: Annotated[str, typer.Argument(help="A registered Gymnasium id, e.g. simrl/Pendulum-v0.")],
    timesteps: Annotated[int | None, typer.Option(help="Total environment steps (default: the preset's).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default: drawn and recorded).")] = None,
    n_envs: Annotated[int | None, typer.Option(help="Parallel training envs (default: the preset's).")] = None,
    hyperparams: Annotated[
        Path | None, typer.Option(help="YAML file of hyper-parameters (zoo layout or flat).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Hyper-parameter override KEY=VALUE (repeatable).")
    ] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    eval_env_kwarg: Annotated[
        list[str] | None,
        typer.Option(help="Env constructor argument for evaluation only, over --env-kwarg (repeatable)."),
    ] = None,
    vec_env: Annotated[
        str | None, typer.Option(help="dummy (one process) or subproc (a process per env); default: the preset's.")
    ] = None,
    randomize: Annotated[
        list[str] | None, typer.Option(help="Uniform randomization per episode, NAME=LOW:HIGH (repeatable).")
    ] = None,
    randomize_from: Annotated[
        Path | None, typer.Option(help="npz of parameter samples (names, samples): one row per episode.")
    ] = None,
    checkpoints: Annotated[str, typer.Option(help="Checkpoint percentages.")] = "25,50,100",
    eval_freq: Annotated[
        int | None, typer.Option(help="Evaluate every N timesteps (default: 1/20 of the run).")
    ] = None,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per evaluation.")] = 10,
    out: Annotated[Path, typer.Option(help="Parent folder of run folders.")] = Path("runs"),
    name: Annotated[str | None, typer.Option(help="Run folder name (default: <algo>-<env>-s<seed>-<time>).")] = None,
    device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda.")] = "auto",
    report_: Annotated[bool, typer.Option("--report", help=_REPORT_HELP)] = False,
    demos: Annotated[
        Path | None, typer.Option(help="bc, dagger: the demonstrations to learn from (an npz of 'simrl collect').")
    ] = None,
    expert: Annotated[
        Path | None,
        typer.Option(
            help="bc, dagger: a run folder or policy file whose demonstrations are collected first; "
            "dagger also asks it for labels."
        ),
    ] = None,
    demo_episodes: Annotated[
        int | None, typer.Option(help="bc: the first N episodes of --demos, or N collected from --expert (10).")
    ] = None,
    as_: Annotated[
        str | None, typer.Option("--as", help="bc, dagger: the SB3 policy the clone is, sac or ppo (as --set as=...).")
    ] = None,
) -> None:
    """Train ALGO on ENV_ID into a new run folder, with checkpoints and evaluations.

    Behaviour cloning: 'simrl train bc ENV_ID --demos FILE' (or --expert RUN); its timesteps are gradient steps.
    DAgger: 'simrl train dagger ENV_ID --expert RUN [--demos FILE]'; its steps are rounds (--set rounds=N).
    Seeded SAC: 'simrl train seeded-sac ENV_ID --demos FILE' (or --expert RUN): SAC started from a clone, the
    demonstrations in every batch; its steps are env steps.
    """
    from simrl import api
    from simrl.experiments import config as cfg

    cfg.check_out_dir(out, "--out")
    if as_ is not None:
        from simrl.experiments.kinds import kind_for_algo

        if kind_for_algo(algo).name != "imitation":
            raise SimrlError(f"--as is for imitation learners ('train bc', 'train dagger'), not {algo}", "drop --as")
        set_ = [*(set_ or []), f"as={as_}"]
    config = cfg.resolve(
        algo,
        env_id,
        seed=seed,
        **_run_options(
            timesteps=timesteps,
            n_envs=n_envs,
            hyperparams=hyperparams,
            set_=set_,
            env_param=env_param,
            env_kwarg=env_kwarg,
            eval_env_kwarg=eval_env_kwarg,
            vec_env=vec_env,
            randomize=randomize,
            randomize_from=randomize_from,
            checkpoints=checkpoints,
            eval_freq=eval_freq,
            eval_episodes=eval_episodes,
            device=device,
            demos=demos,
            expert=expert,
            demo_episodes=demo_episodes,
        ),
    )
    run = api.start(config, out=out, name=name, command=_command_line())
    _run_training(run)
    if report_:
        _write_report(run.dir, video=True)


@app.command()
def resume(
    run_dir: Annotated[Path, typer.Argument(help="A run folder written by 'simrl train'.")],
    report_: Annotated[bool, typer.Option("--report", help=_REPORT_HELP)] = False,
) -> None:
    """Continue a run from its newest complete checkpoint to its full timestep count."""
    from simrl import api

    run = api.reopen(run_dir)
    _console(stderr=True).print(f"resuming {run_dir} at step {run.trainer.num_timesteps:,} of {run.total:,}")
    _run_training(run)
    if report_:
        _write_report(run.dir, video=True)


@app.command("eval")
def eval_(
    target: Annotated[Path, typer.Argument(help="A run folder or a model.zip.")],
    env: Annotated[str | None, typer.Option(help="Env id (required for a model.zip not written by simrl).")] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    episodes: Annotated[int | None, typer.Option(help="Episodes (default: the run's eval episodes, else 10).")] = None,
    model: Annotated[str, typer.Option(help="For a run folder: best, final, or a checkpoint percentage.")] = "best",
    algo: Annotated[str | None, typer.Option(help="Algorithm, for a model.zip not written by simrl.")] = None,
    grid: Annotated[
        list[str] | None,
        typer.Option(help="Robustness grid NAME=LOW:HIGH:N (one or two): writes robustness.csv and .png."),
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the grid's files (default: the run folder).")] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Evaluate a trained policy on fixed seeds, beside the random policy on the same seeds.

    With --grid, evaluate it on every cell of a grid over one or two simulator parameters instead.
    """
    from simrl import api
    from simrl.experiments import config as cfg

    settings = dict(
        env_id=env,
        env_params=cfg.parse_env_params(env_param or []),
        env_kwargs=cfg.parse_env_kwargs(env_kwarg or []),
        episodes=episodes,
        which=model,
        algo=algo,
        device=device,
    )
    if grid:
        from simrl.experiments.targets import resolve_target, robustness_outputs

        axes = cfg.parse_grid(grid)
        cfg.check_out_dir(robustness_outputs(target, out), "--out")
        _eval_grid(target, resolve_target(target, **settings), axes, out, json_)
        return
    report = api.evaluate(target, **settings)
    if json_:
        print(json.dumps(report.to_json()))
        return
    from rich.markup import escape

    c = _console()
    params = ", ".join(f"{k}={v:g}" for k, v in report.env_params.items()) or "defaults"
    if report.env_kwargs:
        params += "; env kwargs " + ", ".join(f"{k}={v}" for k, v in report.env_kwargs.items())
    c.print(escape(f"{report.model}  on {report.env_id} ({params}), {report.episodes} episodes"))
    c.print(f"  trained  {report.mean:9.2f} ± {report.std:.2f}")
    c.print(f"  random   {report.random_mean:9.2f} ± {report.random_std:.2f}")
    if report.info:
        means = {k: sum(v) / len(v) for k, v in report.info.items()}
        stds = {k: (sum((x - means[k]) ** 2 for x in v) / len(v)) ** 0.5 for k, v in report.info.items()}
        c.print(_info_table("mean over episodes", {"trained": means, "± std": stds, "random": report.random_info}))


def _info_table(what: str, columns: dict[str, dict[str, float]]):
    """Reward terms (what the return is made of) and measures as a table: a row per key, a column per policy."""
    from rich.table import Table

    keys = sorted({k for col in columns.values() for k in col}, key=lambda k: (k.startswith("metric_"), k))
    t = Table(title="reward terms and measures", caption=f"terms: sum per episode; measures: mean per step; {what}")
    t.add_column("")
    for name in columns:
        t.add_column(name, justify="right")
    for key in keys:
        t.add_row(key, *(f"{col[key]:.3f}" if key in col else "" for col in columns.values()))
    return t


@app.command()
def collect(
    target: Annotated[Path, typer.Argument(help="A run folder or a policy file (model.zip, policy.pt).")],
    episodes: Annotated[int, typer.Option(help="Whole episodes to record (at least 1).")],
    out: Annotated[Path, typer.Option(help="The .npz file to write (its folder is made if missing).")],
    seed: Annotated[int, typer.Option(help="Seeds the episodes (env i gets seed + i) and the policy's sampling.")] = 0,
    deterministic: Annotated[
        bool, typer.Option("--deterministic/--stochastic", help="The policy's mean action, or samples from it.")
    ] = True,
    noise: Annotated[
        float,
        typer.Option(
            help="Act with Gaussian noise of this many half action ranges and keep the policy's own actions as "
            "the labels (DART; 0.1 makes clones recover from their own mistakes)."
        ),
    ] = 0.0,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    env: Annotated[str | None, typer.Option(help="Env id (default: the run's).")] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    model: Annotated[str, typer.Option(help="For a run folder: best, final, or a checkpoint percentage.")] = "best",
    algo: Annotated[str | None, typer.Option(help="Algorithm, for a model.zip not written by simrl.")] = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Record a policy's demonstrations: whole episodes with observations, actions, rewards, episode
    boundaries and where they came from, in one npz file (for behaviour cloning, DAgger, seeded SAC).

    The env and its parameters are the run's (as 'simrl eval' meets them) unless overridden; the episodes
    run as eval's do, so '--seed 1000000' (eval's seed) repeats what 'simrl eval' measures.
    """
    from simrl import api
    from simrl.experiments import config as cfg

    demos = api.collect(
        target,
        episodes=episodes,
        out=out,
        seed=seed,
        deterministic=deterministic,
        noise=noise,
        force=force,
        env_id=env,
        env_params=cfg.parse_env_params(env_param or []),
        env_kwargs=cfg.parse_env_kwargs(env_kwarg or []),
        which=model,
        algo=algo,
        device=device,
    )
    episodes_ = f"{demos.n_episodes} episode{'s' * (demos.n_episodes != 1)}"
    print(
        f"collected {episodes_}, {len(demos):,} steps on {demos.env_id}: "
        f"return {demos.mean_return:.2f} ± {demos.std_return:.2f}; wrote {out}"
    )


def _eval_grid(target: Path, resolved, axes, out: Path | None, json_: bool) -> None:
    from rich.table import Table

    from simrl.experiments.targets import evaluate_robustness, robustness_outputs

    report = evaluate_robustness(resolved, axes, robustness_outputs(target, out))
    if json_:
        print(json.dumps(report))
        return
    names = list(report["axes"])
    t = Table(title=f"mean return per cell, {report['episodes']} episodes each ({report['env_id']})")
    if len(names) == 1:
        t.add_column(names[0])
        t.add_column("mean", justify="right")
        t.add_column("std", justify="right")
        for v, m, s in zip(report["axes"][names[0]], report["mean"], report["std"], strict=True):
            t.add_row(f"{v:g}", f"{m:.1f}", f"{s:.1f}")
    else:
        t.add_column(f"{names[0]} \\ {names[1]}")
        for v in report["axes"][names[1]]:
            t.add_column(f"{v:g}", justify="right")
        for v, row in zip(report["axes"][names[0]], report["mean"], strict=True):
            t.add_row(f"{v:g}", *(f"{m:.1f}" for m in row))
    c = _console()
    c.print(t)
    c.print(f"wrote {report['csv']} and {report['png']}")


@app.command()
def record(
    target: Annotated[Path, typer.Argument(help="A run folder or a model.zip.")],
    checkpoint: Annotated[str, typer.Option(help="For a run folder: a percentage, best, final or all.")] = "best",
    episodes: Annotated[int, typer.Option(help="Episodes per policy.")] = 1,
    out: Annotated[Path | None, typer.Option(help="The mp4 to write (the gif goes beside it).")] = None,
    env: Annotated[str | None, typer.Option(help="Env id (default: the run's).")] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Record videos (mp4 at full rate, a small gif) of a policy, or of every checkpoint in turn."""
    from simrl.experiments import config as cfg
    from simrl.experiments.recording import record as record_video

    rec = record_video(
        target,
        checkpoint=checkpoint,
        episodes=episodes,
        out=out,
        env_id=env,
        env_params=cfg.parse_env_params(env_param or []),
        env_kwargs=cfg.parse_env_kwargs(env_kwarg or []),
        device=device,
    )
    c = _console()
    for label, returns in rec.returns.items():
        c.print(f"  {label:24s} return {', '.join(f'{r:.1f}' for r in returns)}")
    c.print(f"wrote {rec.mp4} ({rec.frames} frames) and {rec.gif}")


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run folder, or a study folder ('simrl tune').")],
    video: Annotated[
        bool, typer.Option("--video", help="Also record every checkpoint: videos/NNN.mp4 and .gif, shown on the page.")
    ] = False,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Write RUN_DIR/plots/*.png and RUN_DIR/report.html (one self-contained page).

    For a study folder, write STUDY/report.html from its results.json, plots and confirmation.
    """
    from simrl.experiments.hpo_report import is_study
    from simrl.utils.device import check_device

    if is_study(run_dir):
        if video:
            raise SimrlError("--video records a run folder's checkpoints, not a study's", "report a trial's run")
        _console().print(f"wrote {_study_report(run_dir)}", markup=False)
        return
    check_device(device)
    _write_report(run_dir, video=video, device=device)


def _write_report(run_dir: Path, *, video: bool, device: str = "cpu") -> None:
    """``simrl report``'s work and its lines, also run by ``train --report`` and ``resume --report``."""
    from simrl.experiments.reporting import report as make_report

    r = make_report(run_dir, video=video, device=device)
    m = r["metrics"]
    c = _console()
    c.print(
        f"final {m['final_mean']:.1f} ± {m['final_std']:.1f}   IQM {m['iqm']:.1f} "
        f"[{m['iqm_ci'][0]:.1f}, {m['iqm_ci'][1]:.1f}]   random {m['random_mean']:.1f}"
    )
    if r["no_video"]:
        _console(stderr=True).print(f"no videos: {r['no_video']}", markup=False)
    videos = f", {len(r['videos'])} videos" if r["videos"] else ""
    c.print(f"wrote {r['html']} and {len(r['plots'])} plots{videos} in {r['seconds']:.1f} s", markup=False)


@app.command()
def compare(
    run_dirs: Annotated[
        list[Path], typer.Argument(help="Run folders, or sweep folders (their runs, grouped by what the sweep varies).")
    ],
    group_by: Annotated[
        list[str] | None, typer.Option(help="Config key to group by (repeatable; dotted: hyperparams.gamma).")
    ] = None,
    out: Annotated[Path, typer.Option(help="Folder for compare.json, the plots and compare.html.")] = Path("compare"),
    grid: Annotated[
        list[str] | None, typer.Option(help="Robustness grid NAME=LOW:HIGH:N: each group's map and their difference.")
    ] = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Compare groups of runs: IQM with 95% CIs, probability of improvement, IQM curves, profiles."""
    from rich.table import Table

    from simrl.experiments import config as cfg
    from simrl.experiments.reporting import compare as make_compare
    from simrl.experiments.sweep import expand as expand_sweeps
    from simrl.utils.device import check_device

    axes = cfg.parse_grid(grid) if grid else None
    cfg.check_out_dir(out, "--out")
    check_device(device)
    run_dirs, swept = expand_sweeps(run_dirs)
    r = make_compare(run_dirs, group_by=group_by or swept or None, out=out, grid=axes, device=device)
    t = Table(title="final evaluation return per group (one score per run)")
    for col in ("group", "runs", "IQM [95% CI]", "mean", "median"):
        t.add_column(col, justify="left" if col == "group" else "right")
    for g in r.comparison.groups:
        few = " [yellow](warning: fewer than 3)[/]" if g.warning else ""
        ci = f"{g.iqm:.1f} [{g.iqm_ci[0]:.1f}, {g.iqm_ci[1]:.1f}]" if g.iqm_ci else f"{g.iqm:.1f} (no CI)"
        t.add_row(g.group, f"{g.n_runs}{few}", ci, f"{g.mean:.1f}", f"{g.median:.1f}")
    c = _console()
    c.print(t)
    for p in r.comparison.pairs:
        ci = f"[{p.ci[0]:.2f}, {p.ci[1]:.2f}]" if p.ci else "(no CI: a group of one run)"
        c.print(f"P({p.x} > {p.y}) = {p.p_x_better:.2f} {ci}")
    if any(g.info for g in r.comparison.groups):
        c.print(_info_table("final evaluation, mean over runs", {g.group: g.info for g in r.comparison.groups}))
    c.print(f"wrote {r.html} and compare.json in {r.seconds:.1f} s")


_CONFIRM_HELP = "After the study, retrain the best and the default settings on N fresh seeds ('simrl confirm')."


@app.command()
def tune(
    algo: Annotated[
        str,
        typer.Argument(help="ppo, sac, td3, a2c, tqc, crossq; mpc or mbpo (model-based); bc, dagger or seeded-sac."),
    ],
    env_id: Annotated[str, typer.Argument(help="A registered Gymnasium id, e.g. simrl/Pendulum-v0.")],
    trials: Annotated[int, typer.Option(help="Finished (complete or pruned) trials the study should reach.")] = 20,
    seeds_per_trial: Annotated[int, typer.Option(help="Seeds trained per trial; the trial scores their IQM.")] = 1,
    score: Annotated[str, typer.Option(help="iqm or mean of the seeds' final evaluation means.")] = "iqm",
    space: Annotated[Path | None, typer.Option(help="Search space YAML (default: the algorithm's).")] = None,
    fix: Annotated[
        list[str] | None, typer.Option("--fix", help="Pin a hyper-parameter KEY=VALUE, as --set (repeatable).")
    ] = None,
    sampler: Annotated[str, typer.Option(help="tpe, random, cmaes or gp.")] = "tpe",
    pruner: Annotated[str, typer.Option(help="median, halving or none.")] = "median",
    n_evaluations: Annotated[int, typer.Option(help="Evaluations per trial run (what the pruner sees).")] = 5,
    timesteps: Annotated[int | None, typer.Option(help="Environment steps per run (default: the preset's).")] = None,
    n_envs: Annotated[int | None, typer.Option(help="Parallel training envs (default: the preset's).")] = None,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per evaluation.")] = 10,
    timeout: Annotated[float | None, typer.Option(help="Stop starting trials after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="First training seed of every trial; seeds the sampler.")] = 0,
    storage: Annotated[
        str | None, typer.Option(help="sqlite:///FILE or postgresql://... (default: a journal file in the study).")
    ] = None,
    heartbeat: Annotated[
        float,
        typer.Option(
            metavar="SECONDS",
            help="How often a worker on a database storage signals it is alive; a worker silent for 3 heartbeats "
            "has its trial failed and retried.",
        ),
    ] = 30.0,
    out: Annotated[Path, typer.Option(help="Parent folder of the study folder.")] = Path("runs"),
    name: Annotated[str | None, typer.Option(help="Study folder and name (default: tune-<algo>-<env>).")] = None,
    warm_start: Annotated[
        Path | None,
        typer.Option(help="Start from this finished study: its comparable trials added, its best tried first."),
    ] = None,
    narrow: Annotated[
        float | None, typer.Option(help="With --warm-start: ranges F times narrower around its best value.")
    ] = None,
    device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda.")] = "auto",
    confirm_: Annotated[int, typer.Option("--confirm", help=_CONFIRM_HELP)] = 0,
    demos: Annotated[Path | None, typer.Option(help="bc, dagger, seeded-sac: as 'simrl train --demos'.")] = None,
    expert: Annotated[Path | None, typer.Option(help="bc, dagger, seeded-sac: as 'simrl train --expert'.")] = None,
    demo_episodes: Annotated[int | None, typer.Option(help="As 'simrl train --demo-episodes'.")] = None,
    workers: Annotated[
        int, typer.Option(help="Workers of the study: trials trained at once (local processes, or on --ray).")
    ] = 1,
    ray: RayOpt = None,
    retries: RetriesOpt = 2,
) -> None:
    """Search ALGO's hyper-parameters on ENV_ID with Optuna; each trial's seeds are ordinary run folders.

    Running the same command again continues the study to --trials finished trials. Writes results.json,
    trials.csv, best.yaml (for 'simrl train --hyperparams'), space.yaml, plots/ and report.html in the
    study folder. A round: --warm-start a finished study, searching a narrower --space (its parameters left
    out stay at their best values) or the same one --narrow'ed around the best.
    """
    from simrl.experiments import config as cfg
    from simrl.experiments import hpo, hpo_warm
    from simrl.experiments import hpo_results as results
    from simrl.experiments.spaces import default_space, read_space

    cfg.check_out_dir(out, "--out")
    if confirm_ < 0:
        raise SimrlError(f"--confirm must be at least 0, got {confirm_}")
    executor = _executor(workers, ray, retries)
    folder_name = name or f"tune-{algo.lower()}-{env_id.replace('/', '-')}"
    if not folder_name or "/" in folder_name or folder_name in (".", ".."):
        raise SimrlError(f"--name {folder_name!r} is not a folder name")
    if narrow is not None and warm_start is None:
        raise SimrlError("--narrow needs --warm-start", "narrow around the best of a finished study")
    source = hpo_warm.read_source(warm_start) if warm_start is not None else None
    if source is not None and source.folder.resolve() == (out / folder_name).resolve():
        raise SimrlError(f"--warm-start '{warm_start}' is the study itself", "give the new round another --name")
    if space is not None:
        searched = read_space(space)
    else:
        searched = source.space if source is not None else default_space(algo.lower(), env_id)
    settings = hpo.StudySettings(
        algo=algo,
        env_id=env_id,
        folder=out / folder_name,
        space=searched,
        fixed=hpo.parse_fixes(fix or []),
        trials=trials,
        seeds_per_trial=seeds_per_trial,
        seed=seed,
        score=score,
        sampler=sampler,
        pruner=pruner,
        n_evaluations=n_evaluations,
        timesteps=timesteps,
        n_envs=n_envs,
        eval_episodes=eval_episodes,
        timeout=timeout,
        storage=storage,
        device=device,
        heartbeat=heartbeat,
        demos=str(demos.resolve()) if demos is not None else None,
        expert=str(expert.resolve()) if expert is not None else None,
        demo_episodes=demo_episodes,
    )
    settings_fixed = settings.fixed
    if source is not None:
        settings = hpo_warm.warm_settings(settings, source, space_given=space is not None, narrow=narrow)
    plan = hpo.prepare(settings)
    c = _console()
    c.print(f"study {plan.settings.folder}: {len(plan.space)} parameters, {trials} trials x {seeds_per_trial} seed(s)")
    if source is not None:
        for key, p in plan.space.items():
            span = f"[{p.low:.4g}, {p.high:.4g}]" if p.type != "categorical" else f"{len(p.choices)} choices"
            c.print(f"  search {key} {span}", markup=False)
        carried = {k: v for k, v in plan.settings.fixed.items() if k in source.best_params and k not in settings_fixed}
        if carried:
            c.print(f"  fixed at {source.name}'s best: {json.dumps(carried)}", markup=False)
    c.print(f"watch it live: optuna-dashboard {shlex.quote(plan.settings.storage_label)}", markup=False)

    def write(study) -> None:
        results.write_tables(plan.settings.folder, results.collect(plan, study))

    def seed(study) -> None:
        if source is None:
            return
        added, enqueued = hpo_warm.seed_study(study, plan, source)
        if added or enqueued:
            best = f"; its best (trial {source.best_number}) is tried first" if enqueued else ""
            c.print(f"warm start from {source.name}: {len(added)} of its trials added{best}", markup=False)

    if executor.workers == 1 and executor.ray is None:
        study = hpo.run_study(plan, log=lambda line: c.print(line, markup=False), after_trial=write, on_open=seed)
    else:  # N workers of one study (run_study's rule ends it at exactly --trials), as N 'simrl tune' would be
        from simrl.experiments.executor import run_tasks

        hpo.open_study(plan, on_open=seed)
        where = f"Ray ({executor.ray})" if executor.ray else "local processes"
        c.print(f"{executor.workers} workers of the study on {where}", markup=False)
        outcomes = run_tasks(results.study_worker, {i: (plan, i) for i in range(executor.workers)}, executor)
        for i, o in outcomes.items():
            if not o.ok:
                c.print(f"worker {i} failed after {o.attempts} attempts: {o.error}", markup=False)
        study = hpo.open_study(plan)
    summary = results.collect(plan, study)
    written = results.write_tables(plan.settings.folder, summary)
    plots = results.write_plots(plan.settings.folder, study)
    if summary.best_number is not None:
        c.print(f"best: trial {summary.best_number}, {score} {summary.best_value:.2f}", markup=False)
        for key, value in summary.best_params.items():
            c.print(f"  {key} = {json.dumps(value)}", markup=False)
    else:
        c.print("no trial completed", markup=False)
    c.print(
        f"wrote {', '.join(p.name for p in written)} and {len(plots)} plots in {plan.settings.folder}", markup=False
    )
    c.print(f"wrote {_study_report(plan.settings.folder)}", markup=False)
    if confirm_:
        _confirm(plan.settings.folder, confirm_, device)


@app.command()
def confirm(
    study: Annotated[Path, typer.Argument(help="A study folder written by 'simrl tune'.")],
    seeds: Annotated[int, typer.Option(help="Fresh seeds per group (the tuned and the default settings).")] = 10,
    device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda.")] = "auto",
) -> None:
    """Retrain a study's best and default settings on fresh seeds: does tuning beat the defaults?

    'default' is the preset with the study's --fix values, trained as the trials were; the seeds start at
    the study's seed + 1000. Writes STUDY/confirm/ (run folders tuned/s<seed> and default/s<seed>,
    compare.json, compare.html, confirm.json) and STUDY/report.html. Running it again continues.
    """
    _confirm(study, seeds, device)


def _confirm(folder: Path, seeds: int, device: str) -> None:
    """``simrl confirm``'s work and its lines, also run by ``tune --confirm``."""
    from simrl.evaluation.report import format_ci
    from simrl.experiments.hpo_confirm import confirm as run_confirm
    from simrl.experiments.hpo_confirm import prepare_confirm

    plan = prepare_confirm(folder, seeds, device=device)
    c = _console()
    s = plan.study
    c.print(
        f"confirm trial {s.best_number} of study {s.study} ({s.score} {s.best_value:.2f} on seed(s) "
        f"{', '.join(str(s.seed + i) for i in range(s.seeds_per_trial))}) against the default on fresh seed(s) "
        + (f"{plan.seeds[0]}..{plan.seeds[-1]}" if len(plan.seeds) > 1 else str(plan.seeds[0])),
        markup=False,
    )
    c.print(f"default: {plan.default_means}", markup=False)
    r = run_confirm(plan, log=lambda line: c.print(line, markup=False))
    res = r.result
    for g in (res.tuned, res.default):
        iqm = format_ci(g.iqm, *g.iqm_ci) if g.iqm_ci else f"{g.iqm:.2f} (one run: no CI)"
        c.print(f"  {g.name:8s} IQM {iqm}   mean {g.mean:.2f}   {len(g.runs)} runs", markup=False)
    for note in res.notes:
        c.print(f"note: {note}", markup=False)
    c.print(res.line, markup=False)
    html = _study_report(folder)
    runs = f"{r.trained} run{'s' * (r.trained != 1)}"
    c.print(f"trained {runs}; wrote {r.json}, {r.compare_html} and {html} in {r.seconds:.1f} s", markup=False)


def _study_report(folder: Path) -> Path:
    from simrl.experiments.hpo_report import write_study_report

    return write_study_report(folder)


_ARM_SET_HELP = "A hyper-parameter of one arm, ARM:KEY=VALUE (repeatable), e.g. mpc-cem:horizon=15."


@app.command()
def mbrl(
    env: Annotated[str, typer.Option("--env", help="A registered Gymnasium id, e.g. simrl/Pendulum-v0.")],
    timesteps: Annotated[
        int | None, typer.Option(help="Env steps per run (default: the mpc preset's for the env).")
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per arm (0, 1, ...).")] = 3,
    arm: Annotated[
        list[str] | None, typer.Option(help="An arm to run (repeatable): mpc-random, mpc-cem, mbpo, sac. Default: all.")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Folder for the runs and the page (default: mbrl/<env>).")] = None,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per evaluation.")] = 10,
    eval_freq: Annotated[int | None, typer.Option(help="Evaluate every N env steps (default: a tenth).")] = None,
    target: Annotated[
        float | None, typer.Option(help="A return to reach: the page says when each arm first did.")
    ] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help=_ARM_SET_HELP)] = None,
    device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda.")] = "auto",
) -> None:
    """Model-based RL's whole experiment: MPC with random shooting and with CEM, MBPO and SAC on one budget.

    Every arm trains on the same env, env-step budget, evaluation schedule and seeds (ordinary run folders
    in OUT/runs); OUT/report.html compares their learning curves against env steps and against training
    wall time with IQM and 95% CIs. Running it again keeps finished runs and resumes unfinished ones.
    """
    from simrl.experiments import config as cfg
    from simrl.experiments.mbrl_experiment import ARMS, default_budget, run_experiment

    arms = list(arm or ARMS)
    sets: dict[str, list[str]] = {}
    for item in set_ or []:
        name, sep, rest = item.partition(":")
        if not sep or name not in ARMS or "=" not in rest:
            raise SimrlError(f"--set expects ARM:KEY=VALUE with ARM one of {', '.join(ARMS)}, got '{item}'")
        sets.setdefault(name, []).append(rest)
    if seeds < 1:
        raise SimrlError(f"--seeds must be at least 1, got {seeds}")
    folder = cfg.check_out_dir(out or Path("mbrl") / env.replace("/", "-"), "--out")
    c = _console()
    result = run_experiment(
        env,
        out=folder,
        arms=arms,
        timesteps=timesteps or default_budget(env),
        seeds=list(range(seeds)),
        eval_episodes=eval_episodes,
        eval_freq=eval_freq,
        target=target,
        sets=sets,
        device=device,
        log=lambda line: c.print(line, markup=False),
    )
    for g in result.comparison.groups:
        ci = f"[{g.iqm_ci[0]:.1f}, {g.iqm_ci[1]:.1f}]" if g.iqm_ci else "(one run: no CI)"
        c.print(f"  {g.group:11s} final IQM {g.iqm:.1f} {ci}", markup=False)
    c.print(f"wrote {result.html}", markup=False)


_SWEEP_GRID_HELP = (
    "KEY=V1,V2 (repeatable; every combination is a run): a hyper-parameter as --set takes it "
    "(model.hidden=[64,64],[128,128]), env_param.NAME for a simulator parameter, env_kwarg.NAME for an env argument."
)


@app.command()
def sweep(
    algo: Annotated[str | None, typer.Argument(help="The algorithm of every run (as 'simrl train').")] = None,
    env_id: Annotated[str | None, typer.Argument(help="The env of every run.")] = None,
    out: Annotated[
        Path | None, typer.Option(help="The sweep folder (required; the same again continues the sweep there).")
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds of every setting: 0-4, 0,3,7 or 0-2,10.")] = "0",
    grid: Annotated[list[str] | None, typer.Option(help=_SWEEP_GRID_HELP)] = None,
    runs: Annotated[
        Path | None,
        typer.Option(
            help="YAML file listing runs ('runs:' of mappings: algo, env, seeds, timesteps, hyperparams, "
            "env_params, env_kwargs, eval_freq, eval_episodes, name); --seeds and --grid multiply each."
        ),
    ] = None,
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    retries: RetriesOpt = 2,
    timesteps: Annotated[
        int | None, typer.Option(help="Total environment steps per run (default: the preset's).")
    ] = None,
    n_envs: Annotated[int | None, typer.Option(help="Parallel training envs per run (default: the preset's).")] = None,
    hyperparams: Annotated[
        Path | None, typer.Option(help="YAML file of hyper-parameters (zoo layout or flat).")
    ] = None,
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Hyper-parameter override KEY=VALUE for every run (repeatable).")
    ] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    eval_env_kwarg: Annotated[
        list[str] | None,
        typer.Option(help="Env constructor argument for evaluation only, over --env-kwarg (repeatable)."),
    ] = None,
    vec_env: Annotated[str | None, typer.Option(help="dummy or subproc training envs (default: the preset's).")] = None,
    randomize: Annotated[
        list[str] | None, typer.Option(help="Uniform randomization per episode, NAME=LOW:HIGH (repeatable).")
    ] = None,
    randomize_from: Annotated[
        Path | None, typer.Option(help="npz of parameter samples (names, samples): one row per episode.")
    ] = None,
    checkpoints: Annotated[str, typer.Option(help="Checkpoint percentages.")] = "25,50,100",
    eval_freq: Annotated[
        int | None, typer.Option(help="Evaluate every N timesteps (default: 1/20 of the run).")
    ] = None,
    eval_episodes: Annotated[int, typer.Option(help="Episodes per evaluation.")] = 10,
    device: Annotated[str, typer.Option(help="Torch device: auto, cpu, cuda.")] = "auto",
    demos: Annotated[Path | None, typer.Option(help="Imitation learners: the demonstrations of every run.")] = None,
    expert: Annotated[Path | None, typer.Option(help="Imitation learners: the expert of every run.")] = None,
    demo_episodes: Annotated[
        int | None, typer.Option(help="Imitation learners: episodes of the demonstrations.")
    ] = None,
) -> None:
    """Many runs from one command: seeds, grids or a YAML list, each an ordinary run folder in one sweep folder.

    'simrl sweep sac simrl/Pendulum-v0 --seeds 0-4 --grid learning_rate=1e-3,3e-4 --out sweeps/lr' trains 10 runs
    on as many worker processes as there are cores (--workers N), or on a Ray cluster (--ray auto). Every run is
    checked before anything starts. The same command again (or 'simrl sweep --out FOLDER' alone) continues the
    sweep: finished runs are kept, interrupted ones resumed from their newest checkpoint, failed ones tried again.
    A failing run is tried --retries more times and never stops the others. 'simrl compare FOLDER' compares the
    settings, grouped by what the sweep varies.
    """
    from simrl.experiments import config as cfg
    from simrl.experiments import sweep as sw

    if out is None:
        raise SimrlError("simrl sweep needs --out FOLDER, the sweep folder", "e.g. --out sweeps/lr")
    settings = _executor(workers, ray, retries)
    asked = algo is not None or env_id is not None or runs is not None
    if not asked:
        plan_ = sw.open_sweep(out)  # continue the sweep stored there
    else:
        if runs is not None and (algo is not None or env_id is not None):
            raise SimrlError("give ALGO ENV_ID or --runs FILE, not both", "the file names each run's algo and env")
        if runs is None and (algo is None or env_id is None):
            raise SimrlError("simrl sweep needs ALGO ENV_ID (or --runs FILE)", "e.g. simrl sweep sac simrl/Pendulum-v0")
        cfg.check_out_dir(out, "--out")
        base = _run_options(
            timesteps=timesteps,
            n_envs=n_envs,
            hyperparams=hyperparams,
            set_=set_,
            env_param=env_param,
            env_kwarg=env_kwarg,
            eval_env_kwarg=eval_env_kwarg,
            vec_env=vec_env,
            randomize=randomize,
            randomize_from=randomize_from,
            checkpoints=checkpoints,
            eval_freq=eval_freq,
            eval_episodes=eval_episodes,
            device=device,
            demos=demos,
            expert=expert,
            demo_episodes=demo_episodes,
        )
        if algo is not None:
            base.update(algo=algo, env_id=env_id)
        entries = sw.read_runs_file(runs) if runs is not None else None
        planned, group_by = sw.plan(
            base, seeds=sw.parse_seeds(seeds), grid=sw.parse_grid(grid or []), runs_file=entries
        )
        plan_ = sw.prepare(out, planned, group_by, _command_line())
    _run_sweep(plan_, settings)


def _run_sweep(plan_, settings) -> None:
    import time

    from rich.live import Live
    from rich.table import Table

    from simrl.experiments import sweep as sw

    c = _console(stderr=True)
    n = min(settings.workers, len(plan_.runs))
    where = f"Ray ({settings.ray})" if settings.ray else f"{n} local worker{'s' if n > 1 else ''}"
    c.print(f"sweep {plan_.folder}: {len(plan_.runs)} runs on {where}", markup=False)

    def view(state):
        from rich.console import Group
        from rich.text import Text

        n = state.counts()
        head = (
            f"{n['done']} done, {n['running']} running, {n['pending']} pending, {n['failed']} failed "
            f"of {len(plan_.runs)}   {time.monotonic() - state.started:.0f} s"
        )
        t = Table()
        for col in ("run", "step", "attempt"):
            t.add_column(col, justify="left" if col == "run" else "right")
        for name, status in state.status.items():
            if status == "running":
                step, total = state.steps.get(name, (0, 0))
                t.add_row(name, f"{step:,} / {total:,}" if total else "starting", str(state.attempts.get(name, 1)))
        return Group(Text(head), t) if t.row_count else Text(head)

    live = Live(console=c, refresh_per_second=2, transient=True) if c.is_terminal else None

    def on_change(state, name, what) -> None:
        if what == "start":  # queued; "running" follows when its worker starts it
            return
        if live is None or what in ("done", "failed", "retry"):
            error = f": {state.errors.get(name)}" if what in ("failed", "retry") else ""
            mean = state.results.get(name, {}).get("final_mean")
            tail = f" (final evaluation {mean:.1f})" if what == "done" and mean is not None else ""
            c.print(f"{what:7s} {name} attempt {state.attempts.get(name, 1)}{tail}{error}", markup=False)
        if live is not None:
            live.update(view(state))

    with live or contextlib.nullcontext():
        state = sw.execute(plan_, settings, on_change=on_change, poll=lambda s: live and live.update(view(s)))
    _print_sweep_summary(plan_, state)


def _print_sweep_summary(plan_, state) -> None:
    from rich.table import Table

    t = Table(title=f"sweep {plan_.folder}")
    for col in ("run", "status", "attempts", "timesteps", "final eval", "wall s"):
        t.add_column(col, justify="left" if col in ("run", "status") else "right")
    for r in plan_.runs:
        res = state.results.get(r.name, {})
        mean, wall = res.get("final_mean"), res.get("wall_time_s")
        t.add_row(
            r.name,
            state.status.get(r.name, "pending"),
            str(state.attempts.get(r.name, 0)),
            f"{res.get('timesteps') or 0:,}",
            f"{mean:.1f}" if mean is not None else "",
            f"{wall:.0f}" if wall is not None else "",
        )
    c = _console()
    c.print(t)
    n = state.counts()
    c.print(
        f"{n['done']} of {len(plan_.runs)} runs done; compare them with: simrl compare {shlex.quote(str(plan_.folder))}"
    )
    if n["failed"] or n["pending"]:
        failed = [name for name, s in state.status.items() if s != "done"]
        print(
            f"simrl: {len(failed)} of {len(plan_.runs)} runs did not finish ({', '.join(failed[:5])}"
            f"{', ...' if len(failed) > 5 else ''}; errors in {plan_.folder / 'status.json'}; "
            f"the same command again retries them)",
            file=sys.stderr,
        )
        raise typer.Exit(1)


@app.command()
def envs() -> None:
    """List simrl's environments with their sizes and simulator parameters."""
    from rich.markup import escape
    from rich.table import Table

    from simrl.experiments.targets import describe_envs

    t = Table(title="simrl environments")
    for col in ("id", "obs", "act", "steps", "reward=", "parameters: default \\[low, high] unit"):
        t.add_column(col)
    for row in describe_envs():
        t.add_row(
            row["id"],
            str(row["obs"]),
            str(row["act"]),
            str(row["max_steps"]),
            "\n".join(row["rewards"]),
            "\n".join(
                escape(f"{p['name']} = {p['default']:g} [{p['low']:g}, {p['high']:g}] {p['unit']}")
                for p in row["params"]
            ),
        )
    _console().print(t)


@app.command()
def play(
    env_id: Annotated[str, typer.Argument(help="A registered id with a Box action space, e.g. simrl/Pendulum-v0.")],
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    seed: Annotated[int, typer.Option(help="Seeds the first episode.")] = 0,
    fps: Annotated[float | None, typer.Option(help="Steps per second (default: the env's render_fps or 30).")] = None,
    scale: Annotated[float, typer.Option(help="Size of the frame on screen relative to the env's.")] = 1.0,
    frames: Annotated[int | None, typer.Option(help="Stop after N frames (default: when you quit).")] = None,
) -> None:
    """Drive ENV_ID yourself from the keyboard, to feel how hard the task is.

    Each action dimension has a pair of keys: hold the first for the action's high, the second for
    its low, neither for 0. The env may declare its own pairs (KEYS); otherwise dimensions 0, 1, ...
    get q/a, w/s, e/d, r/f, t/g, y/h, u/j, i/k. With one dimension the right/left arrows work too.

    Backspace resets the episode, Space pauses, Escape or closing the window quits. Episodes that
    end reset by themselves; their returns are printed at the end.
    """
    from simrl.envs.play import play as play_env
    from simrl.envs.vec import check_env_kwargs, env_spec, param_space
    from simrl.experiments import config as cfg

    env_spec(env_id)
    params = dict(param_space(env_id).make(cfg.parse_env_params(env_param or [])))
    env_kwargs = check_env_kwargs(env_id, cfg.parse_env_kwargs(env_kwarg or []))
    result = play_env(
        env_id, params=params, env_kwargs=env_kwargs, seed=seed, fps=fps, scale=scale, max_frames=frames, log=print
    )
    if result.returns:
        returns = ", ".join(f"{r:.1f}" for r in result.returns)
        mean = sum(result.returns) / len(result.returns)
        print(f"{len(result.returns)} episode(s) ended, returns {returns} (mean {mean:.1f})")
    else:
        print(f"no episode ended in {result.frames} frames")


@app.command()
def watch(
    target: Annotated[Path, typer.Argument(help="A run folder or a model.zip.")],
    checkpoint: Annotated[str, typer.Option(help="For a run folder: a percentage, best, final or all.")] = "best",
    episodes: Annotated[
        int | None, typer.Option(help="Episodes to show (default: until the window is closed; one each for all).")
    ] = None,
    env: Annotated[str | None, typer.Option(help="Env id (default: the run's).")] = None,
    env_param: ParamOpt = None,
    env_kwarg: KwargOpt = None,
    deterministic: Annotated[
        bool, typer.Option("--deterministic/--stochastic", help="The policy's mean action, or samples from it.")
    ] = True,
    seed: Annotated[int | None, typer.Option(help="Seeds the first episode (default: the evaluation's).")] = None,
    device: Annotated[str, typer.Option(help="Torch device.")] = "cpu",
) -> None:
    """Watch a trained policy live in the env's window, in real time; each episode's return is printed.

    Close the window (Escape in simrl's envs) or press Ctrl-C to stop. Needs a display; without one,
    'simrl record' writes a video instead.
    """
    from simrl.evaluation.evaluate import EVAL_SEED
    from simrl.experiments import config as cfg
    from simrl.experiments.watching import watch as watch_policy

    returns = watch_policy(
        target,
        checkpoint=checkpoint,
        episodes=episodes,
        env_id=env,
        env_params=cfg.parse_env_params(env_param or []),
        env_kwargs=cfg.parse_env_kwargs(env_kwarg or []),
        deterministic=deterministic,
        seed=EVAL_SEED if seed is None else seed,
        device=device,
        log=print,
    )
    for label, rets in returns.items():
        if rets:
            print(f"{label}: {len(rets)} episode(s), mean return {sum(rets) / len(rets):.1f}")


@app.command()
def bayessim(
    preset: Annotated[str, typer.Option(help="smoke (< 90 s), quick (< 8 min) or full (5 seeds).")] = "quick",
    true_param: Annotated[
        list[str] | None,
        typer.Option(help="The real system, NAME=VALUE (repeatable; default mass=1.3 length=0.8)."),
    ] = None,
    observations: Annotated[int | None, typer.Option(help="Trajectories recorded on the real system.")] = None,
    seeds: Annotated[str | None, typer.Option(help="Training seeds, comma-separated (default: the preset's).")] = None,
    simulations: Annotated[int | None, typer.Option(help="Simulations per round.")] = None,
    rounds: Annotated[int | None, typer.Option(help="Sequential inference rounds.")] = None,
    components: Annotated[int | None, typer.Option(help="Mixture components of the MDN.")] = None,
    summary: Annotated[
        str | None, typer.Option(help="Summary statistics: bayessim, bayessim-sa (with state-action terms) or raw.")
    ] = None,
    timesteps: Annotated[int | None, typer.Option(help="PPO budget per policy.")] = None,
    collect: Annotated[Path | None, typer.Option(help="Collect data with this run's policy (default: random).")] = None,
    posterior: Annotated[Path | None, typer.Option(help="Reuse a saved posterior folder instead of fitting.")] = None,
    out: Annotated[Path, typer.Option(help="Parent folder.")] = Path("runs"),
    workers: WorkersOpt = None,
    ray: RayOpt = None,
    retries: RetriesOpt = 2,
) -> None:
    """BayesSim: infer the pendulum's mass and length, train PPO on posterior vs uniform randomization, compare.

    Observes a "real" pendulum, fits a mixture density network posterior over its parameters from simulations,
    trains PPO on posterior and on uniform randomization (same budget and seeds) and evaluates both on the real
    system, on named test systems and over the prior box. Writes runs/bayessim-<time>/ with report.html.
    The policies train on --workers local processes or on a Ray cluster (--ray), as 'simrl sweep' runs.
    """
    from simrl.experiments import bayessim as bs
    from simrl.experiments import config as cfg

    seed_list = None
    if seeds is not None:
        try:
            seed_list = tuple(int(s) for s in seeds.split(",") if s.strip())
        except ValueError:
            raise SimrlError(f"--seeds expects comma-separated integers, got '{seeds}'") from None
    from simrl.inference.summaries import SUMMARIES

    if summary is not None and summary not in SUMMARIES:
        raise SimrlError(f"unknown summary '{summary}'", f"choose one of: {', '.join(SUMMARIES)}")
    p = bs.resolve_preset(
        preset,
        observations=observations,
        seeds=seed_list,
        simulations=simulations,
        rounds=rounds,
        components=components,
        summary=summary,
        timesteps=timesteps,
    )
    truth = {k: v for k, v in cfg.parse_env_params(true_param or []).items()}
    c = _console()
    executor = _executor(workers, ray, retries)
    result = bs.run(p, truth=truth, out=out, collect=collect, posterior_dir=posterior, executor=executor, log=c.print)
    _print_bayessim(result, c)


def _print_bayessim(result, c) -> None:
    from rich.table import Table

    s = result.summary
    c.print(
        "posterior mean "
        + ", ".join(f"{k} {v:.3f}" for k, v in s.inference.posterior_mean.items())
        + "   truth "
        + ", ".join(f"{k} {v:g}" for k, v in s.true_params.items())
    )
    t = Table(title="mean return per system (over seeds), posterior vs uniform randomization")
    for col in ("system", "uniform", "posterior", "improvement [95% CI]", "P(posterior > uniform)"):
        t.add_column(col, justify="left" if col == "system" else "right")
    for system, res in s.systems.items():
        imp = res.improvement
        ci = f" [{imp.ci[0]:+.1f}, {imp.ci[1]:+.1f}]" if imp.ci else ""
        t.add_row(
            system,
            f"{res.uniform.mean:.1f}",
            f"{res.posterior.mean:.1f}",
            f"{imp.percent:+.1f}%{ci}",
            f"{imp.p_posterior_better:.2f} [{imp.p_ci[0]:.2f}, {imp.p_ci[1]:.2f}]",
        )
    imp = s.overall
    ci = f" [{imp.ci[0]:+.1f}, {imp.ci[1]:+.1f}]" if imp.ci else ""
    t.add_row("Overall", "", "", f"{imp.percent:+.1f}%{ci}")
    c.print(t)
    c.print(f"wrote {result.folder} (report.html, summary.json) in {result.seconds:.0f} s")


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Parent folder of run folders.")] = Path("runs"),
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """A short job: PPO on simrl/Pendulum-v0 with its preset, evaluated against the random policy."""
    from simrl import api
    from simrl.experiments import config as cfg
    from simrl.experiments.training import default_run_name

    config = cfg.resolve("ppo", "simrl/Pendulum-v0", seed=seed)
    run = api.start(config, out=out, name="demo-" + default_run_name(config), command=_command_line())
    _run_training(run)


_argv: list[str] = []


def _command_line() -> str:
    return shlex.join(["simrl", *_argv])


def _interrupted_line(e: Interrupted) -> str:
    """One line: which signal, and how to resume the run it cut short (if one was training)."""
    line = f"simrl: interrupted by {e}"
    if _training:
        run = _training[0]
        done = run.meta.get("timesteps_done", 0)
        line += (
            f" at step {run.trainer.num_timesteps:,} of {run.total:,}; the newest checkpoint holds {done:,} steps"
            f" (resume with: simrl resume {shlex.quote(str(run.dir))})"
        )
    return line


@contextlib.contextmanager
def _signals_raise_interrupted():
    """SIGINT and SIGTERM raise :class:`Interrupted` (which Typer does not swallow as it does Ctrl-C)."""
    if threading.current_thread() is not threading.main_thread():  # signal handlers live in the main thread
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> None:
    """Entry point: user mistakes print one line and exit 2; an interrupt one line and 128 + its signal;
    bugs keep their traceback."""
    # Typer vendors click privately; reach its exception bases through a public subclass.
    usage_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError")
    _argv[:] = sys.argv[1:] if argv is None else argv
    try:
        with _signals_raise_interrupted():
            code = app(args=list(_argv), standalone_mode=False)
    except SimrlError as e:
        print(e.line(), file=sys.stderr)
        raise SystemExit(2) from None
    except Interrupted as e:
        print(_interrupted_line(e), file=sys.stderr)
        raise SystemExit(128 + e.signum) from None
    except usage_error as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # `simrl` alone: Typer has printed the help
            raise SystemExit(0) from None
        hint = (
            f"see 'simrl {e.ctx.command.name} --help'"
            if e.ctx and e.ctx.command.name != "simrl"
            else "see 'simrl --help'"
        )
        print(SimrlError(e.format_message(), hint).line(), file=sys.stderr)
        raise SystemExit(2) from None
    except typer.Abort:
        print("simrl: interrupted", file=sys.stderr)
        raise SystemExit(130) from None
    except typer.Exit as e:
        raise SystemExit(e.exit_code) from None
    if isinstance(code, int) and code:  # Typer returns the code of an Exit a command raised
        raise SystemExit(code)


if __name__ == "__main__":
    main()
