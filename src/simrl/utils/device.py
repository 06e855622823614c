"""The torch device option, checked before any work starts."""

from __future__ import annotations

from simrl.errors import ConfigError


def check_device(device: str) -> str:
    """``device`` if torch can use it here (``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps``), else a ConfigError."""
    import torch

    if device == "auto":
        return device
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"unknown --device '{device}'", "choose auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"--device {device}: this machine has no CUDA device", "use --device cpu or auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ConfigError(f"--device {device}: there are {torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(f"--device {device}: MPS is not available here", "use --device cpu or auto")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise ConfigError(f"--device {device}: simrl runs on cpu, cuda or mps")
    return device
