"""Slow, readable reference port of the StyleGAN2 generator and discriminator.

This module re-implements the networks of rosinality/stylegan2-pytorch
(``model.py``) with nothing but plain PyTorch:

* FIR filtering uses the *unfused* "native" ``upfirdn2d`` path: zero-insertion
  upsampling through reshape + pad, explicit padding/cropping, one
  single-channel ``F.conv2d`` of the flipped kernel over a ``(B*C, 1, H, W)``
  view, then strided subsampling.
* The fused bias + leaky ReLU is the pure-PyTorch fallback
  ``leaky_relu(x + bias, 0.2) * sqrt(2)``.
* Modulated convolutions use per-sample weights and a grouped convolution over
  the batch exactly as rosinality's ``fused=True`` path does.

It exists for two purposes:

1. tests check that the project's optimised StyleGAN2 is numerically the same
   network (the state-dict key names are identical to rosinality's, so a
   rosinality checkpoint loads here and vice versa);
2. a benchmark uses it as the "straightforward port" baseline.

The only intentional deviation from rosinality: every constant FIR kernel
(``Blur``/``Upsample``/``Downsample``) is registered as a *non-persistent*
buffer, so those kernels do not appear in ``state_dict()``.  The generator's
``noises.noise_{i}`` buffers remain persistent, as in rosinality.

Nothing here is optimised; do not use it in production code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "DEFAULT_BLUR_KERNEL",
    "Blur",
    "ConstantInput",
    "ConvLayer",
    "Downsample",
    "EqualConv2d",
    "EqualLinear",
    "FusedLeakyReLU",
    "ModulatedConv2d",
    "NoiseInjection",
    "PixelNorm",
    "ReferenceDiscriminator",
    "ReferenceGenerator",
    "ResBlock",
    "StyledConv",
    "ToRGB",
    "Upsample",
    "default_channels",
    "fused_leaky_relu",
    "make_kernel",
    "upfirdn2d_native",
]

DEFAULT_BLUR_KERNEL: tuple[int, ...] = (1, 3, 3, 1)

#: Leaky-ReLU parameters of rosinality's ``fused_leaky_relu``.
_LRELU_SLOPE: float = 0.2
_LRELU_GAIN: float = math.sqrt(2.0)


# --------------------------------------------------------------------------- #
# Low-level ops (pure PyTorch)
# --------------------------------------------------------------------------- #
def make_kernel(taps: Sequence[float]) -> Tensor:
    """Build a normalised 2-D FIR kernel from 1-D (separable) or 2-D taps.

    Args:
        taps: 1-D taps of length K (the 2-D kernel is their outer product) or
            a nested K x K sequence.

    Returns:
        float32 tensor of shape (K, K) whose entries sum to 1.
    """
    kernel = torch.tensor(taps, dtype=torch.float32)
    if kernel.ndim == 1:
        kernel = kernel[None, :] * kernel[:, None]
    return kernel / kernel.sum()


def upfirdn2d_native(
    x: Tensor,
    kernel: Tensor,
    up: int = 1,
    down: int = 1,
    pad: tuple[int, int] = (0, 0),
) -> Tensor:
    """Upsample, FIR-filter and downsample a batch of images (unfused path).

    Same maths as rosinality's ``upfirdn2d_native`` with equal factors and
    pads in x and y, written directly on NCHW tensors:

    1. insert ``up - 1`` zeros after every pixel along H and W
       (reshape to (N, 1, H, 1, W, 1), pad, reshape back);
    2. pad by ``pad[0]`` before and ``pad[1]`` after on both spatial axes
       (negative values crop);
    3. correlate with the flipped kernel (i.e. true convolution with
       ``kernel``) using a single-channel ``F.conv2d`` over a
       (B*C, 1, H', W') view;
    4. keep every ``down``-th output sample.

    Args:
        x: input of shape (B, C, H, W).
        kernel: FIR kernel of shape (kh, kw).
        up: integer upsampling factor.
        down: integer downsampling factor.
        pad: (pad_before, pad_after) applied to both H and W after upsampling.

    Returns:
        Tensor of shape (B, C, H_out, W_out) with
        ``H_out = (H * up + pad[0] + pad[1] - kh) // down + 1`` (same for W).
    """
    batch, channels, in_h, in_w = x.shape
    kernel_h, kernel_w = kernel.shape
    pad0, pad1 = int(pad[0]), int(pad[1])

    # 1. Zero-insertion upsampling.
    out = x.reshape(batch * channels, 1, in_h, 1, in_w, 1)
    out = F.pad(out, [0, up - 1, 0, 0, 0, up - 1])
    out = out.reshape(batch * channels, 1, in_h * up, in_w * up)

    # 2. Positive pads as zero padding, negative pads as crops.
    out = F.pad(out, [max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)])
    out = out[
        :,
        :,
        max(-pad0, 0) : out.shape[2] - max(-pad1, 0),
        max(-pad0, 0) : out.shape[3] - max(-pad1, 0),
    ]

    # 3. Single-channel FIR filter (flip so that conv2d's correlation becomes
    #    a true convolution, as in rosinality).
    weight = torch.flip(kernel, [0, 1]).reshape(1, 1, kernel_h, kernel_w)
    weight = weight.to(dtype=out.dtype, device=out.device)
    out = F.conv2d(out, weight)

    # 4. Strided downsampling.
    out = out[:, :, ::down, ::down]
    return out.reshape(batch, channels, out.shape[2], out.shape[3])


def fused_leaky_relu(
    x: Tensor,
    bias: Tensor | None = None,
    negative_slope: float = _LRELU_SLOPE,
    scale: float = _LRELU_GAIN,
) -> Tensor:
    """Bias add + leaky ReLU + gain, the CPU fallback of rosinality's op.

    Args:
        x: tensor of shape (B, C, ...) (e.g. (B, C) or (B, C, H, W)).
        bias: optional per-channel bias of shape (C,).
        negative_slope: kept for signature parity; rosinality's pure-PyTorch
            path always uses 0.2, and so does this function.
        scale: output gain (default sqrt(2)).

    Returns:
        Tensor with the same shape as ``x``.
    """
    del negative_slope  # rosinality's CPU path hard-codes 0.2
    if bias is not None:
        trailing = [1] * (x.ndim - bias.ndim - 1)
        x = x + bias.view(1, bias.shape[0], *trailing)
    return F.leaky_relu(x, negative_slope=_LRELU_SLOPE) * scale


class FusedLeakyReLU(nn.Module):
    """Per-channel bias followed by scaled leaky ReLU.

    Parameters: ``bias`` of shape (C,) (zeros) when ``bias=True``.
    Input/output shape: (B, C, ...).
    """

    def __init__(
        self,
        channel: int,
        bias: bool = True,
        negative_slope: float = _LRELU_SLOPE,
        scale: float = _LRELU_GAIN,
    ) -> None:
        super().__init__()
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.zeros(channel))
        else:
            self.bias = None
        self.negative_slope = negative_slope
        self.scale = scale

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, ...) -> (B, C, ...)."""
        return fused_leaky_relu(x, self.bias, self.negative_slope, self.scale)


