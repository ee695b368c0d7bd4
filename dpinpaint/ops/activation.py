"""StyleGAN2's bias + leaky ReLU + gain, in place where autograd allows it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["fused_leaky_relu", "LRELU_GAIN"]

#: The gain that keeps a leaky ReLU (slope 0.2) variance-preserving, as in StyleGAN2.
LRELU_GAIN = math.sqrt(2.0)


def fused_leaky_relu(
    x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2, scale: float = LRELU_GAIN
) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale`` with ``bias`` on dim 1: ``(B, C, ...)``.

    Works in a fresh buffer (``x`` is never modified) and then in place, so it costs one
    allocation instead of three; the gain is folded before the ReLU (``scale > 0``).
    """
    if bias is not None:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        out = torch.add(x, bias.view(shape), alpha=1.0)
    else:
        out = x.clone(memory_format=torch.preserve_format)
    out.mul_(scale)
    return F.leaky_relu_(out, negative_slope)
