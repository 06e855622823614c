"""What the posterior (posterior.py) and its files (posterior_io.py) share, below both so neither imports the other.

The check that sbi is installed, torch seeding for sbi's network builder, and :class:`FitInfo`, the record of what
fitting did (saved with the weights). No torch or sbi at import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from simrl.errors import SimrlError


def require_sbi() -> None:
    """Raise a one-line error if sbi (BayesSim's extra) is missing."""
    try:
        import sbi  # noqa: F401
    except ImportError:
        raise SimrlError("BayesSim needs the sbi package", "pip install 'sbi>=0.27'") from None


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Run torch's global generator from ``seed`` inside, and give the caller's state back after."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


@dataclass
class FitInfo:
    """What training did, one entry per round."""

    simulations: list[int] = field(default_factory=list)
    best_epoch: list[int] = field(default_factory=list)
    # Mean log-likelihood of the validation split: log q(theta | x), or the proposal posterior's for
    # simulations from a proposal.
    best_val_log_prob: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