# --------------------------------------------------------------------------- #
# Building blocks
# --------------------------------------------------------------------------- #
class PixelNorm(nn.Module):
    """Normalise each sample to unit RMS over dim 1.

    Input/output shape: (B, D) (or (B, C, ...)).
    """

    def forward(self, x: Tensor) -> Tensor:
        """(B, D) -> (B, D)."""
        return x * torch.rsqrt(torch.mean(x**2, dim=1, keepdim=True) + 1e-8)


class Upsample(nn.Module):
    """2x FIR upsampling (used on the ToRGB skip path).

    ``upfirdn2d(x, kernel * factor**2, up=factor, pad=(p0, p1))`` with, for the
    default [1, 3, 3, 1] kernel and factor 2, ``pad = (2, 1)``.
    Input (B, C, H, W) -> output (B, C, 2H, 2W).
    The kernel is a non-persistent buffer.
    """

    kernel: Tensor

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel) * (factor**2)
        self.register_buffer("kernel", k, persistent=False)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, factor*H, factor*W)."""
        return upfirdn2d_native(x, self.kernel, up=self.factor, down=1, pad=self.pad)


class Downsample(nn.Module):
    """2x FIR downsampling (not used by the networks; kept for completeness).

    Input (B, C, H, W) -> output (B, C, H/2, W/2). Non-persistent kernel.
    """

    kernel: Tensor

    def __init__(self, kernel: Sequence[float], factor: int = 2) -> None:
        super().__init__()
        self.factor = factor
        k = make_kernel(kernel)
        self.register_buffer("kernel", k, persistent=False)
        p = k.shape[0] - factor
        self.pad = ((p + 1) // 2, p // 2)

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H/factor, W/factor)."""
        return upfirdn2d_native(x, self.kernel, up=1, down=self.factor, pad=self.pad)


