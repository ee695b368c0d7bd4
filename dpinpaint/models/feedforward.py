"""The feed-forward path: PICNet's generative path (Zheng et al. 2019) without its VAE prior.

- :class:`FeedForwardEncoder` ``E``: residual encoder over ``cat(I_m, M)`` halving the
  resolution down to 8x8 (PICNet at 256: 32, 64, 128, 128, 128 channels).
- :class:`FeedForwardGenerator` ``G``: residual decoder from 8x8 back to the full
  resolution with instance norm and transposed-conv upsampling, PICNet's short+long-term
  attention, and a tanh output layer. Before the block ``L^i`` that leaves resolution ``r``
  it fuses ``f_s^r`` from the inversion path with its own ``f_g^r`` (concat or deformable,
  :mod:`dpinpaint.models.fusion`).

Two layouts (``FeedForwardConfig.layout``):

- ``"picnet"``: PICNet's generative path. At 8x8, ``E`` runs its latent branch on ``f_m``
  (``bottleneck_blocks`` residual blocks without normalisation, PICNet's ``infer_prior``, then
  its ``prior`` block, of which the mean half is kept: the deterministic ``z``); ``G`` maps
  ``z`` with one residual block (PICNet's ``generator``) and adds ``f_m``. The output layer
  has no normalisation; the attention's fuse block is PICNet's (no norm, slope 0.01, hidden
  width ``C``) and the mask reaches it resized bilinearly (``align_corners=True``).
- ``"legacy"``: dpinpaint 0.1.0's layout (instance-normalised residual blocks on ``f_m``,
  an instance norm in the output layer, a normalised fuse block of hidden width ``2C``),
  kept so that models saved by dpinpaint 0.1.0 load and run unchanged.

PICNet trains the convolutions of ``E`` and ``G`` with spectral normalisation; training does
too (:mod:`dpinpaint.models.spectral`), and exports fold it into plain weights, so the
inference network holds plain convolutions.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .fusion import DeformableFusion, concat_fusion

__all__ = [
    "LATENT",
    "FeedForwardEncoder",
    "FeedForwardGenerator",
    "OutputLayer",
    "ResBlock",
    "ShortLongTermAttention",
    "bounded_grid",
    "self_attention",
]

#: Key of the latent ``z`` (B, latent_channels, 8, 8) in the encoder's output (``"picnet"`` layout).
LATENT = 0
#: Leaky ReLU slope of PICNet's attention fuse block (its ResBlock default, ``nn.LeakyReLU()``).
FUSE_SLOPE = 0.01


def _norm(channels: int, enabled: bool) -> nn.Module:
    return nn.InstanceNorm2d(channels, affine=True) if enabled else nn.Identity()


class ResBlock(nn.Module):
    """PICNet residual block: ``(B, in, H, W) -> (B, out, H', W')`` with ``H' = H/2 | H | 2H``.

    Main branch: [norm], act, conv3x3, [norm], act, conv3x3 (transposed, stride 2 for
    ``"up"``), [avg-pool for ``"down"``]; shortcut: 1x1 conv (+ pool), or a stride-2
    transposed 3x3 conv for ``"up"`` (PICNet's ``ResBlock`` and ``ResBlockDecoder``).
    ``first=True`` is PICNet's ``ResBlockEncoderOptimized`` (no activation before the first
    conv; pool before the shortcut conv). ``hidden`` is the width between the two convs
    (default: ``out`` for ``"up"`` and ``first``, else ``in``).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        sample: str = "none",
        norm: bool = False,
        negative_slope: float = 0.1,
        first: bool = False,
        hidden: int | None = None,
    ) -> None:
        super().__init__()
        if sample not in ("none", "down", "up"):
            raise ValueError(f"sample must be 'none', 'down' or 'up', got {sample!r}")
        self.sample, self.first, self.slope = sample, first, negative_slope
        if hidden is None:
            hidden = out_channels if sample == "up" else (out_channels if first else in_channels)
        self.norm1 = _norm(in_channels, norm and not first)
        self.conv1 = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.norm2 = _norm(hidden, norm)
        if sample == "up":
            self.conv2: nn.Module = nn.ConvTranspose2d(hidden, out_channels, 3, stride=2, padding=1, output_padding=1)
            self.shortcut: nn.Module = nn.ConvTranspose2d(
                in_channels, out_channels, 3, stride=2, padding=1, output_padding=1
            )
        else:
            self.conv2 = nn.Conv2d(hidden, out_channels, 3, padding=1)
            self.shortcut = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x) if self.first else F.leaky_relu(self.norm1(x), self.slope)
        h = self.conv2(F.leaky_relu(self.norm2(self.conv1(h)), self.slope))
        if self.sample == "down":
            h = F.avg_pool2d(h, 2)
            skip = self.shortcut(F.avg_pool2d(x, 2)) if self.first else F.avg_pool2d(self.shortcut(x), 2)
        else:
            skip = self.shortcut(x)
        return h + skip


