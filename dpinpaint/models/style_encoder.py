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


class _MapToStyles(nn.Module):
    """pSp's map-to-style heads of one pyramid level, run together: ``(B, P, s, s) -> (B, n, w_dim)``.

    Each of the ``n`` heads is pSp's GradualStyleBlock: ``log2(s)`` stride-2 3x3 convs with
    leaky ReLU down to 1x1, then a linear layer. The heads of a level read the same map, so
    they run as one convolution (``P -> n*H``), grouped convolutions (``groups=n``) and a
    batched linear: the same maths as ``n`` separate heads in ``log2(s) + 1`` kernel calls.
    """

    def __init__(self, in_channels: int, channels: int, spatial: int, w_dim: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads, self.channels = n_heads, channels
        layers: list[nn.Module] = []
        for i in range(int(math.log2(spatial))):
            c_in, groups = (in_channels, 1) if i == 0 else (n_heads * channels, n_heads)
            layers += [nn.Conv2d(c_in, n_heads * channels, 3, stride=2, padding=1, groups=groups), nn.LeakyReLU(_SLOPE)]
        self.convs = nn.Sequential(*layers)
        self.weight = nn.Parameter(torch.empty(n_heads, w_dim, channels))
        self.bias = nn.Parameter(torch.empty(n_heads, w_dim))
        bound = 1 / math.sqrt(channels)  # nn.Linear's default initialisation, per head
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.convs(x).view(x.shape[0], self.n_heads, self.channels)
        return torch.einsum("bnc,nwc->bnw", h, self.weight) + self.bias


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
        # W+ entries [0, coarse_end) read level 16, [coarse_end, middle_end) 32, the rest 64.
        counts = {16: cfg.coarse_end, 32: cfg.middle_end - cfg.coarse_end, 64: self.n_latent - cfg.middle_end}
        self.heads = nn.ModuleDict(
            {
                str(r): _MapToStyles(cfg.pyramid_channels, cfg.head_channels, r, self.w_dim, n)
                for r, n in counts.items()
                if n > 0
            }
        )

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
        return torch.cat([self.heads[str(r)](pyramid[r]) for r in self.levels if str(r) in self.heads], dim=1)
