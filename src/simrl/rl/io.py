"""Save and load SB3 models and replay buffers without executing anything from the file.

SB3's ``load`` unpickles parts of ``model.zip`` (spaces, schedules, policy classes). simrl never
does: it rebuilds the model from the plain configuration stored beside the weights (``simrl.json``
inside the zip, ignored by SB3), then loads tensors with ``torch.load(weights_only=True)``. The zip
still loads with plain ``stable_baselines3`` ``.load()``. A zip that plain SB3 wrote is rebuilt from
its plain fields and its policy class and ``policy_kwargs``, read as names from an allow-list without
running anything (``rl/sb3_fields.py``); a class outside it is refused with its name.
Replay buffers are plain npz, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError, ConfigError
from simrl.rl import normalize
from simrl.rl.normalize import Normalization, NormalizedPolicy
from simrl.utils import atomic

INFO_NAME = "simrl.json"
# Transient state that would otherwise be cloudpickled into the zip; a loaded model starts fresh.
_TRANSIENT = [
    "_last_obs",
    "_last_episode_starts",
    "_last_original_obs",
    "ep_info_buffer",
    "ep_success_buffer",
    "run_total_timesteps",
]
# Counters restored from the zip's JSON data so that training continues where it stopped.
_COUNTERS = ("num_timesteps", "_n_updates", "_episode_num", "_current_progress_remaining")


def save_model(model: Any, path: str | Path, info: dict[str, Any], normalization: Normalization | None = None) -> None:
    """Write ``model`` to ``path`` atomically, with ``info`` (algo, env_id, hyperparams, ...) inside,
    and the observation statistics it acts with (``vecnormalize.npz``) when it was trained on them."""
    path = Path(path)
    buf = io.BytesIO()
    model.save(buf, exclude=_TRANSIENT)
    with zipfile.ZipFile(buf, mode="a") as archive:
        archive.writestr(INFO_NAME, json.dumps(info, indent=2))
        if normalization is not None:
            archive.writestr(normalize.FILE, normalization.to_bytes())
    atomic.write_bytes(path, buf.getvalue())


def read_normalization(path: str | Path) -> Normalization | None:
    """The ``vecnormalize.npz`` member of a model.zip, or None when it has none.

    Raises:
        CheckpointError: an unreadable zip or a malformed member.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            if normalize.FILE not in archive.namelist():
                return None
            raw = archive.read(normalize.FILE)
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as e:
        raise CheckpointError(
            f"model file '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
        ) from None
    return Normalization.from_bytes(raw, f"model file '{path}': its {normalize.FILE} member")


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The plain parts of a model.zip: ``simrl.json`` (if any) under ``info``, the JSON data fields
    that are not pickles under ``data``, the pickled ones as SB3 wrote them (each a mapping with its
    base64 ``:serialized:`` pickle and a readable copy) under ``pickled``. Nothing is unpickled.

    Raises:
        CheckpointError: missing, truncated, not an SB3 model, or a member of the wrong shape.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"model file '{path}' does not exist")
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
            if "data" not in names or "policy.pth" not in names:
                raise CheckpointError(f"'{path}' is not a Stable-Baselines3 model", "expected data and policy.pth")
            data = json.loads(archive.read("data"))
            info = json.loads(archive.read(INFO_NAME)) if INFO_NAME in names else {}
            bad = archive.testzip()
    # ValueError covers JSONDecodeError and bytes that are not UTF-8; RuntimeError an encrypted
    # member, NotImplementedError an unknown compression, RecursionError absurdly nested JSON.
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        EOFError,
        OSError,
        ValueError,
        RuntimeError,
        NotImplementedError,
    ) as e:
        raise CheckpointError(
            f"model file '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
        ) from None
    if bad is not None:
        raise CheckpointError(f"model file '{path}' is corrupt (bad member {bad})", "use another checkpoint")
    if not isinstance(data, dict):
        raise CheckpointError(
            f"model file '{path}' is corrupt: its data member is {_json_kind(data)}, not a JSON object",
            "use another checkpoint",
        )
    if not isinstance(info, dict):
        raise CheckpointError(
            f"model file '{path}' has a corrupt {INFO_NAME}: {_json_kind(info)}, not a JSON object",
            "use another checkpoint",
        )
    _check_fields(path, INFO_NAME, info, _INFO_FIELDS)
    pickled = {k: v for k, v in data.items() if isinstance(v, dict) and ":serialized:" in v}
    plain = {k: v for k, v in data.items() if k not in pickled}
    _check_fields(path, "data member", plain, _DATA_FIELDS)
    policy = data.get("policy_class")
    module = policy.get("__module__") if isinstance(policy, dict) else None
    module = module if isinstance(module, str) else None
    return {"info": info, "data": plain, "pickled": pickled, "policy_module": module}


