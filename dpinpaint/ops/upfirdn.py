"""FIR filtering for StyleGAN2's up/down-sampling, as depthwise convolutions.

These compute exactly what ``upfirdn2d`` computes for the cases StyleGAN2 uses
(a separable, symmetric FIR such as ``[1, 3, 3, 1]``), but as one depthwise
``conv2d`` / ``conv_transpose2d``, which oneDNN runs at memory speed, instead of the
single-channel convolution over a ``(B*C, 1, H, W)`` view of the straightforward port
(about 20x slower on a CPU; see ``docs/performance.md``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

__all__ = ["make_fir_kernel", "fir_filter2d", "fir_upsample2d"]


def make_fir_kernel(taps: Sequence[float], gain: float = 1.0) -> torch.Tensor:
    """The normalised 2-D FIR ``outer(taps, taps) / sum`` times ``gain``: ``(k, k)``."""
    k = torch.as_tensor(list(taps), dtype=torch.float32, device="cpu")  # also under a meta-device build
    k2 = torch.outer(k, k) if k.dim() == 1 else k
    return k2 / k2.sum() * gain


def _depthwise(kernel: torch.Tensor, channels: int, x: torch.Tensor) -> torch.Tensor:
    # conv2d correlates; flip so that this is a true convolution like upfirdn2d.
    k = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device)
    return k.expand(channels, 1, *k.shape).contiguous()


def fir_filter2d(x: torch.Tensor, kernel: torch.Tensor, pad: tuple[int, int] = (0, 0), down: int = 1) -> torch.Tensor:
    """Pad by ``pad`` (before, after) on both spatial axes, filter, keep every ``down``-th pixel.

    ``(B, C, H, W) -> (B, C, (H + pad0 + pad1 - k) // down + 1, ...)``.
    """
    c = x.shape[1]
    if pad[0] == pad[1]:
        return F.conv2d(x, _depthwise(kernel, c, x), stride=down, padding=pad[0], groups=c)
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    return F.conv2d(x, _depthwise(kernel, c, x), stride=down, groups=c)


def fir_upsample2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """2x upsampling by zero insertion and FIR filtering (``upfirdn2d(up=2)``): ``(B, C, H, W) -> (B, C, 2H, 2W)``.

    ``kernel`` must be a ``(k, k)`` FIR with ``k`` even (4 for StyleGAN2) that already
    carries the upsampling gain (4 for 2x in 2-D); padding follows StyleGAN2:
    ``((k - 2 + 1) // 2 + 1, (k - 2) // 2)``.
    """
    c, k = x.shape[1], kernel.shape[-1]
    # A stride-2 transposed depthwise conv is zero insertion + filtering in one kernel;
    # padding k/2 - 1 reproduces StyleGAN2's ((k-1)//2 + 1, (k-2)//2) pad for even k.
    weight = kernel.to(dtype=x.dtype, device=x.device).expand(c, 1, k, k).contiguous()
    return F.conv_transpose2d(x, weight, stride=2, padding=k // 2 - 1, groups=c)
