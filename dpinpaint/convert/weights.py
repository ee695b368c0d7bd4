"""What every format converter returns (:class:`ConvertedWeights`), and the tensor helpers they share."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from ..config import StyleGAN2Config
from ..errors import CheckpointError
from .file_faults import describe

__all__ = ["ConvertedWeights", "as_float_tensor", "blur_taps_from_filter", "file_number", "fold_gain", "reshaped"]


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


def as_float_tensor(value: Any, what: str, dims: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """A float32 CPU tensor from a tensor or numpy array (``what`` names it in errors).

    Every tensor a converter uses passes here first: it must be numeric and non-empty and, when
    ``dims`` is given, have that many dimensions (one of them, for a tuple), so that a converter
    can read its shape.

    Raises:
        CheckpointError: not an array, a non-numeric dtype, empty, or the wrong number of dimensions.
    """
    if isinstance(value, torch.Tensor):
        t = value.detach()
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise CheckpointError(f"{what} has non-numeric dtype {value.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, (float, int, np.floating)) and not isinstance(value, bool):
        t = torch.tensor(float(file_number(value, what)))
    else:
        raise CheckpointError(f"{what} is {describe(value)}, not an array")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise CheckpointError(f"{what} has dtype {t.dtype}, expected a floating-point tensor")
    if t.numel() == 0:
        raise CheckpointError(f"{what} is empty (shape {tuple(t.shape)}); the file is corrupted")
    allowed = (dims,) if isinstance(dims, int) else dims
    if allowed is not None and t.dim() not in allowed:
        expected = " or ".join(f"{d}-D" for d in allowed)
        raise CheckpointError(
            f"{what} has shape {tuple(t.shape)}, where a StyleGAN2 holds a {expected} tensor; "
            "the file is corrupted or not a supported StyleGAN2"
        )
    return t.to(torch.float32).contiguous()


def reshaped(t: torch.Tensor, shape: tuple[int, ...], what: str) -> torch.Tensor:
    """``t.reshape(shape)``, or :class:`CheckpointError` when ``t`` has another number of elements."""
    count = math.prod(shape)
    if t.numel() != count:
        raise CheckpointError(f"{what} has shape {tuple(t.shape)}, where a StyleGAN2 holds {count} values")
    return t.reshape(shape)


def file_number(value: Any, what: str, *, integer: bool = False) -> Any:
    """A finite number read from a file's attributes (``c_dim``, ``resolution``, a gain), as int or float.

    Raises:
        CheckpointError: a string, a container, NaN or infinity, a fraction where an integer is
            needed, or an integer beyond 2**31.
    """
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        value = value.item()
    if not isinstance(value, (int, float)):
        raise CheckpointError(f"{what} is {describe(value)}, not a number; the file is corrupted")
    if isinstance(value, float) and not math.isfinite(value):
        raise CheckpointError(f"{what} is {value!r}, not a finite number; the file is corrupted")
    if abs(value) > 2**31:
        raise CheckpointError(f"{what} is {describe(value)}, beyond any StyleGAN2's; the file is corrupted")
    if integer:
        if isinstance(value, float) and not value.is_integer():
            raise CheckpointError(f"{what} is {value!r}, not an integer; the file is corrupted")
        return int(value)
    return value


def blur_taps_from_filter(kernel: torch.Tensor, what: str) -> tuple[int, ...]:
    """Integer taps ``t`` whose normalised outer product is ``kernel`` (2-D) or ``t/sum`` is ``kernel`` (1-D).

    Raises:
        CheckpointError: the kernel is not separable with (small) integer taps.
    """
    k = as_float_tensor(kernel, what).double()
    row = k.sum(dim=0) if k.dim() == 2 else k
    if k.dim() not in (1, 2) or row.numel() < 2 or row.numel() > 16 or not torch.isfinite(row).all():
        raise CheckpointError(
            f"{what}: unsupported resampling filter of shape {tuple(k.shape)} (or NaN or infinity in it)"
        )
    ratio = row / row.abs().min() if row.abs().min() > 0 else row * math.inf
    if not torch.isfinite(ratio).all() or ratio.abs().max() > 2**20:
        raise CheckpointError(f"{what}: the resampling filter is not a separable integer FIR (got {k.tolist()})")
    taps = tuple(round(v) for v in ratio.tolist())
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
    factor = float(file_number(stored_gain, "a stored gain")) / our_gain
    if not math.isfinite(factor) or factor == 0:
        raise CheckpointError(f"invalid stored gain {stored_gain!r}")
    return weight if abs(factor - 1.0) < 1e-9 else weight * factor
