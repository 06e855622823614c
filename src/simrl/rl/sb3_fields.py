"""Plain hyper-parameters for a model.zip that plain SB3 wrote, so simrl rebuilds the same network.

SB3 pickles the ``data`` fields that hold classes: ``policy_class`` and, once a class is in it,
``policy_kwargs`` (``activation_fn=nn.ReLU``). Dropping them would silently rebuild a Tanh network
where a ReLU one was saved, so both are read as names (``rl/safe_pickle.py``: nothing runs, nothing is
imported) against an allow-list: the policy classes the algorithm names ``MlpPolicy``, ``CnnPolicy``
and ``MultiInputPolicy``, and for ``policy_kwargs`` the classes of ``algos.POLICY_CLASSES``, which
become their plain names (``activation_fn: relu``). Anything else is refused with the field and the
class. The other pickled fields (spaces, schedules, buffer classes, action noise) do not change the
network: the env brings its spaces, and schedules matter only to further training.
"""

from __future__ import annotations

import base64
import binascii
import re
from pathlib import Path
from typing import Any

from simrl.errors import CheckpointError
from simrl.rl import safe_pickle
from simrl.rl.algos import POLICY_CLASSES, algo_class, constructor_keys

_OTHERWISE = "for another class, use SB3's own load on a file you trust"


def sb3_hyperparams(path: Path, meta: dict[str, Any], algo: str) -> dict[str, Any]:
    """simrl's plain hyper-parameters for the model.zip at ``path`` (``meta`` from ``read_model_info``).

    Raises:
        CheckpointError: a policy class or ``policy_kwargs`` class simrl does not load (named), or a
            field that is not what SB3 writes.
    """
    keys = constructor_keys(algo)
    hyperparams = {k: v for k, v in meta["data"].items() if k in keys}
    hyperparams["policy"] = _policy_alias(path, meta["pickled"].get("policy_class"), algo)
    if "policy_kwargs" in meta["pickled"]:
        hyperparams["policy_kwargs"] = _policy_kwargs(path, meta["pickled"]["policy_kwargs"])
    return hyperparams


def _policy_alias(path: Path, entry: dict[str, Any] | None, algo: str) -> str:
    """``MlpPolicy``, ``CnnPolicy`` or ``MultiInputPolicy``: the alias of the saved policy class."""
    if entry is None:
        raise CheckpointError(f"model file '{path}' has no policy_class", "the file is corrupt or not an SB3 model")
    aliases = {_path(cls): alias for alias, cls in algo_class(algo).policy_aliases.items()}
    hint = f"simrl rebuilds {algo}'s {', '.join(aliases.values())}; check --algo"
    value = _unpickle(path, "policy_class", entry, aliases, hint)
    if not isinstance(value, safe_pickle.Ref):
        raise CheckpointError(f"model file '{path}' is corrupt: policy_class is not a class", "use another checkpoint")
    return aliases[value.path]


def _policy_kwargs(path: Path, entry: dict[str, Any]) -> dict[str, Any]:
    """The pickled ``policy_kwargs`` with each allowed class as its plain name (``relu``)."""
    names = {p: (key, name) for key, table in POLICY_CLASSES.items() for name, p in table.items()}
    value = _unpickle(path, "policy_kwargs", entry, names, f"simrl reads {_allowed_text()}; {_OTHERWISE}")
    if not isinstance(value, dict):
        raise CheckpointError(
            f"model file '{path}' is corrupt: policy_kwargs is a {type(value).__name__}, not a mapping",
            "use another checkpoint",
        )
    out = {}
    for key, item in value.items():
        ref = item if isinstance(item, safe_pickle.Ref) else _first_ref(item)
        if ref is None:
            out[key] = item
        elif ref is item and names[ref.path][0] == key:
            out[key] = names[ref.path][1]
        else:
            raise CheckpointError(
                f"model file '{path}': policy_kwargs['{key}'] holds {ref.path}, which simrl does not load there",
                f"simrl reads {_allowed_text()}; {_OTHERWISE}",
            )
    return out


def _unpickle(path: Path, field: str, entry: Any, allowed: dict[str, Any], hint: str) -> Any:
    """The pickle in a ``data`` field, read with :func:`safe_pickle.read_data`; refusals name the class."""
    try:
        blob = base64.b64decode(entry[":serialized:"], validate=True)
        return safe_pickle.read_data(blob, allowed)
    except safe_pickle.Refused as e:
        raise CheckpointError(
            f"model file '{path}': {_culprit(field, entry, e, allowed)}, which simrl does not load",
            hint,
        ) from None
    except (binascii.Error, ValueError, TypeError) as e:
        raise CheckpointError(
            f"model file '{path}' is corrupt: {field} is not a readable pickle ({e})", "use another checkpoint"
        ) from None


def _culprit(field: str, entry: dict[str, Any], refused: safe_pickle.Refused, allowed: dict[str, Any]) -> str:
    """What was refused, in words: the key and class where SB3's readable copy of the field names them."""
    readable = {k: v for k, v in entry.items() if not k.startswith(":") and isinstance(v, str)}
    for key, text in readable.items():
        match = re.fullmatch(r"<class '([\w.]+)'>", text)
        if match is None or match.group(1) in allowed:
            continue
        if refused.name is None:  # pickled by value: the readable copy says which class
            return f"{field}['{key}'] is {match.group(1)}, pickled as code"
        if refused.name == match.group(1):
            return f"{field}['{key}'] is {refused.name}"
    return f"{field} is {refused.name}" if refused.name else f"{field} holds {refused.what}"


def _first_ref(value: Any) -> safe_pickle.Ref | None:
    """A class named anywhere inside ``value`` (nested dicts, lists, tuples, sets), if any."""
    if isinstance(value, safe_pickle.Ref):
        return value
    if isinstance(value, dict):
        parts = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        parts = list(value)
    else:
        return None
    return next((ref for ref in map(_first_ref, parts) if ref is not None), None)


def _allowed_text() -> str:
    return "; ".join(
        f"{key} {', '.join(p.rpartition('.')[2] for p in table.values())}" for key, table in POLICY_CLASSES.items()
    )


def _path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"
