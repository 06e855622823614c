"""Posterior files: ``posterior.json`` (configuration) and ``weights.pt`` (a ``state_dict``).

Nothing is pickled: the weights are read back with ``torch.load(weights_only=True)`` into a
network rebuilt from the JSON, so a file from elsewhere can hold tensors but never code. Every
problem with a file is a one-line :class:`~simrl.errors.CheckpointError`.

This module knows the files, not the class: :func:`save` takes anything shaped like a posterior
(:class:`Saveable`) and :func:`read` returns the parts :class:`~simrl.inference.posterior.MDNPosterior`
is built from, so ``MDNPosterior.save/load`` call down into this module and nothing here imports back.
"""

from __future__ import annotations

import io
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from simrl.errors import CheckpointError, SimrlError
from simrl.inference.estimator import FitInfo, require_sbi, seeded
from simrl.inference.prior import BoxPrior
from simrl.inference.settings import Network, TrainSettings

if TYPE_CHECKING:
    from sbi.neural_nets.estimators import MixtureDensityEstimator

CONFIG_FILE, WEIGHTS_FILE = "posterior.json", "weights.pt"
FORMAT = "simrl-mdn-posterior/1"


class Saveable(Protocol):
    """What :func:`save` reads from a posterior (an ``MDNPosterior`` is one)."""

    prior: BoxPrior
    estimator: MixtureDensityEstimator
    summary: str
    x_dim: int
    network: Network
    train: TrainSettings
    observation: np.ndarray | None
    info: FitInfo


@dataclass(frozen=True)
class PosteriorParts:
    """What :func:`read` finds in a folder: the arguments an ``MDNPosterior`` is built from."""

    prior: BoxPrior
    estimator: MixtureDensityEstimator
    summary: str
    network: Network
    train: TrainSettings
    observation: np.ndarray | None
    info: FitInfo


def config(post: Saveable) -> dict[str, Any]:
    """The JSON configuration written beside the weights: enough to rebuild the network."""
    import sbi
    import torch

    return {
        "format": FORMAT,
        "prior": post.prior.to_json(),
        "summary": post.summary,
        "x_dim": post.x_dim,
        "network": asdict(post.network),
        "architecture": "sbi posterior_nn(model='mdn', z_score_theta='none') of theta scaled to [-1, 1]",
        "train": asdict(post.train),
        "observation": None if post.observation is None else post.observation.tolist(),
        "info": asdict(post.info),
        "versions": {"sbi": sbi.__version__, "torch": torch.__version__},
    }


def save(post: Saveable, folder: str | Path) -> Path:
    """Write ``weights.pt`` then ``posterior.json`` into ``folder`` (created if needed), each atomically."""
    import torch

    from simrl.utils.atomic import write_bytes, write_json

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    torch.save(post.estimator.state_dict(), buf)
    write_bytes(folder / WEIGHTS_FILE, buf.getvalue())
    write_json(folder / CONFIG_FILE, config(post))
    return folder


def read(folder: str | Path, *, env_id: str | None = None, summary: str | None = None) -> PosteriorParts:
    """Read a posterior written by :func:`save`: its prior, rebuilt network with the saved weights, settings.

    Args:
        folder: the folder holding ``posterior.json`` and ``weights.pt``.
        env_id: if given, the env the posterior must have been fitted for.
        summary: if given, the summary statistic it must use.

    Raises:
        CheckpointError: a missing, corrupt or truncated file, weights that do not fit the
            configuration, a posterior for another env or summary.
    """
    require_sbi()
    import torch

    folder = Path(folder)
    cfg_path, w_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
    try:
        cfg = json.loads(cfg_path.read_text())
        if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
            raise ValueError("not a simrl posterior configuration")
        prior = BoxPrior.from_json(cfg["prior"])
        network = Network(**cfg["network"])
        train = TrainSettings(**cfg["train"])
        x_dim, kind = int(cfg["x_dim"]), str(cfg["summary"])
        info = FitInfo(**cfg.get("info", {}))
        obs = cfg.get("observation")
        observation = None if obs is None else np.asarray(obs, dtype=np.float64)
    except FileNotFoundError:
        raise CheckpointError(f"no posterior in {folder}", f"{CONFIG_FILE} is missing") from None
    except (ValueError, KeyError, TypeError, SimrlError) as e:
        what = e.what if isinstance(e, SimrlError) else str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"{cfg_path} is corrupt ({what})") from None
    if env_id is not None and prior.env_id != env_id:
        raise CheckpointError(f"the posterior in {folder} was fitted for {prior.env_id}, not {env_id}")
    if summary is not None and kind != summary:
        raise CheckpointError(f"the posterior in {folder} uses the '{kind}' summary, not '{summary}'")
    try:
        state = torch.load(w_path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"no weights in {folder}", f"{WEIGHTS_FILE} is missing") from None
    except Exception as e:  # a truncated zip, a pickle of something else, ...: torch raises many kinds
        raise CheckpointError(f"{w_path} is corrupt or not a weights file ({type(e).__name__})") from None
    with seeded(0):  # stand-in batches fix the shapes; the weights and z-score buffers come from the file
        estimator = network.build(torch.rand(16, prior.dim) * 2 - 1, torch.rand(16, x_dim) + 0.5)
    try:
        if not isinstance(state, dict):
            raise TypeError(f"a {type(state).__name__}, not a state dict")
        estimator.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError, KeyError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(f"{w_path} does not fit its configuration ({first})") from None
    return PosteriorParts(prior, estimator, kind, network, train, observation, info)
