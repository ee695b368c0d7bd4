"""What every format converter returns (:class:`ConvertedWeights`), and the tensor helpers they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import StyleGAN2Config
from ..errors import CheckpointError

__all__ = ["ConvertedWeights", "as_float_tensor", "blur_taps_from_filter", "fold_gain"]


@dataclass
class ConvertedWeights:
    """What a format converter returns: rosinality-keyed tensors and the inferred config.

    ``generator`` has every key of :class:`StyleGAN2Generator` except ``w_avg``
    (given separately, None when the file has none); ``discriminator`` every key of
    :class:`StyleGAN2Discriminator`, or None (``discriminator_status`` says why).
    """

    config: StyleGAN2Config
    generator: dict[str, torch.Tensor]
    w_avg: torch.Tensor | None
    w_avg_source: str
    discriminator: dict[str, torch.Tensor] | None
    discriminator_status: str
    network: str
    notes: list[str] = field(default_factory=list)


def as_float_tensor(value: Any, what: str) -> torch.Tensor:
    """A float32 CPU tensor from a tensor or numpy array (``what`` names it in errors)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise CheckpointError(f"{what} has non-numeric dtype {value.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, (float, int, np.floating)):
        t = torch.tensor(float(value))
    else:
        raise CheckpointError(f"{what} is a {type(value).__name__}, not an array")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise CheckpointError(f"{what} has dtype {t.dtype}, expected a floating-point tensor")
    return t.to(torch.float32).contiguous()


def blur_taps_from_filter(kernel: torch.Tensor, what: str) -> tuple[int, ...]:
    """Integer taps ``t`` whose normalised outer product is ``kernel`` (2-D) or ``t/sum`` is ``kernel`` (1-D).

    Raises:
        CheckpointError: the kernel is not separable with (small) integer taps.
    """
    k = kernel.detach().double()
    row = k.sum(dim=0) if k.dim() == 2 else k
    if k.dim() not in (1, 2) or row.numel() < 2 or row.abs().min() <= 0:
        raise CheckpointError(f"{what}: unsupported resampling filter of shape {tuple(k.shape)}")
    taps = tuple(round(v) for v in (row / row.abs().min()).tolist())
    t = torch.tensor(taps, dtype=torch.float64)
    rebuilt = torch.outer(t, t) if k.dim() == 2 else t
    rebuilt = rebuilt / rebuilt.sum() * k.sum()
    if not torch.allclose(rebuilt, k, rtol=1e-4, atol=1e-6):
        raise CheckpointError(f"{what}: the resampling filter is not a separable integer FIR (got {k.tolist()})")
    return taps


def fold_gain(weight: torch.Tensor, stored_gain: Any, our_gain: float) -> torch.Tensor:
    """Rescale ``weight`` so that ``weight' * our_gain == weight * stored_gain`` (no-op when equal)."""
    if stored_gain is None:
        return weight
    factor = float(stored_gain) / our_gain
    if not math.isfinite(factor) or factor == 0:
        raise CheckpointError(f"invalid stored gain {stored_gain!r}")
    return weight if abs(factor - 1.0) < 1e-9 else weight * factor
