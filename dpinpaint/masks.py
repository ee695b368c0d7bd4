"""Masks: the public "white = fill" convention and its conversion to boolean hole maps.

Convention (diffusers, IOPaint): **white / nonzero / True marks the region to fill.** A mask
may be any image kind :func:`dpinpaint.image_io.read_image` accepts, or a bool array/tensor:

- bool: True = fill;
- one channel (``L``, ``1``, ``HxW``): its value;
- RGB: its ITU-R 601 luma;
- with alpha (``LA``, ``RGBA``, ``HxWx4``): its colour by default, its alpha channel with
  ``from_alpha=True`` (opaque = fill: masks painted on a transparent layer).

Values are scaled to [0, 1] by the dtype's range (uint8 / 255, uint16 / 65535) and a pixel is
a hole when its value is **greater than** ``threshold`` (default 0.5). ``invert=True``
flips the result (black = fill).

Generated masks (for evaluation like the paper's Table 1) live in :mod:`dpinpaint.mask_generation`;
their names (:func:`generate_mask`, :func:`mask_set`, :data:`HOLE_GROUPS`...) are re-exported here.
"""

from __future__ import annotations

import numbers
import os
from typing import Any

import numpy as np
import torch

from .errors import InvalidInputError
from .image_io import LUMA_WEIGHTS, open_image_file, read_image
from .mask_generation import (
    HOLE_GROUPS,
    MASK_KINDS,
    THIN_RATIO,
    generate_mask,
    group_label,
    group_of,
    hole_ratio,
    mask_set,
    parse_groups,
    thin_mask,
)

__all__ = [
    "read_mask",
    "hole_fraction",
    "HOLE_GROUPS",
    "MASK_KINDS",
    "parse_groups",
    "group_label",
    "generate_mask",
    "thin_mask",
    "THIN_RATIO",
    "mask_set",
    "hole_ratio",
    "group_of",
]


def _bool_tensor(mask: Any) -> torch.Tensor | None:
    """A bool mask as ``(B, H, W)``, or None if ``mask`` is not boolean."""
    if isinstance(mask, np.ndarray) and mask.dtype == np.bool_:
        t = torch.from_numpy(np.array(mask, order="C"))  # a copy: negative strides, read-only arrays
        source = "numpy"
    elif isinstance(mask, torch.Tensor) and mask.dtype == torch.bool:
        t, source = mask.detach().cpu(), "torch"
    else:
        return None
    if t.dim() == 2:
        return t[None]
    if t.dim() == 3 and source == "numpy" and t.shape[2] == 1:
        return t[None, :, :, 0]
    if t.dim() == 3 and source == "torch" and t.shape[0] == 1:
        return t
    if t.dim() == 4 and source == "torch" and t.shape[1] == 1:
        return t[:, 0]
    raise InvalidInputError(
        f"bool mask of shape {tuple(t.shape)} is not supported; use HxW, 1xHxW or Bx1xHxW (torch) / HxW (numpy)"
    )


def read_mask(
    mask: Any,
    *,
    threshold: float = 0.5,
    invert: bool = False,
    from_alpha: bool = False,
) -> tuple[torch.Tensor, bool]:
    """Any supported mask kind -> ``(hole (B, H, W) bool on the CPU, exif_transposed)``.

    ``B`` is 1 except for ``BxCxHxW`` tensors. See the module docstring for the convention.

    Raises:
        InvalidInputError / ImageReadError: bad type, shape, values or file.
    """
    if isinstance(threshold, bool | np.bool_) or not isinstance(threshold, numbers.Real) or not 0.0 <= threshold < 1.0:
        raise InvalidInputError(f"mask_threshold must be a number in [0, 1), got {threshold!r}")
    transposed = False
    hole = _bool_tensor(mask)
    if hole is not None:
        if from_alpha:
            raise InvalidInputError("mask_from_alpha=True needs a mask with an alpha channel, got a bool mask")
    else:
        if isinstance(mask, str | os.PathLike):
            im, transposed = open_image_file(mask)
            data = read_image(im, name="mask")
            data.source = str(mask)
        else:
            data = read_image(mask, name="mask")
        x = data.pixels.to("cpu")
        if from_alpha:
            if not data.has_alpha:
                raise InvalidInputError(
                    f"mask_from_alpha=True but {data.source} has no alpha channel ({data.channels} channel(s))"
                )
            value = x[:, -1].float() / data.scale
        elif data.channels >= 3:
            w = torch.tensor(LUMA_WEIGHTS).view(1, 3, 1, 1)
            value = (x[:, :3].float() / data.scale * w).sum(dim=1)
        else:
            value = x[:, 0].float() / data.scale
        hole = value > threshold
    if hole.shape[-1] == 0 or hole.shape[-2] == 0:
        raise InvalidInputError(f"the mask is empty (shape {tuple(hole.shape)})")
    return (~hole if invert else hole), transposed


def hole_fraction(hole: torch.Tensor) -> float:
    """Fraction of pixels to fill."""
    return float(hole.float().mean()) if hole.numel() else 0.0
