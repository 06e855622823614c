"""Reading hyper-parameters: YAML files, rl-zoo preset blocks, ``--set key=value`` assignments.

A leaf module (nothing of simrl's above ``errors``), so both the configuration and every learner
kind's preset resolution use it without importing each other.
"""

from __future__ import annotations

import copy
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from simrl.errors import ConfigError

_ENV_ID = re.compile(r"-v\d+$")


def read_yaml(path: str | Path, what: str) -> Any:
    """``yaml.safe_load`` of a file, with a one-line error for a missing or invalid file."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(f"{what} '{path}' does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {what} '{path}': {type(e).__name__}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{what} '{path}' is not valid YAML{where}", "fix the file's syntax") from None


def preset_path(algo: str) -> Path:
    return Path(str(resources.files("simrl") / "configs" / f"{algo}.yaml"))


def zoo_blocks(doc: Any, env_id: str, origin: str, *, strict: bool = False) -> dict[str, Any]:
    """Merge a zoo-layout document's ``default:`` and ``<env_id>:`` blocks (or take a flat mapping).

    ``strict`` (a file the user gave): a document with neither block is a ConfigError naming the ids it
    holds, rather than silently nothing.
    """
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{origin} must be a mapping of hyper-parameters, got {type(doc).__name__}")
    if "default" in doc or env_id in doc or any(_ENV_ID.search(str(k)) for k in doc):
        if strict and "default" not in doc and env_id not in doc:
            held = ", ".join(str(k) for k in doc)
            raise ConfigError(
                f"{origin} has no block for {env_id} and no default block (it holds: {held})",
                f"add a '{env_id}:' or 'default:' block",
            )
        merged: dict[str, Any] = {}
        for key in ("default", env_id):
            block = doc.get(key) or {}
            if not isinstance(block, dict):
                raise ConfigError(f"block '{key}' in {origin} must be a mapping")
            merged.update(copy.deepcopy(block))
        return merged
    return copy.deepcopy(doc)


def layered(
    algo: str,
    env_id: str,
    *,
    file: Path | None,
    overrides: dict[str, Any],
    sets: list[str],
    merge: Any = dict.update,
) -> dict[str, Any]:
    """A learner's hyper-parameters in the order every kind reads them: the preset's block for ``env_id``
    (configs/<algo>.yaml, when there is one) < ``file`` < ``overrides`` (copied) < ``sets`` (``key=value``).

    ``merge(into, extra)`` lays one over another (``dict.update``; a kind with nested blocks merges those
    key by key).
    """
    preset = preset_path(algo)
    hp = zoo_blocks(read_yaml(preset, "preset"), env_id, f"configs/{algo}.yaml") if preset.is_file() else {}
    if file is not None:
        merge(hp, zoo_blocks(read_yaml(file, "hyper-parameter file"), env_id, str(file), strict=True))
    merge(hp, copy.deepcopy(dict(overrides)))
    for text in sets:
        apply_set(hp, text)
    return hp


def merge_nested(*blocks: str) -> Any:
    """A ``merge`` for :func:`layered` under which the named blocks (``model:``, ``sac:``) update key by key
    and every other key is replaced."""

    def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
        for key, value in extra.items():
            if key in blocks and isinstance(value, dict) and isinstance(into.get(key), dict):
                into[key] = {**into[key], **value}
            else:
                into[key] = value

    return merge


def parse_value(text: str) -> Any:
    """A ``--set`` value: YAML scalars and flow collections (``1e-3``, ``[64, 64]``, ``{a: 1}``)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    # YAML 1.1 reads 3e-4 as a string; accept it as the number a user meant.
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def split_assignment(text: str, option: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip() or not value.strip():
        raise ConfigError(f"{option} expects KEY=VALUE, got '{text}'")
    return key.strip(), value.strip()


def apply_set(hyperparams: dict[str, Any], text: str) -> None:
    """Apply one ``--set key=value`` (dotted keys reach into mappings: ``policy_kwargs.net_arch=[64]``)."""
    key, raw = split_assignment(text, "--set")
    set_dotted(hyperparams, key, parse_value(raw), "--set")


def set_dotted(hyperparams: dict[str, Any], key: str, value: Any, origin: str) -> None:
    """Set ``key`` to ``value``; a dotted key reaches into mappings, made where absent (``--set``'s rule).

    ``origin`` names the option in the error: ``--set``, ``--fix``, a search space.
    """
    parts = key.split(".")
    node = hyperparams
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"{origin} {key}: '{part}' is not a mapping")
        node = child
    node[parts[-1]] = value
