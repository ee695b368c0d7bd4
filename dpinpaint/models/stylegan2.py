"""StyleGAN2 generator and discriminator (Karras et al. 2020), the inversion path's ``G_s`` / ``D_s``.

Numerically the network of the widely used PyTorch port (rosinality/stylegan2-pytorch
``model.py``), with the same state-dict keys, so its checkpoints load without renaming
(the constant FIR kernels are non-persistent buffers, and ``w_avg`` is added):

- mapping: PixelNorm, then ``n_mlp`` equalised-lr linear layers (lr multiplier 0.01) with
  fused leaky ReLU;
- synthesis: a learned 4x4 constant, modulated 3x3 convolutions with weight demodulation,
  2x upsampling by a stride-2 transposed convolution followed by a ``[1, 3, 3, 1]`` blur,
  per-layer noise with a learned strength, bias + leaky ReLU(0.2) * sqrt(2), and ToRGB
  skip outputs summed with FIR upsampling.

Only the execution differs (for the CPU): depthwise FIR convolutions (:mod:`dpinpaint.ops.upfirdn`),
channels-last activations, and for batches the styles modulate activations around one shared
convolution (StyleGAN2's "non-fused" form) instead of a grouped convolution of per-sample weights.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from ..config import StyleGAN2Config
from ..errors import InvalidInputError
from ..ops.activation import LRELU_GAIN, can_overwrite, fused_leaky_relu
from ..ops.upfirdn import fir_filter2d, fir_upsample2d, make_fir_kernel

__all__ = [
    "StyleGAN2Generator",
    "StyleGAN2Discriminator",
    "EqualLinear",
    "EqualConv2d",
    "ModulatedConv2d",
    "StyledConv",
    "ToRGB",
]

NoiseMode = Literal["const", "random", "none"]

# Synthesis activations run channels-last: oneDNN convolutions up to 1.3x faster, FIR filters 2x.
_CL = torch.channels_last


class PixelNorm(nn.Module):
    """Normalise each latent to unit mean square: ``(B, D) -> (B, D)``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate: ``(B, in) -> (B, out)``.

    Weights are stored as ``N(0, 1) / lr_mul`` and scaled by ``lr_mul / sqrt(in)`` at run
    time; with ``activation="lrelu"`` the bias goes through the fused leaky ReLU.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        bias_init: float = 0.0,
        lr_mul: float = 1.0,
        activation: Literal["lrelu"] | None = None,
    ) -> None:
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = nn.Parameter(torch.randn(out_features, in_features).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_features)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bias = self.bias * self.lr_mul if self.bias is not None else None
        if self.activation == "lrelu":
            return fused_leaky_relu(F.linear(x, self.weight * self.scale), bias)
        return F.linear(x, self.weight * self.scale, bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}, "
            f"lr_mul={self.lr_mul}, activation={self.activation}"
        )


