"""PICNet's discriminator ``D`` of the feed-forward path (Zheng et al. 2019, ``ResDiscriminator``).

A spectral-normalised residual network: PICNet's optimised first block at full resolution,
residual down-sampling blocks to 8x8 (widths ``min(base * 2^i, max)``, PICNet at 256: 32, 64,
128, 128, 128), a self-attention layer before the third down-sampling block (32x32 at 256),
one more residual block at 8x8, then leaky ReLU and an unpadded 3x3 convolution to a
``(B, 1, 6, 6)`` map of logits. Every convolution but the attention's query is spectral-normalised
(PICNet's ``use_spect=True``); no normalisation layers; leaky ReLU slope 0.1.

PICNet's attention layer in ``D`` also builds a fuse block that it never calls (it is used
only with an encoder feature, which ``D`` does not pass); it is not built here, so every
parameter gets a gradient (DistributedDataParallel needs that).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .feedforward import ResBlock, self_attention
from .spectral import spectral_norm_conv

__all__ = ["PICNetDiscriminator"]


class _SelfAttention(nn.Module):
    """``Auto_Attn`` without an encoder feature: ``gamma * attend(x) + x`` (``gamma`` starts at 0)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.query = nn.Conv2d(channels, max(1, channels // 4), 1)
        self.gamma = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gamma * self_attention(x, self.query)[0] + x


class PICNetDiscriminator(nn.Module):
    """``(B, 3, R, R)`` image in [-1, 1] -> ``(B, 1, 6, 6)`` logits (``R >= 16``).

    Args:
        resolution: the image side ``R`` (a power of two); the blocks go down to 8x8.
        base_channels, max_channels: widths ``min(base * 2^i, max)`` (PICNet: 32 and 128).
        attention: the self-attention layer before the third down-sampling block (PICNet: on).
        negative_slope: leaky ReLU slope (PICNet: 0.1).
        spectral: spectral-normalise the convolutions (PICNet: on).
    """

    def __init__(
        self,
        resolution: int,
        base_channels: int = 32,
        max_channels: int = 128,
        attention: bool = True,
        negative_slope: float = 0.1,
        spectral: bool = True,
    ) -> None:
        super().__init__()
        layers = int(math.log2(resolution)) - 3  # PICNet's `layers`: 5 at 256 (down to 8x8)
        if resolution < 16 or 2 ** (layers + 3) != resolution:
            raise ValueError(f"PICNetDiscriminator needs a power-of-two resolution >= 16, got {resolution}")
        self.slope = negative_slope
        widths = [min(base_channels * 2**i, max_channels) for i in range(layers)]
        self.block0 = ResBlock(3, widths[0], "down", negative_slope=negative_slope, first=True)
        self.attention_index = 2 if attention and layers > 3 else -1
        if self.attention_index >= 0:
            self.attention = _SelfAttention(widths[self.attention_index])
        self.blocks = nn.ModuleList(
            ResBlock(widths[i], widths[i + 1], "down", negative_slope=negative_slope) for i in range(layers - 1)
        )
        self.block1 = ResBlock(widths[-1], widths[-1], negative_slope=negative_slope)
        self.conv = nn.Conv2d(widths[-1], 1, 3)
        if spectral:
            for name, module in self.named_modules():
                if isinstance(module, nn.Conv2d) and name != "attention.query":
                    spectral_norm_conv(module)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = self.block0(image)
        for i, block in enumerate(self.blocks):
            if i == self.attention_index:
                x = self.attention(x)
            x = block(x)
        return self.conv(F.leaky_relu(self.block1(x), self.slope))
