"""Learner kinds: one registry that builds trainers and loads saved policies, keyed by kind.

config.yaml records the kind of learner that wrote a run (``sb3`` when absent: runs written before
kinds existed); a policy file says its kind itself (an SB3 ``model.zip``, with or without simrl's
``simrl.json``, is ``sb3``). ``eval``, ``report``, ``compare``, ``record`` and the robustness grid
load every policy through :func:`load_policy`, so they work for any learner registered here.

A kind is registered with :func:`register`: ``sb3``, ``mbrl`` (model-based) and ``imitation`` are built
in, and the tests register a minimal one that does not use SB3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from simrl.errors import CheckpointError, ConfigError
from simrl.types import Policy, Trainer


class Kind(Protocol):
    """A family of learners: how to resolve their settings, build a trainer, read a policy file."""

    name: str
    policy_file: str
    """The file name of a saved policy (``model.zip``); a run's best one is ``best_<policy_file>``."""

    def algos(self) -> tuple[str, ...]:
        """The algorithm names this kind trains (``simrl train ALGO``)."""
        ...

    def resolve_hyperparams(
        self, algo: str, env_id: str, *, file: Path | None, overrides: dict[str, Any], sets: list[str]
    ) -> dict[str, Any]:
        """Presets < ``file`` < ``overrides`` < ``sets`` (``key=value``), every key checked.

        ``n_timesteps`` and ``n_envs`` may appear (the run takes them out); ConfigError for anything bad.
        """
        ...

    def build(self, config: Any, base: Path | None = None, *, for_training: bool = True) -> Trainer:
        """A new trainer for a resolved ``TrainConfig``; ``base`` is the run folder (relative paths)."""
        ...

    def read_info(self, path: Path) -> dict[str, Any] | None:
        """What a policy file of this kind says about itself (env id, params, kwargs, algo), None if the
        file is not of this kind; CheckpointError if it is but is corrupt."""
        ...

    def load_policy(
        self, path: Path, *, env_id: str, env_kwargs: dict[str, Any], algo: str | None,
        hyperparams: dict[str, Any] | None, device: str,
    ) -> Policy:  # fmt: skip
        """The policy saved at ``path``, ready to act in ``env_id`` (CheckpointError if it cannot)."""
        ...


def uses_demos(kind: Kind) -> bool:
    """Whether the kind's runs take demonstrations (``--demos``, ``--expert``, ``--demo-episodes``)."""
    return bool(getattr(kind, "uses_demos", False))


def queries_expert(kind: Kind, algo: str) -> bool:
    """Whether ``algo`` asks its expert for labels while it trains (``dagger``): it needs ``--expert`` and
    the run keeps a copy of the expert's policy file."""
    queries = getattr(kind, "queries_expert", None)
    return bool(queries is not None and queries(algo))


def run_length(kind: Kind, algo: str, hyperparams: dict[str, Any]) -> int | None:
    """The steps of ``algo``'s runs where its settings fix them (DAgger: its rounds + 1), else None."""
    length = getattr(kind, "run_length", None)
    return length(algo, hyperparams) if length is not None else None


def check_demos(kind: Kind, algo: str, demos: Any, expert: Any, episodes: int | None) -> None:
    """Demonstrations go to imitation learners only, from a file or an expert (not both, but a learner that
    queries its expert needs one and may start from a file), at least one episode."""
    if not uses_demos(kind):
        if demos is not None or expert is not None or episodes is not None:
            raise ConfigError(
                f"--demos, --expert and --demo-episodes are for imitation learners, not {algo}", "e.g. 'train bc'"
            )
        return
    queries = queries_expert(kind, algo)
    if queries and expert is None:
        raise ConfigError(f"train {algo} needs --expert RUN, the policy it asks for labels", "or a policy file")
    if demos is not None and expert is not None and not queries:
        raise ConfigError(f"train {algo} takes --demos FILE or --expert RUN, not both")
    if demos is None and expert is None:
        raise ConfigError(f"train {algo} needs demonstrations", "give --demos FILE or --expert RUN")
    if episodes is not None and (isinstance(episodes, bool) or not isinstance(episodes, int) or episodes < 1):
        raise ConfigError(f"--demo-episodes must be at least 1, got {episodes}")


_KINDS: dict[str, Kind] = {}


def policy_file_of(kind: Kind, algo: str) -> str:
    """The policy file name of ``algo``'s runs: the kind's ``policy_file_for(algo)`` where it has one
    (a kind whose learners save different files: ``mbrl``'s MPC and MBPO), else its ``policy_file``."""
    per_algo = getattr(kind, "policy_file_for", None)
    return per_algo(algo) if per_algo is not None else kind.policy_file


def register(kind: Kind) -> Kind:
    """Add (or replace) a kind; returns it."""
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    _KINDS.pop(name, None)


def _builtin() -> None:
    if "sb3" not in _KINDS:
        from simrl.experiments.sb3_kind import SB3Kind

        register(SB3Kind())
    if "mbrl" not in _KINDS:
        from simrl.experiments.mbrl_kind import MBRLKind

        register(MBRLKind())
    if "imitation" not in _KINDS:
        from simrl.experiments.imitation_kind import ImitationKind

        register(ImitationKind(load_policy_file=load_policy_file))  # DAgger's expert, of any kind


def get_kind(name: str) -> Kind:
    _builtin()
    try:
        return _KINDS[name]
    except KeyError:
        raise CheckpointError(
            f"no learner of kind '{name}' is known", f"known kinds: {', '.join(sorted(_KINDS))}"
        ) from None


def kind_for_algo(algo: str) -> Kind:
    """The kind that trains ``algo``; ConfigError naming every algorithm otherwise."""
    _builtin()
    for kind in _KINDS.values():
        if algo.lower() in kind.algos():
            return kind
    names = [a for k in _KINDS.values() for a in k.algos()]
    raise ConfigError(f"unknown algorithm '{algo}'", f"choose one of: {', '.join(names)}")


def kind_of_file(path: Path) -> tuple[Kind, dict[str, Any]]:
    """The kind that wrote a policy file, and what the file says about itself."""
    _builtin()
    if not Path(path).is_file():
        raise CheckpointError(f"model file '{path}' does not exist")
    first: CheckpointError | None = None
    for kind in _KINDS.values():
        try:
            info = kind.read_info(Path(path))
        except CheckpointError as e:
            first = first or e
            continue
        if info is not None:
            return kind, info
    if first is not None:
        raise first
    raise CheckpointError(f"'{path}' is not a policy file simrl can read", "give a run folder or a model.zip")


def load_policy_file(path: Path, *, env_id: str, env_kwargs: dict[str, Any], device: str = "cpu") -> Policy:
    """The policy file at ``path``, of any registered kind, ready to act in ``env_id``: loaded as ``simrl eval
    FILE`` loads it (the file's env kwargs, evaluation's over training's, where it records ``env_id``, and
    ``env_kwargs`` over them). The imitation kind gets this from the registry rather than importing it.

    Raises:
        CheckpointError: a missing file or one no kind reads.
    """
    kind, info = kind_of_file(Path(path))
    kwargs: dict[str, Any] = {}
    if info.get("env_id") == env_id:
        for key in ("env_kwargs", "eval_env_kwargs"):
            more = info.get(key) or {}
            if not isinstance(more, dict):
                raise CheckpointError(f"'{path}' has a corrupt simrl.json ({key} is not a mapping)")
            kwargs.update(more)
    kwargs.update(env_kwargs)
    return kind.load_policy(Path(path), env_id=env_id, env_kwargs=kwargs, algo=None, hyperparams=None, device=device)
