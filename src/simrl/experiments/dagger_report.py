"""A DAgger run's section of ``simrl report``: its return against rounds and against expert labels.

The course's layout: the learner's evaluation return (mean ± std over the evaluation episodes) after each
evaluated round, with the expert's return on the same episodes and BC's (round 0's evaluation) as
reference lines. A run's step ``s`` ends round ``s - 1``; the expert labels up to each round are counted
in the newest checkpoint's dataset.npz (the round that added each row), and the expert's return is the
one the run measured in round 0 (the checkpoint's state).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simrl.experiments.results import RunData


@dataclass(frozen=True)
class DAggerCurve:
    """The evaluated rounds of a DAgger run and what it had learned from."""

    rounds: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    labels: np.ndarray
    """Expert labels (the demonstrations' rows included) up to each evaluated round; -1 past the checkpoint."""
    betas: np.ndarray
    expert_return: float | None
    bc_return: float | None
    """Round 0's evaluation (None when round 0 was not evaluated)."""


def dagger_curve(run: RunData) -> DAggerCurve | None:
    """The curve of a DAgger run (None when it has no checkpoint yet)."""
    from simrl.experiments.runfolder import RunFolder
    from simrl.imitation.dagger import DATASET, settings_of
    from simrl.imitation.mixing import Dataset

    folder = RunFolder.open(run.dir)
    cps = folder.checkpoints()
    if not cps:
        return None
    cp = folder.read_checkpoint(cps[-1])
    space_obs, space_act = _shapes(run)
    dataset = Dataset.load(cp.path / DATASET, space_obs, space_act)
    trainer = cp.state.get("trainer", {})
    expert = trainer.get("expert_return") if isinstance(trainer, dict) else None
    rounds = run.timesteps - 1
    mean, std = run.results.mean(axis=1), run.results.std(axis=1)
    known = rounds < cp.step
    labels = np.array([int(np.sum(dataset.rounds <= r)) if k else -1 for r, k in zip(rounds, known, strict=True)])
    settings = settings_of(run.config.hyperparams)
    return DAggerCurve(
        rounds=rounds,
        mean=mean,
        std=std,
        labels=labels,
        betas=np.array([settings.beta_at(int(r)) if r > 0 else 1.0 for r in rounds]),
        expert_return=float(expert[0]) if expert else None,
        bc_return=float(mean[0]) if rounds[0] == 0 else None,
    )


def _shapes(run: RunData) -> tuple[tuple[int, ...], tuple[int, ...]]:
    from simrl.envs.vec import make_env

    c = run.config
    env = make_env(c.env_id, c.env_params, c.env_kwargs)
    try:
        return tuple(env.observation_space.shape), tuple(env.action_space.shape)
    finally:
        env.close()


def dagger_section(run: RunData, plots_dir: Path) -> tuple[Any, list[Path]]:
    """The report's DAgger section and the plots it drew (none for a run without a checkpoint yet)."""
    from simrl.evaluation import report as page
    from simrl.evaluation.reference_plots import curve_with_references

    curve = dagger_curve(run)
    if curve is None:
        return page.Section("DAgger", [page.Paragraph("no checkpoint yet: no curves")]), []
    refs = {}
    if curve.expert_return is not None:
        refs["expert"] = curve.expert_return
    if curve.bc_return is not None:
        refs["BC (round 0)"] = curve.bc_return
    title = f"DAgger on {run.config.env_id} (seed {run.config.seed})"
    label = "DAgger: mean ± std over episodes"
    images = [
        curve_with_references(
            curve.rounds, curve.mean, curve.std, plots_dir / "dagger_rounds.png",
            title=title, xlabel="DAgger round (0: BC)", label=label, references=refs, integer_x=True,
        ),
    ]  # fmt: skip
    has = curve.labels >= 0
    if has.any():
        images.append(
            curve_with_references(
                curve.labels[has],
                curve.mean[has],
                curve.std[has],
                plots_dir / "dagger_labels.png",
                title=title,
                xlabel="expert labels (demonstrations included)",
                label=label,
                references=refs,
            )
        )
    f = page.format_value
    rows = [
        [int(r), f(float(b)), f(int(n)) if n >= 0 else "", page.format_mean_std(float(m), float(s)),
         f(_normalized(float(m), curve.expert_return, float(run.random.mean())))]
        for r, b, n, m, s in zip(curve.rounds, curve.betas, curve.labels, curve.mean, curve.std, strict=True)
    ]  # fmt: skip
    captions = [
        "Evaluation return against DAgger rounds, with the expert's and BC's (round 0) returns on the same episodes.",
        "The same returns against the expert labels the learner had been fitted to.",
    ]
    blocks: list[Any] = [page.Image(p, caption=c) for p, c in zip(images, captions, strict=False)]
    blocks.append(
        page.Table(["round", "beta", "expert labels", "return mean ± std", "normalized (random 0, expert 1)"], rows)
    )
    return page.Section("DAgger", blocks), images


def _normalized(mean: float, expert: float | None, random: float) -> float | str:
    if expert is None or expert == random:
        return ""
    return (mean - random) / (expert - random)
