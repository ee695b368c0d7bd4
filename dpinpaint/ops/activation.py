"""StyleGAN2's bias + leaky ReLU + gain, in place where autograd allows it."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["fused_leaky_relu", "can_overwrite", "LRELU_GAIN"]

#: The gain that keeps a leaky ReLU (slope 0.2) variance-preserving, as in StyleGAN2.
LRELU_GAIN = math.sqrt(2.0)


def can_overwrite(x: torch.Tensor) -> bool:
    """Whether an op may write into ``x``: only when autograd is not recording it."""
    return not (torch.is_grad_enabled() and x.requires_grad)


def fused_leaky_relu(
    x: torch.Tensor,
    bias: torch.Tensor | None = None,
    negative_slope: float = 0.2,
    scale: float = LRELU_GAIN,
    inplace: bool = False,
) -> torch.Tensor:
    """``leaky_relu(x + bias, negative_slope) * scale`` with ``bias`` on dim 1: ``(B, C, ...)``.

    Works in one fresh buffer (or in ``x`` itself with ``inplace=True``, for callers that own
    ``x`` and are not recording autograd), then in place: one allocation at most instead of
    three. The gain is folded before the ReLU (``scale > 0``).
    """
    if inplace:
        out = x if bias is None else x.add_(bias.view((1, -1) + (1,) * (x.dim() - 2)))
    elif bias is not None:
        out = torch.add(x, bias.view((1, -1) + (1,) * (x.dim() - 2)))
    else:
        out = x.clone(memory_format=torch.preserve_format)
    out.mul_(scale)
    return F.leaky_relu_(out, negative_slope)