class Blur(nn.Module):
    """Pure FIR filter with padding (no resampling).

    The kernel is multiplied by ``upsample_factor**2`` when it follows a
    zero-inserting (transposed, stride-2) convolution.
    Input (B, C, H, W) -> output (B, C, H + p0 + p1 - K + 1, W + p0 + p1 - K + 1).
    The kernel is a non-persistent buffer.
    """

    kernel: Tensor

    def __init__(
        self,
        kernel: Sequence[float],
        pad: tuple[int, int],
        upsample_factor: int = 1,
    ) -> None:
        super().__init__()
        k = make_kernel(kernel)
        if upsample_factor > 1:
            k = k * (upsample_factor**2)
        self.register_buffer("kernel", k, persistent=False)
        self.pad = (int(pad[0]), int(pad[1]))

    def forward(self, x: Tensor) -> Tensor:
        """(B, C, H, W) -> (B, C, H', W')."""
        return upfirdn2d_native(x, self.kernel, up=1, down=1, pad=self.pad)


class EqualConv2d(nn.Module):
    """Conv2d with equalised learning rate (weight scaled by 1/sqrt(fan_in)).

    Parameters: ``weight`` (out, in, k, k) ~ N(0, 1); ``bias`` (out,) zeros
    when ``bias=True``.
    Input (B, in, H, W) -> output (B, out, H', W').
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.stride = stride
        self.padding = padding
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_channel))
        else:
            self.bias = None

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H', W')."""
        return F.conv2d(
            x,
            self.weight * self.scale,
            bias=self.bias,
            stride=self.stride,
            padding=self.padding,
        )

    def extra_repr(self) -> str:
        out_c, in_c, k, _ = self.weight.shape
        return f"{in_c}, {out_c}, {k}, stride={self.stride}, padding={self.padding}"


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate and learning-rate multiplier.

    Stored ``weight`` (out, in) is initialised N(0, 1) / lr_mul and used as
    ``weight * lr_mul / sqrt(in)``; stored ``bias`` (out,) is initialised to
    ``bias_init`` and used as ``bias * lr_mul``.  With
    ``activation='fused_lrelu'`` the bias is added inside the fused leaky ReLU.
    Input (B, in) -> output (B, out).
    """

    def __init__(
        self,
        in_dim: int,
        out_dim: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: str | None = None,
    ) -> None:
        super().__init__()
        if activation not in (None, "fused_lrelu"):
            raise ValueError(f"unsupported activation {activation!r}")
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_dim).fill_(bias_init))
        else:
            self.bias = None
        self.activation = activation
        self.scale = (1.0 / math.sqrt(in_dim)) * lr_mul
        self.lr_mul = lr_mul

    def forward(self, x: Tensor) -> Tensor:
        """(B, in) -> (B, out)."""
        bias = None if self.bias is None else self.bias * self.lr_mul
        if self.activation:
            out = F.linear(x, self.weight * self.scale)
            return fused_leaky_relu(out, bias)
        return F.linear(x, self.weight * self.scale, bias=bias)

    def extra_repr(self) -> str:
        out_d, in_d = self.weight.shape
        return f"{in_d}, {out_d}, lr_mul={self.lr_mul}, activation={self.activation}"


class ModulatedConv2d(nn.Module):
    """Style-modulated (and optionally demodulated) convolution.

    Per sample b: ``w_b[o, i] = scale * weight[0, o, i] * s_b[i]`` with
    ``s_b = modulation(style_b)`` (an EqualLinear with bias_init 1); with
    ``demodulate`` each ``w_b[o]`` is divided by ``sqrt(sum(w_b[o]**2) + 1e-8)``.
    The batch is folded into the channel axis and a grouped convolution
    (``groups=B``) applies each sample's own weights.

    * ``upsample``: transposed conv, stride 2, no padding, then
      ``Blur(pad=(1, 1), upsample_factor=2)`` (for k=3 and the 4-tap kernel).
    * ``downsample``: Blur then stride-2 conv (not used by the generator).
    * otherwise: "same" convolution with padding k // 2.

    Parameters: ``weight`` (1, out, in, k, k); ``modulation.weight``
    (in, style_dim); ``modulation.bias`` (in,).
    Input (B, in, H, W) + style (B, style_dim) -> (B, out, H', W'), where
    H' = 2H when upsampling, H/2 when downsampling, H otherwise.
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        downsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.eps = 1e-8
        self.kernel_size = kernel_size
        self.in_channel = in_channel
        self.out_channel = out_channel
        self.upsample = upsample
        self.downsample = downsample

        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(
                blur_kernel,
                pad=((p + 1) // 2 + factor - 1, p // 2 + 1),
                upsample_factor=factor,
            )
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2, p // 2))

        self.scale = 1.0 / math.sqrt(in_channel * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1)
        self.demodulate = demodulate

    def forward(self, x: Tensor, style: Tensor) -> Tensor:
        """(B, in, H, W), (B, style_dim) -> (B, out, H', W')."""
        batch, in_channel, height, width = x.shape
        k = self.kernel_size

        # Per-sample modulated weights: (B, out, in, k, k).
        s = self.modulation(style).view(batch, 1, in_channel, 1, 1)
        weight = self.scale * self.weight * s
        if self.demodulate:
            demod = torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + self.eps)
            weight = weight * demod.view(batch, self.out_channel, 1, 1, 1)

        if self.upsample:
            # conv_transpose2d wants (in_groups*in, out, k, k).
            x = x.view(1, batch * in_channel, height, width)
            weight = weight.transpose(1, 2).reshape(batch * in_channel, self.out_channel, k, k)
            out = F.conv_transpose2d(x, weight, padding=0, stride=2, groups=batch)
            out = out.view(batch, self.out_channel, out.shape[2], out.shape[3])
            return self.blur(out)

        weight = weight.view(batch * self.out_channel, in_channel, k, k)
        if self.downsample:
            x = self.blur(x)
            x = x.view(1, batch * in_channel, x.shape[2], x.shape[3])
            out = F.conv2d(x, weight, padding=0, stride=2, groups=batch)
        else:
            x = x.view(1, batch * in_channel, height, width)
            out = F.conv2d(x, weight, padding=self.padding, groups=batch)
        return out.view(batch, self.out_channel, out.shape[2], out.shape[3])

    def extra_repr(self) -> str:
        return (
            f"{self.in_channel}, {self.out_channel}, {self.kernel_size}, "
            f"demodulate={self.demodulate}, upsample={self.upsample}, "
            f"downsample={self.downsample}"
        )


