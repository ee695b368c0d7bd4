"""Fusion of the inversion features ``f_s`` into the feed-forward decoder (paper section 3.2).

- Concat fusion (eq. 6, used at 8/16/32): ``cat(f_s, f_g)``.
- Deformable fusion (eq. 7, used at 64/128/256): ``P(cat(f_s, f_g))`` predicts the offset
  map ``m_o`` and modulation map ``m_w`` of a DCNv2 convolution applied to ``f_s``; the
  aligned ``f_s`` is concatenated with ``f_g``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.deform_conv import modulated_deform_conv2d

__all__ = ["DeformableFusion", "concat_fusion"]


def concat_fusion(f_s: torch.Tensor, f_g: torch.Tensor) -> torch.Tensor:
    """Eq. 6: ``(B, C_s, H, W), (B, C_g, H, W) -> (B, C_s + C_g, H, W)``."""
    return torch.cat([f_s, f_g], dim=1)


class DeformableFusion(nn.Module):
    """Eq. 7: align ``f_s`` to ``f_g`` with a modulated deformable convolution, then concatenate.

    ``P`` is a ``k x k`` convolution over ``cat(f_s, f_g)`` with ``3 * G * k * k`` outputs:
    ``2 * G * k * k`` offsets (interleaved ``(dy, dx)`` per tap, torchvision layout) and
    ``G * k * k`` modulation logits passed through a sigmoid. ``P`` starts at zero (DCNv2's
    initialisation), so at first the fusion samples the regular grid with modulation 0.5.
    """

    def __init__(self, f_s_channels: int, f_g_channels: int, kernel_size: int = 3, offset_groups: int = 1) -> None:
        super().__init__()
        self.f_s_channels, self.f_g_channels = f_s_channels, f_g_channels
        self.kernel_size, self.offset_groups = kernel_size, offset_groups
        taps = offset_groups * kernel_size**2
        self.predictor = nn.Conv2d(f_s_channels + f_g_channels, 3 * taps, kernel_size, padding=kernel_size // 2)
        nn.init.zeros_(self.predictor.weight)
        if self.predictor.bias is not None:
            nn.init.zeros_(self.predictor.bias)
        self.weight = nn.Parameter(torch.empty(f_s_channels, f_s_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(f_s_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))  # nn.Conv2d's default

    @property
    def out_channels(self) -> int:
        return self.f_s_channels + self.f_g_channels

    def forward(self, f_s: torch.Tensor, f_g: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(B, C_s, H, W), (B, C_g, H, W)`` -> ``(fused (B, C_s + C_g, H, W), offset, modulation)``.

        ``offset`` is ``(B, 2 * G * k * k, H, W)`` in pixels, ``modulation`` ``(B, G * k * k, H, W)`` in (0, 1).
        """
        # P(cat(f_s, f_g)) as two convolutions with the two halves of P's weight: no concat copy.
        w = self.predictor.weight
        pad = self.kernel_size // 2
        pred = F.conv2d(f_s, w[:, : self.f_s_channels], self.predictor.bias, padding=pad)
        pred = pred + F.conv2d(f_g, w[:, self.f_s_channels :], padding=pad)
        n_off = 2 * self.offset_groups * self.kernel_size**2
        offset, modulation = pred[:, :n_off], torch.sigmoid(pred[:, n_off:])
        aligned = modulated_deform_conv2d(
            f_s, offset, modulation, self.weight, self.bias, padding=self.kernel_size // 2
        )
        return torch.cat([aligned, f_g], dim=1), offset, modulation

    def extra_repr(self) -> str:
        return (
            f"f_s_channels={self.f_s_channels}, f_g_channels={self.f_g_channels}, "
            f"kernel_size={self.kernel_size}, offset_groups={self.offset_groups}"
        )