# The fields simrl reads from simrl.json and from SB3's plain data, with the JSON type each must have.
_INFO_FIELDS: dict[str, Any] = {
    "kind": str,
    "algo": str,
    "env_id": str,
    "hyperparams": dict,
    "env_params": dict,
    "env_kwargs": dict,
    "eval_env_kwargs": dict,
    "num_timesteps": int,
}
_DATA_FIELDS: dict[str, Any] = {
    "num_timesteps": int,
    "_n_updates": int,
    "_episode_num": int,
    "_current_progress_remaining": (int, float),
}


def _check_fields(path: Path, member: str, fields: dict[str, Any], types: dict[str, Any]) -> None:
    for key, kind in types.items():
        value = fields.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            expected = {int: "an integer", str: "a string", dict: "an object"}.get(kind, "a number")
            raise CheckpointError(
                f"model file '{path}' has a corrupt {member}: '{key}' is {_json_kind(value)}, not {expected}",
                "use another checkpoint",
            )


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def infer_algo(model_info: dict[str, Any]) -> str | None:
    """The algorithm that wrote a model.zip: from simrl.json, else from its policy class's module."""
    if model_info["info"].get("algo"):
        return str(model_info["info"]["algo"])
    module = model_info.get("policy_module") or ""
    for name in ("sac", "td3", "tqc", "crossq", "ppo", "a2c"):
        if f".{name}." in module:
            return name
    # PPO and A2C share SB3's ActorCriticPolicy; acting is the same whichever is rebuilt.
    return "ppo" if module.endswith("common.policies") else None


def load_into(model: Any, path: str | Path, device: str = "auto") -> None:
    """Load weights, optimiser states and counters from ``path`` into ``model`` (built to match).

    Raises:
        CheckpointError: a corrupt file, or weights that do not fit the model.
    """
    from stable_baselines3.common.utils import get_device

    meta = read_model_info(path)
    params, variables = _read_tensors(Path(path), get_device(device))
    try:
        model.set_parameters(params, exact_match=True, device=device)
        _set_variables(model, variables)
    except (RuntimeError, ValueError, KeyError, TypeError, IndexError) as e:
        # torch puts the useful part (which tensor, which shapes) on the lines after the first
        what = " ".join(str(e).split())[:300] or type(e).__name__
        raise CheckpointError(
            f"cannot load weights from '{path}': {what}",
            "the file is corrupt or from another algorithm, env or network",
        ) from None
    for key in _COUNTERS:
        if key in meta["data"]:
            setattr(model, key, meta["data"][key])


