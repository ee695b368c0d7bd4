"""The style encoder ``E_s``: learned GAN inversion of a masked image into W+ (pSp-style).

``cat(I_m, M)`` ``(B, 4, R, R)`` -> a residual backbone down to 16x16 -> a feature pyramid at
16/32/64 (top-down, like pSp's) -> one map-to-style head per W+ entry: coarse entries read
the 16x16 level, middle entries the 32x32 level, fine entries the 64x64 level. The
output is an offset from the generator's ``w_avg`` (added by :class:`DualPathNet`).
No pretrained backbone is available offline, so it is trained from scratch.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig

__all__ = ["StyleEncoder"]

_SLOPE = 0.2


class _DownBlock(nn.Module):
    """Residual block that halves the resolution: ``(B, in, H, W) -> (B, out, H/2, W/2)``."""

    def __init__(self, in_channels: int, out_channels: int, downsample: bool) -> None:
        super().__init__()
        stride = 2 if downsample else 1
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.pool = nn.AvgPool2d(2) if downsample else nn.Identity()
        needs_proj = in_channels != out_channels
        self.shortcut = nn.Conv2d(in_channels, out_channels, 1, bias=False) if needs_proj else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv2(F.leaky_relu(self.conv1(x), _SLOPE))
        return F.leaky_relu(h + self.shortcut(self.pool(x)), _SLOPE)


class _MapToStyle(nn.Module):
    """pSp's GradualStyleBlock: stride-2 convs down to 1x1, then a linear layer: ``-> (B, w_dim)``."""

    def __init__(self, in_channels: int, channels: int, spatial: int, w_dim: int) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            layers += [
                nn.Conv2d(in_channels if i == 0 else channels, channels, 3, stride=2, padding=1),
                nn.LeakyReLU(_SLOPE),
            ]
        self.convs = nn.Sequential(*layers)
        self.linear = nn.Linear(channels, w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class StyleEncoder(nn.Module):
    """``E_s``: ``(masked image (B, 3, R, R), known mask (B, 1, R, R)) -> W+ offset (B, n_latent, w_dim)``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        cfg, res = config.style_encoder, config.resolution
        self.n_latent, self.w_dim = config.stylegan.n_latent, config.stylegan.w_dim
        self.coarse_end, self.middle_end = cfg.coarse_end, cfg.middle_end
        self.stem = nn.Sequential(nn.Conv2d(4, cfg.stem_channels, 3, padding=1), nn.LeakyReLU(_SLOPE))
        self.stages = nn.ModuleList()
        in_ch = cfg.stem_channels
        for ch in cfg.channels:
            blocks = [_DownBlock(in_ch, ch, downsample=True)]
            blocks += [_DownBlock(ch, ch, downsample=False) for _ in range(cfg.blocks_per_stage - 1)]
            self.stages.append(nn.Sequential(*blocks))
            in_ch = ch
        # Widths of the backbone outputs at the pyramid levels 16, 32, 64.
        widths = {res: cfg.stem_channels} | {res >> (i + 1): ch for i, ch in enumerate(cfg.channels)}
        self.levels = (16, 32, 64)
        self.laterals = nn.ModuleDict({str(r): nn.Conv2d(widths[r], cfg.pyramid_channels, 1) for r in self.levels})
        self.heads = nn.ModuleList(
            _MapToStyle(cfg.pyramid_channels, cfg.head_channels, self._level_of(i), self.w_dim)
            for i in range(self.n_latent)
        )

    def _level_of(self, index: int) -> int:
        if index < self.coarse_end:
            return 16
        return 32 if index < self.middle_end else 64

    def forward(self, masked: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        x = self.stem(torch.cat([masked, known], dim=1))
        feats = {x.shape[-1]: x}
        for stage in self.stages:
            x = stage(x)
            feats[x.shape[-1]] = x
        pyramid = {16: self.laterals["16"](feats[16])}
        for r in self.levels[1:]:
            up = F.interpolate(pyramid[r // 2], scale_factor=2.0, mode="bilinear", align_corners=False)
            pyramid[r] = up + self.laterals[str(r)](feats[r])
        return torch.stack([head(pyramid[self._level_of(i)]) for i, head in enumerate(self.heads)], dim=1)
