"""simrl: train control policies in simulation and tell honestly how good they are."""

from simrl import envs as _envs  # noqa: F401  registers the simrl/* Gymnasium ids

__version__ = "0.1.0"