class EqualConv2d(nn.Module):
    """Convolution with equalised learning rate: ``(B, in, H, W) -> (B, out, H', W')``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}, bias={self.bias is not None}"
        )


class FusedLeakyReLU(nn.Module):
    """Per-channel bias, leaky ReLU(0.2), gain sqrt(2): ``(B, C, ...) -> (B, C, ...)``."""

    def __init__(self, channels: int, bias: bool = True) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    """Pad and filter with a normalised FIR (times ``gain``): ``(B, C, H, W) -> (B, C, H', W')``."""

    kernel: torch.Tensor

    def __init__(self, taps: tuple[int, ...], pad: tuple[int, int], gain: float = 1.0) -> None:
        super().__init__()
        self.register_buffer("kernel", make_fir_kernel(taps, gain), persistent=False)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fir_filter2d(x, self.kernel, self.pad)

    def extra_repr(self) -> str:
        return f"pad={self.pad}"


class Upsample(nn.Module):
    """2x FIR upsampling (ToRGB skips): ``(B, C, H, W) -> (B, C, 2H, 2W)``."""

    kernel: torch.Tensor

    def __init__(self, taps: tuple[int, ...]) -> None:
        super().__init__()
        self.register_buffer("kernel", make_fir_kernel(taps, gain=4.0), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fir_upsample2d(x, self.kernel)


class ModulatedConv2d(nn.Module):
    """Style-modulated convolution with optional demodulation and 2x upsampling.

    ``forward(x, w)``: ``x`` ``(B, in, H, W)``, ``w`` ``(B, w_dim)`` ->
    ``(B, out, H, W)`` (or ``(B, out, 2H, 2W)`` with ``upsample``). Parameter ``weight``
    is ``(1, out, in, k, k)`` as in the reference port; ``modulation`` maps ``w`` to one
    scale per input channel (bias initialised to 1).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.demodulate, self.upsample = demodulate, upsample
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(w_dim, in_channels, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        if upsample:
            # Transposed conv gives 2H + k - 2 pixels; the blur pads so that 2H remain.
            p = (len(blur_kernel) - 2) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + 1, p // 2 + 1), gain=4.0)

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        batch = x.shape[0]
        style = self.modulation(w)  # (B, in)
        weight = self.weight[0] * self.scale  # (out, in, k, k)
        demod = None
        if self.demodulate:
            # sum_{i,k} (W[o,i,k] s[b,i])^2 = (s^2) @ (sum_k W[o,i,k]^2)^T
            demod = torch.rsqrt(style.pow(2) @ weight.pow(2).sum(dim=(2, 3)).t() + 1e-8)  # (B, out)
        if batch == 1:
            # One image: fold style and demodulation into the weight (one plain conv).
            w1 = weight * style.view(1, -1, 1, 1)
            if demod is not None:
                w1 = w1 * demod.view(-1, 1, 1, 1)
            return self._conv(x, w1)
        # A batch: modulate activations around one shared convolution.
        out = self._conv(x * style.view(batch, -1, 1, 1).to(x.dtype), weight)
        if demod is not None:
            d = demod.view(batch, -1, 1, 1).to(out.dtype)
            out = out.mul_(d) if can_overwrite(out) else out * d
        return out

    def _conv(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            out = F.conv_transpose2d(x, weight.transpose(0, 1), stride=2)
            return self.blur(out)
        return F.conv2d(x, weight, padding=self.padding)

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"demodulate={self.demodulate}, upsample={self.upsample}"
        )


class NoiseInjection(nn.Module):
    """Add per-pixel noise ``(B|1, 1, H, W)`` with a learned strength (initialised to 0)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        return x + self.weight * noise


class StyledConv(nn.Module):
    """Modulated conv, noise, bias + leaky ReLU: ``(B, in, H, W), (B, w_dim) -> (B, out, H|2H, W|2W)``."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        w_dim: int,
        upsample: bool = False,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(
            in_channels, out_channels, kernel_size, w_dim, upsample=upsample, blur_kernel=blur_kernel
        )
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        out = self.conv(x, w)
        if not can_overwrite(out):
            return self.activate(self.noise(out, noise))
        # Inference: the conv output is ours, so noise, bias and activation reuse its buffer.
        if noise is not None:
            out.add_(self.noise.weight * noise)
        return fused_leaky_relu(out, self.activate.bias, inplace=True)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) plus the upsampled skip: ``-> (B, 3, H, W)``."""

    def __init__(
        self, in_channels: int, w_dim: int, upsample: bool = True, blur_kernel: tuple[int, ...] = (1, 3, 3, 1)
    ) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channels, 3, 1, w_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, w) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    """The learned 4x4 constant that starts the synthesis: ``-> (B, C, 4, 4)``."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:
        return self.input.expand(batch, -1, -1, -1)


