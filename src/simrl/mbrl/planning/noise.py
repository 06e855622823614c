"""Colored (power-law) Gaussian noise in torch, for iCEM's temporally correlated action samples.

Written here because the ``colorednoise`` package is numpy-only and takes no ``torch.Generator``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def colored_noise(
    shape: Sequence[int],
    beta: float,
    *,
    generator: torch.Generator,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Gaussian noise with power spectral density ``~ 1 / f**beta`` along the last axis, unit variance.

    Timmer & König (1995): random Fourier coefficients with standard deviation ``f**(-beta / 2)``, then
    an inverse real FFT. ``beta = 0`` is white noise, 1 pink, 2 red (random-walk-like); larger ``beta``
    gives smoother sequences. Frequencies below ``1 / T`` (the zero frequency: a random offset of the
    whole sequence) take the scale of ``1 / T``, as the ``colorednoise`` package does. The result is
    divided by its exact standard deviation, so every element has variance 1 (and mean 0).

    Args:
        shape: the output shape; the last axis is time (length ``T``).
        beta: the spectrum's exponent, ``>= 0``.
        generator: the only source of randomness; it must live on ``device``.
        device: where the noise is made (the generator's device).

    Returns:
        A float32 tensor of ``shape``.
    """
    *lead, length = (int(n) for n in shape)
    if beta == 0 or length <= 1:
        return torch.randn((*lead, length), generator=generator, device=device)
    freqs = torch.fft.rfftfreq(length, device=device)
    freqs[0] = freqs[1]
    scale = freqs ** (-beta / 2)
    # irfft(X)_t = (X_0 + 2 sum_{0<k<T/2} Re(X_k e^{i w_k t}) + X_{T/2} (-1)^t) / T: each interior
    # coefficient (real and imaginary parts both ~ N(0, s_k^2)) adds 4 s_k^2 / T^2 to the variance,
    # the real-only zero and Nyquist (even T) ones s_k^2 / T^2.
    weight = torch.full_like(scale, 4.0)
    weight[0] = 1.0
    if length % 2 == 0:
        weight[-1] = 1.0
    std = torch.sqrt((weight * scale**2).sum()) / length
    parts = torch.randn((*lead, scale.numel(), 2), generator=generator, device=device)  # real, imaginary
    parts.mul_(scale[:, None] / std)
    parts[..., 0, 1] = 0.0
    if length % 2 == 0:
        parts[..., -1, 1] = 0.0
    return torch.fft.irfft(torch.view_as_complex(parts), n=length)