def self_attention(x: torch.Tensor, query: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
    """PICNet's ``Auto_Attn`` map: ``x (B, C, H, W) -> (attended (B, C, H, W), attention (B, N, N))``.

    Query and key are both ``query(x)``; the values are ``x`` itself; ``N = H * W``.
    """
    b, c, h, w = x.shape
    q = query(x).flatten(2)  # (B, C/4, N)
    attention = torch.softmax(q.transpose(1, 2) @ q, dim=-1)  # (B, N, N)
    return (x.flatten(2) @ attention.transpose(1, 2)).view(b, c, h, w), attention


def bounded_grid(height: int, width: int, max_tokens: int) -> tuple[int, int]:
    """The largest ``(h, w)`` with ``h * w <= max_tokens`` and about the aspect of ``height x width``."""
    scale = (max_tokens / (height * width)) ** 0.5
    h = max(1, min(height, int(height * scale)))
    w = max(1, min(width, max_tokens // h))  # a side clamped to 1 leaves its budget to the other
    return max(1, min(h, max_tokens // w)), w


class ShortLongTermAttention(nn.Module):
    """PICNet's short+long-term attention: ``(f_g, f_e, known) -> (B, C, H, W)``.

    Self-attention over the decoder feature ``f_g`` (short-term, scaled by ``gamma``), and
    the same attention map applied to the encoder feature ``f_e`` to copy context into the
    holes (long-term, scaled by ``alpha`` where ``known`` is 0; ``f_e`` itself where known).
    Both scales start at 0. ``picnet=True`` builds PICNet's fuse block (``ResBlock(2C, C, C)``,
    no norm, slope 0.01) and resizes ``known`` bilinearly; ``False`` the legacy one (instance
    norm, slope ``negative_slope``, hidden width ``2C``) with area resizing. ``known`` may be
    given at any size; it is resized to ``f_g``'s. On a map of more than ``max_tokens``
    positions (a window larger than the training size), keys and values are averaged down to at
    most ``max_tokens`` positions (aspect kept, see :func:`bounded_grid`); queries keep the full
    resolution, so time and memory grow linearly with the pixels.
    """

    def __init__(self, channels: int, negative_slope: float = 0.1, picnet: bool = True, max_tokens: int = 0) -> None:
        super().__init__()
        self.picnet = picnet
        self.max_tokens = max_tokens  # 0 = unbounded (exact attention at any size)
        self.query = nn.Conv2d(channels, max(1, channels // 4), 1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.alpha = nn.Parameter(torch.zeros(1))
        if picnet:
            self.fuse = ResBlock(2 * channels, channels, negative_slope=FUSE_SLOPE, hidden=channels)
        else:
            self.fuse = ResBlock(2 * channels, channels, norm=True, negative_slope=negative_slope)

    def forward(self, f_g: torch.Tensor, f_e: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        b, c, h, w = f_g.shape
        if tuple(known.shape[-2:]) != (h, w):
            if self.picnet:  # PICNet's task.scale_img
                known = F.interpolate(known, size=(h, w), mode="bilinear", align_corners=True)
            else:
                known = F.interpolate(known, size=(h, w), mode="area")
        if self.max_tokens and h * w > self.max_tokens:
            # Larger than the training grid (native-resolution inference): every position still
            # queries, but keys and values come from the maps averaged down to <= max_tokens positions.
            size = bounded_grid(h, w, self.max_tokens)
            pooled = F.adaptive_avg_pool2d(f_g, size)
            q, keys = self.query(f_g).flatten(2), self.query(pooled).flatten(2)  # (B, C/4, N), (B, C/4, M)
            attention = torch.softmax(q.transpose(1, 2) @ keys, dim=-1)  # (B, N, M)
            short = (pooled.flatten(2) @ attention.transpose(1, 2)).view(b, c, h, w)
            f_e_kv = F.adaptive_avg_pool2d(f_e, size).flatten(2)
        else:
            short, attention = self_attention(f_g, self.query)
            f_e_kv = f_e.flatten(2)
        out = self.gamma * short + f_g
        context = (f_e_kv @ attention.transpose(1, 2)).view(b, -1, h, w)
        context = self.alpha * (1 - known) * context + known * f_e
        return self.fuse(torch.cat([out, context], dim=1))


class OutputLayer(nn.Sequential):
    """PICNet's ``Output``: ``(B, C, R, R) -> (B, 3, R, R)`` in [-1, 1].

    ``[norm], leaky ReLU, reflection pad, conv3x3, tanh``. PICNet has no norm (``norm=False``);
    the legacy layout has an instance norm. Without a norm an ``Identity`` keeps the slot, so
    the convolution is ``self[3]`` in both layouts.
    """

    def __init__(self, in_channels: int, negative_slope: float, norm: bool) -> None:
        super().__init__(
            _norm(in_channels, norm),
            nn.LeakyReLU(negative_slope),
            nn.ReflectionPad2d(1),
            nn.Conv2d(in_channels, 3, 3),
            nn.Tanh(),
        )


class FeedForwardEncoder(nn.Module):
    """``E``: ``(masked (B, 3, R, R), known (B, 1, R, R)) -> {r: (B, C_r, r, r)}`` for r = R/2 .. 8.

    In the ``"picnet"`` layout the output also holds, under :data:`LATENT`, the latent ``z``
    ``(B, latent_channels, 8, 8)`` of PICNet's latent branch (``infer_prior`` blocks, then the
    mean half of the ``prior`` block).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        ff = config.feedforward
        chans, slope = ff.encoder_channels, ff.negative_slope
        blocks = [ResBlock(4, chans[0], "down", negative_slope=slope, first=True)]
        blocks += [ResBlock(a, b, "down", negative_slope=slope) for a, b in itertools.pairwise(chans)]
        self.blocks = nn.ModuleList(blocks)
        self.picnet = ff.layout == "picnet"
        if self.picnet:
            c8 = config.encoder_channels_at(8)
            self.infer_prior = nn.Sequential(
                *(ResBlock(c8, c8, negative_slope=slope) for _ in range(ff.bottleneck_blocks))
            )
            self.prior = ResBlock(c8, ff.latent_channels, negative_slope=slope, hidden=c8)
        self.resolution = config.resolution

    def forward(self, masked: torch.Tensor, known: torch.Tensor) -> dict[int, torch.Tensor]:
        x = torch.cat([masked, known], dim=1)
        feats = {}
        r = self.resolution  # keys are the nominal resolutions; a larger input has larger maps
        for block in self.blocks:
            x = block(x)
            r //= 2
            feats[r] = x
        if self.picnet:
            feats[LATENT] = self.prior(self.infer_prior(x))
        return feats


class FeedForwardGenerator(nn.Module):
    """``G``: decoder with fusion of the inversion features, producing ``I_g`` ``(B, 3, R, R)`` in [-1, 1].

    ``forward(enc_feats, known, f_s)``: ``enc_feats`` from :class:`FeedForwardEncoder`,
    ``known`` ``(B, 1, R, R)``, ``f_s`` ``{r: (B, C_s, r, r)}`` (None without the inversion
    path). Returns ``(I_g, offsets, modulations)`` with one entry per deformable fusion.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        ff, slope = config.feedforward, config.feedforward.negative_slope
        self.resolution = config.resolution
        self.attention_resolution = ff.attention_resolution
        self.picnet = picnet = ff.layout == "picnet"
        dec = config.decoder_channels_at
        if picnet:  # PICNet's `generator` block: z -> f, then f_m + f
            self.latent = ResBlock(ff.latent_channels, dec(8), negative_slope=slope, hidden=dec(8))
        else:
            bottleneck = [ResBlock(config.encoder_channels_at(8), dec(8), norm=True, negative_slope=slope)]
            bottleneck += [
                ResBlock(dec(8), dec(8), norm=True, negative_slope=slope) for _ in range(ff.bottleneck_blocks - 1)
            ]
            self.bottleneck = nn.Sequential(*bottleneck)
        self.fusions = nn.ModuleDict()
        self.blocks = nn.ModuleDict()
        self.kinds: dict[int, str] = {}
        for r in config.fusion_resolutions:
            kind = config.fusion_kind(r)
            self.kinds[r] = kind
            c_s = config.stylegan.channels_at(r) if kind != "none" else 0
            if kind == "deformable":
                self.fusions[str(r)] = DeformableFusion(c_s, dec(r), config.deform_kernel_size, config.offset_groups)
            c_in = c_s + dec(r)
            if r < config.resolution:
                self.blocks[str(r)] = ResBlock(c_in, dec(2 * r), "up", norm=True, negative_slope=slope)
            else:
                self.blocks[str(r)] = OutputLayer(c_in, slope, norm=not picnet)
        if ff.attention_resolution:
            grid = ff.attention_resolution
            self.attention = ShortLongTermAttention(dec(grid), slope, picnet=picnet, max_tokens=grid * grid)

    def forward(
        self,
        enc_feats: dict[int, torch.Tensor],
        known: torch.Tensor,
        f_s: dict[int, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor], dict[int, torch.Tensor]]:
        offsets: dict[int, torch.Tensor] = {}
        modulations: dict[int, torch.Tensor] = {}
        if self.picnet:
            f_g = enc_feats[8] + self.latent(enc_feats[LATENT])
        else:
            f_g = self.bottleneck(enc_feats[8])
        r = 8
        while True:
            kind = self.kinds[r]
            if kind == "deformable" and f_s is not None:
                x, offsets[r], modulations[r] = self.fusions[str(r)](f_s[r], f_g)
            elif kind == "concat" and f_s is not None:
                x = concat_fusion(f_s[r], f_g)
            else:
                x = f_g
            out = self.blocks[str(r)](x)
            if r == self.resolution:
                return out, offsets, modulations
            r *= 2
            f_g = out
            if r == self.attention_resolution:
                f_g = self.attention(f_g, enc_feats[r], known)