def _read_tensors(path: Path, device: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The zip's ``.pth`` members, read with ``torch.load(weights_only=True)``: the state dicts by
    name (``policy``, ``actor.optimizer``), and the PyTorch variables (``log_ent_coef``)."""
    import pickle
    import warnings

    import torch

    params: dict[str, Any] = {}
    variables: dict[str, Any] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            members = {name: archive.read(name) for name in archive.namelist() if name.endswith(".pth")}
    except (zipfile.BadZipFile, EOFError, OSError, RuntimeError, NotImplementedError) as e:
        raise CheckpointError(
            f"model file '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
        ) from None
    for name, raw in members.items():
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # torch's notes on the file's pickle protocol
                value = torch.load(io.BytesIO(raw), map_location=device, weights_only=True)
        except pickle.UnpicklingError:  # garbage, or objects beyond tensors: either way nothing was run
            raise CheckpointError(
                f"model file '{path}': {name} is not a plain tensor file (torch.load(weights_only=True) refused it)",
                "use another checkpoint",
            ) from None
        except (RuntimeError, EOFError, ValueError, OSError, KeyError, IndexError, zipfile.BadZipFile) as e:
            raise CheckpointError(
                f"model file '{path}': {name} is not a readable tensor file ({type(e).__name__})",
                "use another checkpoint",
            ) from None
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise CheckpointError(
                f"model file '{path}': {name} holds a {type(value).__name__}, not a mapping of names to tensors",
                "use another checkpoint",
            )
        if name in ("pytorch_variables.pth", "tensors.pth"):  # tensors.pth: SB3 before 0.9
            variables = value
        else:
            params[name.removesuffix(".pth")] = value
    return params, variables


def _set_variables(model: Any, variables: dict[str, Any]) -> None:
    """Copy the saved PyTorch variables (``log_ent_coef``) into ``model``, which must declare them."""
    import torch
    from stable_baselines3.common.save_util import recursive_getattr, recursive_setattr

    declared = set(model._get_torch_save_params()[1])
    for name, value in variables.items():
        if value is None:
            continue
        if name not in declared:
            raise ValueError(f"the file has a variable '{name}' the model does not have")
        target = recursive_getattr(model, name)
        if not isinstance(value, torch.Tensor) or value.shape != target.shape:
            raise ValueError(f"variable '{name}' does not fit the model")
        recursive_setattr(model, f"{name}.data", value.data)


# ---------------------------------------------------------------------------------------------
# Replay buffers
_BUFFER_ARRAYS = ("observations", "next_observations", "actions", "rewards", "dones", "timeouts")


def save_replay_buffer(buffer: Any, path: str | Path) -> None:
    """Write the filled part of an SB3 ``ReplayBuffer`` to ``path`` as an npz (atomically)."""
    n = buffer.buffer_size if buffer.full else buffer.pos
    arrays = {name: getattr(buffer, name)[:n] for name in _BUFFER_ARRAYS if getattr(buffer, name, None) is not None}
    header = np.array([buffer.pos, int(buffer.full), buffer.buffer_size, buffer.n_envs], dtype=np.int64)
    buf = io.BytesIO()
    np.savez(buf, header=header, **arrays)
    atomic.write_bytes(path, buf.getvalue())


def load_replay_buffer(buffer: Any, path: str | Path) -> None:
    """Fill an SB3 ``ReplayBuffer`` (already sized by its model) from an npz written by simrl.

    Raises:
        CheckpointError: missing, truncated, or shaped for another model.
    """
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            pos, full, size, n_envs = (int(x) for x in npz["header"])
            arrays = {name: npz[name] for name in _BUFFER_ARRAYS if name in npz.files}
    except FileNotFoundError:
        raise CheckpointError(f"replay buffer '{path}' is missing") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"replay buffer '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
        ) from None
    if size != buffer.buffer_size or n_envs != buffer.n_envs:
        raise CheckpointError(
            f"replay buffer '{path}' has size {size} x {n_envs} envs, "
            f"the model expects {buffer.buffer_size} x {buffer.n_envs}"
        )
    n = size if full else pos
    for name, arr in arrays.items():
        target = getattr(buffer, name, None)
        if target is None:
            continue
        if arr.shape != (n, *target.shape[1:]):
            raise CheckpointError(
                f"replay buffer '{path}': '{name}' has shape {arr.shape}, expected {(n, *target.shape[1:])}"
            )
        target[:n] = arr
    buffer.pos, buffer.full = pos, bool(full)


def load_model(
    path: str | Path,
    env: Any,
    *,
    algo: str | None = None,
    hyperparams: dict[str, Any] | None = None,
    device: str = "auto",
    for_training: bool = False,
    seed: int | None = None,
) -> Any:
    """Rebuild the model stored at ``path`` on ``env`` and load its weights (nothing unpickled).

    A model trained on normalized observations comes back as a :class:`NormalizedPolicy` (its
    ``predict`` normalizes with the statistics the zip holds, frozen); any other as the SB3 model.

    The hyper-parameters come from ``hyperparams``, else from the zip's ``simrl.json``, else from
    what plain SB3 stored (:func:`simrl.rl.sb3_fields.sb3_hyperparams`: the plain fields, and the
    policy class and ``policy_kwargs`` read as names). A network simrl cannot rebuild exactly is
    refused, never replaced by another.

    Raises:
        CheckpointError: corrupt file, unknown algorithm, a class simrl does not load, weights that
            do not fit ``env``.
    """
    from simrl.rl.algos import build_model
    from simrl.rl.sb3_fields import sb3_hyperparams

    meta = read_model_info(path)
    algo = algo or infer_algo(meta)
    if algo is None:
        raise CheckpointError(f"cannot tell which algorithm wrote '{path}'", "pass --algo")
    given = hyperparams is not None
    if hyperparams is None:
        hyperparams = meta["info"].get("hyperparams")
    if hyperparams is None:
        hyperparams = sb3_hyperparams(Path(path), meta, algo)
    try:
        model = build_model(algo, env, hyperparams, seed=seed, device=device, for_training=for_training)
    except ConfigError as e:
        if given:
            raise
        raise CheckpointError(f"cannot rebuild the model in '{path}': {e.what}") from None
    load_into(model, path, device=device)
    stats = read_normalization(path)
    trained_on = (meta["info"].get("hyperparams") or {}).get("normalize")
    if stats is None and (
        trained_on is True or (isinstance(trained_on, dict) and trained_on.get("norm_obs") is not False)
    ):
        raise CheckpointError(
            f"model file '{path}' was trained on normalized observations but holds no {normalize.FILE}",
            "use the model.zip simrl wrote, whole",
        )
    if stats is None or not stats.norm_obs:
        return model
    normalize.check_fits(stats, env.observation_space.shape, f"model file '{path}'")
    return NormalizedPolicy(model, stats)