class NoiseInjection(nn.Module):
    """Add ``weight * noise`` with a learned scalar ``weight`` of shape (1,).

    ``noise`` has shape (B or 1, 1, H, W); if None, fresh N(0, 1) noise is drawn.
    Input/output shape: (B, C, H, W).
    """

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, image: Tensor, noise: Tensor | None = None) -> Tensor:
        """(B, C, H, W), (B|1, 1, H, W) -> (B, C, H, W)."""
        if noise is None:
            batch, _, height, width = image.shape
            noise = image.new_empty(batch, 1, height, width).normal_()
        return image + self.weight * noise


class ConstantInput(nn.Module):
    """Learned constant ``input`` of shape (1, C, size, size), repeated over B.

    ``forward(latent)`` only uses ``latent.shape[0]``; returns (B, C, size, size).
    """

    def __init__(self, channel: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, latent: Tensor) -> Tensor:
        """(B, ...) -> (B, C, size, size)."""
        return self.input.repeat(latent.shape[0], 1, 1, 1)


class StyledConv(nn.Module):
    """ModulatedConv2d -> NoiseInjection -> FusedLeakyReLU (per-channel bias).

    Submodules/keys: ``conv.*`` (ModulatedConv2d), ``noise.weight`` (1,),
    ``activate.bias`` (out,).
    Input (B, in, H, W) + style (B, style_dim) -> (B, out, H', W').
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        style_dim: int,
        upsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        demodulate: bool = True,
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channel,
            out_channel,
            kernel_size,
            style_dim,
            demodulate=demodulate,
            upsample=upsample,
            blur_kernel=blur_kernel,
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)

    def forward(self, x: Tensor, style: Tensor, noise: Tensor | None = None) -> Tensor:
        """(B, in, H, W), (B, style_dim), (B|1, 1, H', W') -> (B, out, H', W')."""
        out = self.conv(x, style)
        out = self.noise(out, noise=noise)
        return self.activate(out)


class ToRGB(nn.Module):
    """1x1 modulated conv (no demodulation) to 3 channels, plus bias and skip.

    Keys: ``conv.weight`` (1, 3, in, 1, 1), ``conv.modulation.weight``
    (in, style_dim), ``conv.modulation.bias`` (in,), ``bias`` (1, 3, 1, 1).
    If ``skip`` (B, 3, H/2, W/2) is given it is upsampled with
    ``Upsample`` (upfirdn2d, up=2, pad=(2, 1), kernel * 4) and added.
    Input (B, in, H, W) + style (B, style_dim) -> (B, 3, H, W).
    """

    def __init__(
        self,
        in_channel: int,
        style_dim: int,
        upsample: bool = True,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: Tensor, style: Tensor, skip: Tensor | None = None) -> Tensor:
        """(B, in, H, W), (B, style_dim), (B, 3, H/2, W/2)? -> (B, 3, H, W)."""
        out = self.conv(x, style) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def default_channels(channel_multiplier: int = 2) -> dict[int, int]:
    """rosinality's {resolution: channels} table for a channel multiplier."""
    return {
        4: 512,
        8: 512,
        16: 512,
        32: 512,
        64: 256 * channel_multiplier,
        128: 128 * channel_multiplier,
        256: 64 * channel_multiplier,
        512: 32 * channel_multiplier,
        1024: 16 * channel_multiplier,
    }


