"""BayesSim's inference step: simrl's MDN fit against sbi's default training, on the same simulations.

    python bench/bayessim_fit.py [--sims 10000] [--repeats 1] [--heldout 500] [--threads 1 2]

Simulates ``--sims`` pendulum parameter draws from the prior (mass, length in [0.1, 2.0]) with
the random-action collection and BayesSim's summaries, plus ``--heldout`` more, then fits the
posterior on the same data with

* sbi's defaults: ``NPE(prior, density_estimator="mdn").append_simulations(theta, x).train()``
  (10 components, batch 200, learning rate 5e-4, early stopping after 20 epochs), and
* simrl: ``MDNPosterior.fit`` (5 components, batch 512, learning rate 1e-2 with cosine decay,
  200 epochs, best validation epoch kept), once per ``--threads`` setting,

and reports the wall time of simulating (once; shared) and of training, and the held-out
log-prob: the mean over held-out simulations of ``log q(theta_j | x_j)`` at the true parameters
(untruncated mixture densities in theta space for both; higher is better). Rows are repeated
round-robin ``--repeats`` times with seeds 0, 1, ...; medians of times, means of log-probs.
Writes bench/results/bayessim_fit.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import sbi
import torch

from simrl.inference.posterior import MDNPosterior
from simrl.inference.prior import BoxPrior
from simrl.inference.settings import TrainSettings
from simrl.inference.simulate import simulator
from simrl.inference.summaries import SUMMARIES
from simrl.utils.atomic import write_json

RESULTS = Path(__file__).parent / "results" / "bayessim_fit.json"
ENV = "simrl/Pendulum-v0"


class _NullTracker:
    """sbi's Tracker protocol doing nothing (sbi would write TensorBoard logs under ./sbi-logs)."""

    log_dir = None

    def log_metric(self, *args, **kwargs) -> None: ...
    def log_metrics(self, *args, **kwargs) -> None: ...
    def log_params(self, *args, **kwargs) -> None: ...
    def add_figure(self, *args, **kwargs) -> None: ...
    def flush(self) -> None: ...


def fit_sbi_defaults(prior: BoxPrior, theta: np.ndarray, x: np.ndarray, held: tuple, seed: int) -> dict:
    from sbi.inference import NPE

    t_theta, t_x = (torch.as_tensor(a, dtype=torch.float32) for a in (theta, x))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        start = time.perf_counter()
        trainer = NPE(prior=prior.to_sbi(), density_estimator="mdn", show_progress_bars=False, tracker=_NullTracker())
        with contextlib.redirect_stdout(io.StringIO()):
            estimator = trainer.append_simulations(t_theta, t_x).train()
        seconds = time.perf_counter() - start
    h_theta, h_x = (torch.as_tensor(a, dtype=torch.float32) for a in held)
    with torch.no_grad():
        lp = estimator.log_prob(h_theta, h_x).numpy()
    return {"train_s": seconds, "heldout_log_prob": float(lp.mean()), "epochs": trainer.summary["epochs_trained"][-1]}


def fit_simrl(prior: BoxPrior, theta: np.ndarray, x: np.ndarray, held: tuple, seed: int, summary: str) -> dict:
    start = time.perf_counter()
    post = MDNPosterior.fit(prior, theta, x, components=5, train=TrainSettings(), summary=summary, seed=seed)
    seconds = time.perf_counter() - start
    lp = post.log_prob_batch(held[0][None], held[1])[0]
    return {"train_s": seconds, "heldout_log_prob": float(lp.mean()), "epochs": TrainSettings().epochs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sims", type=int, default=10_000, help="training simulations")
    parser.add_argument("--heldout", type=int, default=500, help="held-out simulations for the log-prob")
    parser.add_argument("--repeats", type=int, default=1, help="fits per row (seeds 0, 1, ...)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="torch threads for simrl's rows")
    parser.add_argument("--trajectories", type=int, default=1, help="K trajectories per draw")
    parser.add_argument("--steps", type=int, default=200, help="T steps per trajectory")
    parser.add_argument("--summary", default="bayessim", choices=sorted(SUMMARIES), help="summary statistic")
    parser.add_argument("--skip-sbi", action="store_true", help="leave out sbi's default row (about a minute)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # the CLI's default

    prior = BoxPrior.for_env(ENV)
    run = simulator(ENV, prior.names, SUMMARIES[args.summary], trajectories=args.trajectories, steps=args.steps, seed=0)
    run(prior.sample(10, np.random.default_rng(1)), 99)  # warm-up: imports, first-call allocations
    start = time.perf_counter()
    theta = prior.sample(args.sims, np.random.default_rng(0))
    x = run(theta, 0)
    simulate_s = time.perf_counter() - start
    held_theta = prior.sample(args.heldout, np.random.default_rng(1))
    held = (held_theta, run(held_theta, 1))

    rows: list[tuple[str, int, object]] = []
    if not args.skip_sbi:
        rows.append(("sbi 0.27 defaults (10 comp.)", 1, lambda seed: fit_sbi_defaults(prior, theta, x, held, seed)))
    for threads in args.threads:
        name = f"simrl (5 comp.), {threads} thread(s)"
        rows.append((name, threads, lambda seed: fit_simrl(prior, theta, x, held, seed, args.summary)))
    runs: dict[str, list[dict]] = {name: [] for name, _, _ in rows}
    for seed in range(args.repeats):  # round-robin, so a change in the machine's load hits every row alike
        for name, threads, fit in rows:
            torch.set_num_threads(threads)
            runs[name].append(fit(seed))
            print(f"  {name}, seed {seed}: {runs[name][-1]}", file=sys.stderr, flush=True)
    torch.set_num_threads(1)

    results = []
    base = None
    header = f"{'method':<32} {'simulate s':>10} {'train s':>9} {'total s':>8} {'held-out log q':>15} {'speed-up':>9}"
    print(f"{args.sims} simulations (K={args.trajectories}, T={args.steps}, {args.summary}), {args.heldout} held out")
    print(header)
    for name, threads, _ in rows:
        train_s = statistics.median(r["train_s"] for r in runs[name])
        lp = float(np.mean([r["heldout_log_prob"] for r in runs[name]]))
        total = simulate_s + train_s
        base = base or total
        results.append(
            {
                "method": name,
                "threads": threads,
                "simulate_s": simulate_s,
                "train_s_median": train_s,
                "total_s": total,
                "heldout_log_prob_mean": lp,
                "runs": runs[name],
            }
        )
        print(f"{name:<32} {simulate_s:>10.2f} {train_s:>9.1f} {total:>8.1f} {lp:>15.3f} {base / total:>8.1f}x")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_json(
        args.out,
        {
            "benchmark": "bayessim_fit",
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "sims": args.sims,
            "heldout": args.heldout,
            "trajectories": args.trajectories,
            "steps": args.steps,
            "summary": args.summary,
            "repeats": args.repeats,
            "simrl_train_settings": TrainSettings().__dict__,
            "machine": {
                "platform": platform.platform(),
                "python": platform.python_version(),
                "numpy": np.__version__,
                "torch": torch.__version__,
                "sbi": sbi.__version__,
            },
            "results": results,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