class StyleGAN2Generator(nn.Module):
    """StyleGAN2 generator ``G_s`` built from a :class:`~dpinpaint.config.StyleGAN2Config`.

    Public surface:
        - :meth:`mapping` ``z (B, z_dim) -> w (B, w_dim)``;
        - :meth:`synthesis` ``w_plus (B, n_latent, w_dim) -> (image (B, 3, R, R), {res: feature})``;
        - buffer ``w_avg`` ``(w_dim,)``: the average ``w`` (see :meth:`update_w_avg`);
        - attribute ``n_latent`` (``2 * log2(R) - 2``).
    """

    w_avg: torch.Tensor

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        c, w_dim, taps = config.channels_at, config.w_dim, config.blur_kernel
        self.resolution, self.w_dim, self.n_latent = config.resolution, w_dim, config.n_latent
        self.style = nn.Sequential(
            PixelNorm(),
            *[EqualLinear(w_dim, w_dim, lr_mul=config.lr_mlp, activation="lrelu") for _ in range(config.n_mlp)],
        )
        self.input = ConstantInput(c(4))
        self.conv1 = StyledConv(c(4), c(4), 3, w_dim, blur_kernel=taps)
        self.to_rgb1 = ToRGB(c(4), w_dim, upsample=False)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = nn.Module()
        self.noises.register_buffer("noise_0", torch.randn(1, 1, 4, 4))
        for res in config.resolutions[1:]:
            self.convs.append(StyledConv(c(res // 2), c(res), 3, w_dim, upsample=True, blur_kernel=taps))
            self.convs.append(StyledConv(c(res), c(res), 3, w_dim, blur_kernel=taps))
            self.to_rgbs.append(ToRGB(c(res), w_dim, blur_kernel=taps))
            for _ in range(2):
                self.noises.register_buffer(f"noise_{len(self.noises._buffers)}", torch.randn(1, 1, res, res))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    @property
    def num_layers(self) -> int:
        """Number of styled convolutions (each has one noise buffer)."""
        return 1 + len(self.convs)

    def mapping(self, z: torch.Tensor, truncation_psi: float = 1.0) -> torch.Tensor:
        """``z`` ``(B, z_dim)`` -> ``w`` ``(B, w_dim)``; ``truncation_psi < 1`` pulls towards ``w_avg``."""
        if z.dim() != 2 or z.shape[1] != self.config.z_dim:
            raise InvalidInputError(f"z must have shape (B, {self.config.z_dim}), got {tuple(z.shape)}")
        w = self.style(z)
        if truncation_psi != 1.0:
            w = self.w_avg.lerp(w, truncation_psi)
        return w

    @torch.no_grad()
    def update_w_avg(self, num_samples: int = 10_000, seed: int = 0, batch_size: int = 1_000) -> torch.Tensor:
        """Set ``w_avg`` to the mean of ``mapping(z)`` over ``num_samples`` seeded ``z``."""
        gen = torch.Generator().manual_seed(seed)
        total = torch.zeros(self.w_dim, dtype=torch.float64)
        for start in range(0, num_samples, batch_size):
            n = min(batch_size, num_samples - start)
            z = torch.randn(n, self.config.z_dim, generator=gen).to(self.w_avg.device)
            total += self.style(z).double().sum(dim=0).cpu()
        self.w_avg.copy_((total / num_samples).to(self.w_avg))
        return self.w_avg

    def _noise(self, layer: int, batch: int, res: int, mode: NoiseMode, like: torch.Tensor) -> torch.Tensor | None:
        if mode == "none":
            return None
        if mode == "random":
            return torch.randn(batch, 1, res, res, device=like.device, dtype=like.dtype)
        return getattr(self.noises, f"noise_{layer}")

    def synthesis(
        self, w_plus: torch.Tensor, noise_mode: NoiseMode = "const"
    ) -> tuple[torch.Tensor, dict[int, torch.Tensor]]:
        """Render W+ latents.

        Args:
            w_plus: ``(B, n_latent, w_dim)``.
            noise_mode: ``"const"`` (the stored noise buffers: deterministic), ``"random"``
                or ``"none"``.

        Returns:
            ``(image, features)``: image ``(B, 3, R, R)`` (roughly in [-1, 1]) and, for every
            resolution ``r`` in 4..R, the feature map after the second (non-upsampling)
            conv of that resolution (for 4x4 its only conv): ``{r: (B, C_r, r, r)}``.
        """
        if w_plus.dim() != 3 or tuple(w_plus.shape[1:]) != (self.n_latent, self.w_dim):
            raise InvalidInputError(
                f"w_plus must have shape (B, {self.n_latent}, {self.w_dim}), got {tuple(w_plus.shape)}"
            )
        if noise_mode not in ("const", "random", "none"):
            raise InvalidInputError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        batch = w_plus.shape[0]
        x = self.input(batch).to(w_plus.dtype).contiguous(memory_format=_CL)
        x = self.conv1(x, w_plus[:, 0], self._noise(0, batch, 4, noise_mode, x))
        features = {4: x}
        skip = self.to_rgb1(x, w_plus[:, 1])
        for i, res in enumerate(self.config.resolutions[1:]):
            up, conv, to_rgb = self.convs[2 * i], self.convs[2 * i + 1], self.to_rgbs[i]
            x = up(x, w_plus[:, 2 * i + 1], self._noise(2 * i + 1, batch, res, noise_mode, x))
            x = conv(x, w_plus[:, 2 * i + 2], self._noise(2 * i + 2, batch, res, noise_mode, x))
            features[res] = x
            skip = to_rgb(x, w_plus[:, 2 * i + 3], skip)
        return skip, features

    def forward(self, z: torch.Tensor, truncation_psi: float = 1.0, noise_mode: NoiseMode = "const") -> torch.Tensor:
        """Sample images from ``z`` ``(B, z_dim)``: ``-> (B, 3, R, R)``."""
        w = self.mapping(z, truncation_psi)
        return self.synthesis(w.unsqueeze(1).expand(-1, self.n_latent, -1), noise_mode)[0]

    def extra_repr(self) -> str:
        cfg = self.config
        return f"resolution={cfg.resolution}, w_dim={cfg.w_dim}, n_mlp={cfg.n_mlp}, channels={cfg.channels}"


class ConvLayer(nn.Sequential):
    """Discriminator conv: [blur for stride-2 downsampling], equalised conv, [bias + lrelu]."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        downsample: bool = False,
        blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
        bias: bool = True,
        activate: bool = True,
    ) -> None:
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(
            EqualConv2d(
                in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=bias and not activate
            )
        )
        if activate:
            layers.append(FusedLeakyReLU(out_channels, bias=bias))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Residual downsampling block: ``(B, in, H, W) -> (B, out, H/2, W/2)``, sum scaled by 1/sqrt(2)."""

    def __init__(self, in_channels: int, out_channels: int, blur_kernel: tuple[int, ...] = (1, 3, 3, 1)) -> None:
        super().__init__()
        self.conv1 = ConvLayer(in_channels, in_channels, 3, blur_kernel=blur_kernel)
        self.conv2 = ConvLayer(in_channels, out_channels, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(
            in_channels, out_channels, 1, downsample=True, blur_kernel=blur_kernel, activate=False, bias=False
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / LRELU_GAIN


class StyleGAN2Discriminator(nn.Module):
    """StyleGAN2 residual discriminator ``D_s``: ``(B, 3, R, R) -> (B, 1)`` logits."""

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        self.config = config
        c, taps = config.channels_at, config.blur_kernel
        resolutions = config.resolutions[::-1]  # R, R/2, ..., 4
        blocks: list[nn.Module] = [ConvLayer(3, c(config.resolution), 1)]
        for res in resolutions[:-1]:
            blocks.append(ResBlock(c(res), c(res // 2), taps))
        self.convs = nn.Sequential(*blocks)
        self.stddev_group, self.stddev_feat = config.mbstd_group, config.mbstd_features
        self.final_conv = ConvLayer(c(4) + config.mbstd_features, c(4), 3)
        self.final_linear = nn.Sequential(
            EqualLinear(c(4) * 4 * 4, c(4), activation="lrelu"),
            EqualLinear(c(4), 1),
        )

    def minibatch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        """Append the group-wise feature standard deviation: ``(B, C, H, W) -> (B, C + F, H, W)``.

        The group is the largest size <= ``mbstd_group`` that divides the batch.
        """
        b, c, h, w = x.shape
        group = next(g for g in range(min(b, self.stddev_group), 0, -1) if b % g == 0)
        f = self.stddev_feat
        y = x.view(group, -1, f, c // f, h, w)
        y = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        return torch.cat([x, y.repeat(group, 1, h, w)], dim=1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        r = self.config.resolution
        if image.dim() != 4 or tuple(image.shape[1:]) != (3, r, r):
            raise InvalidInputError(
                f"the discriminator takes images of shape (B, 3, {r}, {r}), got {tuple(image.shape)}"
            )
        x = self.final_conv(self.minibatch_stddev(self.convs(image)))
        return self.final_linear(x.flatten(1))

    def extra_repr(self) -> str:
        return f"resolution={self.config.resolution}, channels={self.config.channels}"
