"""Save and load SB3 models and replay buffers without executing anything from the file.

SB3's ``load`` unpickles parts of ``model.zip`` (spaces, schedules, policy classes). simrl never
does: it rebuilds the model from the plain configuration stored beside the weights (``simrl.json``
inside the zip, ignored by SB3), then loads tensors with ``torch.load(weights_only=True)``. The zip
still loads with plain ``stable_baselines3`` ``.load()``.
Replay buffers are plain npz, loaded with ``allow_pickle=False``.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from simrl.errors import CheckpointError
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


def save_model(model: Any, path: str | Path, info: dict[str, Any]) -> None:
    """Write ``model`` to ``path`` atomically, with ``info`` (algo, env_id, hyperparams, ...) inside."""
    path = Path(path)
    buf = io.BytesIO()
    model.save(buf, exclude=_TRANSIENT)
    with zipfile.ZipFile(buf, mode="a") as archive:
        archive.writestr(INFO_NAME, json.dumps(info, indent=2))
    atomic.write_bytes(path, buf.getvalue())


def read_model_info(path: str | Path) -> dict[str, Any]:
    """The plain parts of a model.zip: ``simrl.json`` (if any) under ``info``, the JSON data fields
    that are not pickles under ``data``.

    Raises:
        CheckpointError: missing, truncated or not an SB3 model.
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
    except (zipfile.BadZipFile, EOFError, OSError, json.JSONDecodeError, zipfile.LargeZipFile) as e:
        raise CheckpointError(
            f"model file '{path}' is truncated or corrupt ({type(e).__name__})", "use another checkpoint"
        ) from None
    if bad is not None:
        raise CheckpointError(f"model file '{path}' is corrupt (bad member {bad})", "use another checkpoint")
    plain = {k: v for k, v in data.items() if not (isinstance(v, dict) and ":serialized:" in v)}
    policy = data.get("policy_class")
    module = policy.get("__module__") if isinstance(policy, dict) else None
    return {"info": info, "data": plain, "policy_module": module}


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
    from stable_baselines3.common.save_util import load_from_zip_file, recursive_setattr

    meta = read_model_info(path)
    try:
        _, params, variables = load_from_zip_file(str(path), device=device, load_data=False)
        model.set_parameters(params, exact_match=True, device=device)
        for name, value in (variables or {}).items():
            recursive_setattr(model, f"{name}.data", value.data)
    except (RuntimeError, ValueError, KeyError, zipfile.BadZipFile, EOFError, OSError) as e:
        first = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"cannot load weights from '{path}': {first}",
            "the file is corrupt or from another algorithm, env or network",
        ) from None
    for key in _COUNTERS:
        if key in meta["data"]:
            setattr(model, key, meta["data"][key])


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

    The hyper-parameters come from ``hyperparams``, else from the zip's ``simrl.json``, else from
    the plain (non-pickled) fields SB3 stored.

    Raises:
        CheckpointError: corrupt file, unknown algorithm, weights that do not fit ``env``.
    """
    from simrl.rl.algos import build_model, constructor_keys

    meta = read_model_info(path)
    algo = algo or infer_algo(meta)
    if algo is None:
        raise CheckpointError(f"cannot tell which algorithm wrote '{path}'", "pass --algo")
    if hyperparams is None:
        hyperparams = meta["info"].get("hyperparams")
    if hyperparams is None:
        keys = constructor_keys(algo)
        hyperparams = {k: v for k, v in meta["data"].items() if k in keys}
    model = build_model(algo, env, hyperparams, seed=seed, device=device, for_training=for_training)
    load_into(model, path, device=device)
    return model