def _resolve_channels(channel_multiplier: int, channels: dict[int, int] | None) -> dict[int, int]:
    table = default_channels(channel_multiplier)
    if channels is not None:
        table.update({int(k): int(v) for k, v in channels.items()})
    return table


def _log2_size(size: int) -> int:
    log_size = int(math.log2(size))
    if size < 4 or 2**log_size != size:
        raise ValueError(f"size must be a power of two >= 4, got {size}")
    return log_size


# --------------------------------------------------------------------------- #
# Generator
# --------------------------------------------------------------------------- #
class ReferenceGenerator(nn.Module):
    """StyleGAN2 generator (rosinality layout, pure-PyTorch ops).

    Args:
        size: output resolution (power of two >= 4).
        style_dim: latent / style dimension.
        n_mlp: number of mapping-network EqualLinear layers.
        channel_multiplier: rosinality's channel multiplier (2 = config-f).
        lr_mlp: learning-rate multiplier of the mapping network.
        channels: optional {resolution: channels} overrides of the default
            table (see :func:`default_channels`).

    Attributes:
        style: ``nn.Sequential(PixelNorm, EqualLinear x n_mlp)``; maps
            z (B, style_dim) -> w (B, style_dim).
        n_latent: number of W+ entries, ``2 * log2(size) - 2``.
        num_layers: number of noise inputs, ``2 * log2(size) - 3``.

    State-dict keys (rosinality names): ``style.{1..n_mlp}.{weight,bias}``,
    ``input.input``, ``conv1.*``, ``to_rgb1.*``, ``convs.{j}.*``,
    ``to_rgbs.{j}.*``, ``noises.noise_{i}``.  FIR kernels are not saved.
    """

    def __init__(
        self,
        size: int,
        style_dim: int = 512,
        n_mlp: int = 8,
        channel_multiplier: int = 2,
        lr_mlp: float = 0.01,
        channels: dict[int, int] | None = None,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.size = size
        self.style_dim = style_dim
        self.log_size = _log2_size(size)
        self.channels = _resolve_channels(channel_multiplier, channels)

        layers: list[nn.Module] = [PixelNorm()]
        for _ in range(n_mlp):
            layers.append(EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu"))
        self.style = nn.Sequential(*layers)

        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False)

        self.num_layers = (self.log_size - 2) * 2 + 1
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()

        for layer_idx in range(self.num_layers):
            res = (layer_idx + 5) // 2
            self.noises.register_buffer(f"noise_{layer_idx}", torch.randn(1, 1, 2**res, 2**res))

        in_channel = c4
        for i in range(3, self.log_size + 1):
            out_channel = self.channels[2**i]
            self.convs.append(
                StyledConv(
                    in_channel,
                    out_channel,
                    3,
                    style_dim,
                    upsample=True,
                    blur_kernel=blur_kernel,
                )
            )
            self.convs.append(StyledConv(out_channel, out_channel, 3, style_dim, blur_kernel=blur_kernel))
            self.to_rgbs.append(ToRGB(out_channel, style_dim, blur_kernel=blur_kernel))
            in_channel = out_channel

        self.n_latent = self.log_size * 2 - 2

    def _noise_list(self, noise_mode: str) -> list[Tensor]:
        stored = [getattr(self.noises, f"noise_{i}") for i in range(self.num_layers)]
        if noise_mode == "const":
            return stored
        if noise_mode == "none":
            return [torch.zeros_like(n) for n in stored]
        raise ValueError(f"noise_mode must be 'const' or 'none', got {noise_mode!r}")

    def forward(
        self,
        w_plus: Tensor,
        noise_mode: str = "const",
        return_features: bool = False,
    ) -> Tensor | tuple[Tensor, dict[int, Tensor]]:
        """Synthesise images from W+ latents.

        Args:
            w_plus: (B, n_latent, style_dim) latents.  Indexing as rosinality:
                conv1 uses ``w_plus[:, 0]``, to_rgb1 ``w_plus[:, 1]``; at each
                further resolution the up-conv uses ``[:, i]``, the second conv
                ``[:, i + 1]`` and to_rgb ``[:, i + 2]`` with i = 1, 3, 5, ...
            noise_mode: "const" uses the stored ``noises.noise_{i}`` buffers
                (shape (1, 1, r, r)); "none" uses zeros.
            return_features: also return intermediate activations.

        Returns:
            image (B, 3, size, size); if ``return_features`` the tuple
            ``(image, features)`` where ``features[r]`` is the (B, C_r, r, r)
            activation after conv1 (r = 4) or after the second, non-upsampling
            StyledConv of resolution r (r = 8 .. size).
        """
        if w_plus.ndim != 3 or w_plus.shape[1] != self.n_latent or w_plus.shape[2] != self.style_dim:
            raise ValueError(
                f"expected w_plus of shape (B, {self.n_latent}, {self.style_dim}), got {tuple(w_plus.shape)}"
            )
        noise = self._noise_list(noise_mode)
        latent = w_plus
        features: dict[int, Tensor] = {}

        out = self.input(latent)
        out = self.conv1(out, latent[:, 0], noise=noise[0])
        features[4] = out
        skip = self.to_rgb1(out, latent[:, 1])

        i = 1
        for conv_up, conv, noise1, noise2, to_rgb in zip(
            self.convs[::2], self.convs[1::2], noise[1::2], noise[2::2], self.to_rgbs
        ):
            out = conv_up(out, latent[:, i], noise=noise1)
            out = conv(out, latent[:, i + 1], noise=noise2)
            features[out.shape[-1]] = out
            skip = to_rgb(out, latent[:, i + 2], skip)
            i += 2

        image = skip
        if return_features:
            return image, features
        return image

    @torch.no_grad()
    def mean_latent(self, n: int) -> Tensor:
        """Average of ``style(z)`` over ``n`` random z; shape (1, style_dim)."""
        z = torch.randn(n, self.style_dim, device=self.input.input.device)
        return self.style(z).mean(0, keepdim=True)


# --------------------------------------------------------------------------- #
# Discriminator
# --------------------------------------------------------------------------- #
class ConvLayer(nn.Sequential):
    """[Blur] -> EqualConv2d -> [FusedLeakyReLU], as an ``nn.Sequential``.

    With ``downsample`` the Blur is index 0 (non-persistent kernel, pad
    ((p+1)//2, p//2) with p = len(blur_kernel) - 2 + k - 1) and the conv has
    stride 2, padding 0; otherwise the conv is index 0 with "same" padding.
    The conv carries the bias only when there is no activation; otherwise the
    bias lives in the FusedLeakyReLU.
    Input (B, in, H, W) -> (B, out, H or H/2, W or W/2).
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        kernel_size: int,
        downsample: bool = False,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            factor = 2
            p = (len(blur_kernel) - factor) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride = 2
            padding = 0
        else:
            stride = 1
            padding = kernel_size // 2
        layers.append(
            EqualConv2d(
                in_channel,
                out_channel,
                kernel_size,
                padding=padding,
                stride=stride,
                bias=bias and not activate,
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channel, bias=bias))
        super().__init__(*layers)
        self.padding = padding


class ResBlock(nn.Module):
    """Residual downsampling block: (conv3x3 -> conv3x3 down) + 1x1 down skip.

    Output is ``(main + skip) / sqrt(2)``.
    Input (B, in, H, W) -> (B, out, H/2, W/2).
    """

    def __init__(
        self,
        in_channel: int,
        out_channel: int,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(
            in_channel,
            out_channel,
            1,
            downsample=True,
            activate=False,
            bias=False,
            blur_kernel=blur_kernel,
        )

    def forward(self, x: Tensor) -> Tensor:
        """(B, in, H, W) -> (B, out, H/2, W/2)."""
        out = self.conv2(self.conv1(x))
        return (out + self.skip(x)) / math.sqrt(2)


class ReferenceDiscriminator(nn.Module):
    """StyleGAN2 residual discriminator (rosinality layout, pure-PyTorch ops).

    Args:
        size: input resolution (power of two >= 4).
        channel_multiplier: rosinality's channel multiplier (2 = config-f).
        channels: optional {resolution: channels} overrides of the default
            table (see :func:`default_channels`).

    Layout: ``convs.0`` = ConvLayer(3, C_size, 1) (from-RGB), ``convs.1..``
    = ResBlocks halving the resolution down to 4x4; minibatch-stddev
    (group min(B, 4), 1 feature); ``final_conv`` = ConvLayer(C_4 + 1, C_4, 3);
    ``final_linear`` = EqualLinear(C_4*16, C_4, fused_lrelu) -> EqualLinear(C_4, 1).
    As in rosinality, B must be divisible by min(B, 4).
    """

    def __init__(
        self,
        size: int,
        channel_multiplier: int = 2,
        channels: dict[int, int] | None = None,
        blur_kernel: Sequence[float] = DEFAULT_BLUR_KERNEL,
    ) -> None:
        super().__init__()
        self.size = size
        log_size = _log2_size(size)
        self.channels = _resolve_channels(channel_multiplier, channels)
        ch = self.channels

        convs: list[nn.Module] = [ConvLayer(3, ch[size], 1)]
        in_channel = ch[size]
        for i in range(log_size, 2, -1):
            out_channel = ch[2 ** (i - 1)]
            convs.append(ResBlock(in_channel, out_channel, blur_kernel))
            in_channel = out_channel
        self.convs = nn.Sequential(*convs)

        self.stddev_group = 4
        self.stddev_feat = 1

        self.final_conv = ConvLayer(in_channel + 1, ch[4], 3)
        self.final_linear = nn.Sequential(
            EqualLinear(ch[4] * 4 * 4, ch[4], activation="fused_lrelu"),
            EqualLinear(ch[4], 1),
        )

    def forward(self, image: Tensor) -> Tensor:
        """(B, 3, size, size) -> logits (B, 1)."""
        out = self.convs(image)

        batch, channel, height, width = out.shape
        group = min(batch, self.stddev_group)
        # Sample n of group g is batch index g * (B // group) + n, as in
        # rosinality's view(group, -1, ...).
        stddev = out.view(group, -1, self.stddev_feat, channel // self.stddev_feat, height, width)
        stddev = torch.sqrt(stddev.var(0, unbiased=False) + 1e-8)
        stddev = stddev.mean([2, 3, 4], keepdim=True).squeeze(2)
        stddev = stddev.repeat(group, 1, height, width)
        out = torch.cat([out, stddev], 1)

        out = self.final_conv(out)
        out = out.view(batch, -1)
        return self.final_linear(out)
