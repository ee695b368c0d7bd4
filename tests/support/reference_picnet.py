"""A plain transcription of PICNet's generative-path blocks, the parity reference of the tests.

Source: lyndonzheng/Pluralistic-Inpainting (Zheng et al., "Pluralistic Image Completion",
CVPR 2019): ``model/base_function.py`` (ResBlock, ResBlockEncoderOptimized, ResBlockDecoder,
Output, Auto_Attn), ``model/network.py`` (ResEncoder, ResGenerator, ResDiscriminator) and
``model/external_function.py`` (SpectralNorm). Only what the generative path uses is kept:
no CoordConv (``use_coord=False`` in PICNet), no batch norm, no PatchDiscriminator; the
encoder's ``two_paths`` (the reconstructive path's posterior) is transcribed because its
blocks are built and counted in PICNet's ``E``. Test code only, never imported by dpinpaint.
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn import Parameter


# -- model/external_function.py -------------------------------------------------------------
def l2normalize(v: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    return v / (v.norm() + eps)


class SpectralNorm(nn.Module):
    def __init__(self, module: nn.Module, name: str = "weight", power_iterations: int = 1) -> None:
        super().__init__()
        self.module = module
        self.name = name
        self.power_iterations = power_iterations
        w = getattr(self.module, self.name)
        height = w.data.shape[0]
        width = w.view(height, -1).data.shape[1]
        u = Parameter(w.data.new(height).normal_(0, 1), requires_grad=False)
        v = Parameter(w.data.new(width).normal_(0, 1), requires_grad=False)
        u.data = l2normalize(u.data)
        v.data = l2normalize(v.data)
        w_bar = Parameter(w.data)
        del self.module._parameters[self.name]
        self.module.register_parameter(self.name + "_u", u)
        self.module.register_parameter(self.name + "_v", v)
        self.module.register_parameter(self.name + "_bar", w_bar)

    def _update_u_v(self) -> None:
        u = getattr(self.module, self.name + "_u")
        v = getattr(self.module, self.name + "_v")
        w = getattr(self.module, self.name + "_bar")
        height = w.data.shape[0]
        for _ in range(self.power_iterations):
            v.data = l2normalize(torch.mv(torch.t(w.view(height, -1).data), u.data))
            u.data = l2normalize(torch.mv(w.view(height, -1).data, v.data))
        sigma = u.dot(w.view(height, -1).mv(v))
        setattr(self.module, self.name, w / sigma.expand_as(w))

    def forward(self, *args: torch.Tensor) -> torch.Tensor:
        self._update_u_v()
        return self.module.forward(*args)


# -- model/base_function.py -----------------------------------------------------------------
def get_norm_layer(norm_type: str = "batch"):  # type: ignore[no-untyped-def]
    if norm_type == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=True)
    return None


def spectral_norm(module: nn.Module, use_spect: bool = True) -> nn.Module:
    return SpectralNorm(module) if use_spect else module


def coord_conv(input_nc: int, output_nc: int, use_spect: bool = False, use_coord: bool = False, **kwargs) -> nn.Module:  # type: ignore[no-untyped-def]
    return spectral_norm(nn.Conv2d(input_nc, output_nc, **kwargs), use_spect)


class ResBlock(nn.Module):
    def __init__(self, input_nc, output_nc, hidden_nc=None, norm_layer=nn.BatchNorm2d, nonlinearity=nn.LeakyReLU(),  # type: ignore[no-untyped-def]  # noqa: B008 (PICNet's default)
                 sample_type="none", use_spect=False, use_coord=False):  # fmt: skip
        super().__init__()
        hidden_nc = output_nc if hidden_nc is None else hidden_nc
        self.sample = True
        if sample_type == "none":
            self.sample = False
        elif sample_type == "up":
            output_nc = output_nc * 4
            self.pool = nn.PixelShuffle(upscale_factor=2)
        elif sample_type == "down":
            self.pool = nn.AvgPool2d(kernel_size=2, stride=2)
        kwargs = {"kernel_size": 3, "stride": 1, "padding": 1}
        kwargs_short = {"kernel_size": 1, "stride": 1, "padding": 0}
        self.conv1 = coord_conv(input_nc, hidden_nc, use_spect, use_coord, **kwargs)
        self.conv2 = coord_conv(hidden_nc, output_nc, use_spect, use_coord, **kwargs)
        self.bypass = coord_conv(input_nc, output_nc, use_spect, use_coord, **kwargs_short)
        if norm_layer is None:
            self.model = nn.Sequential(nonlinearity, self.conv1, nonlinearity, self.conv2)
        else:
            self.model = nn.Sequential(norm_layer(input_nc), nonlinearity, self.conv1, norm_layer(hidden_nc),
                                       nonlinearity, self.conv2)  # fmt: skip
        self.shortcut = nn.Sequential(self.bypass)

    def forward(self, x):  # type: ignore[no-untyped-def]
        if self.sample:
            return self.pool(self.model(x)) + self.pool(self.shortcut(x))
        return self.model(x) + self.shortcut(x)


class ResBlockEncoderOptimized(nn.Module):
    def __init__(self, input_nc, output_nc, norm_layer=nn.BatchNorm2d, nonlinearity=nn.LeakyReLU(), use_spect=False,  # type: ignore[no-untyped-def]  # noqa: B008 (PICNet's default)
                 use_coord=False):  # fmt: skip
        super().__init__()
        kwargs = {"kernel_size": 3, "stride": 1, "padding": 1}
        kwargs_short = {"kernel_size": 1, "stride": 1, "padding": 0}
        self.conv1 = coord_conv(input_nc, output_nc, use_spect, use_coord, **kwargs)
        self.conv2 = coord_conv(output_nc, output_nc, use_spect, use_coord, **kwargs)
        self.bypass = coord_conv(input_nc, output_nc, use_spect, use_coord, **kwargs_short)
        if norm_layer is None:
            self.model = nn.Sequential(self.conv1, nonlinearity, self.conv2, nn.AvgPool2d(kernel_size=2, stride=2))
        else:
            self.model = nn.Sequential(self.conv1, norm_layer(output_nc), nonlinearity, self.conv2,
                                       nn.AvgPool2d(kernel_size=2, stride=2))  # fmt: skip
        self.shortcut = nn.Sequential(nn.AvgPool2d(kernel_size=2, stride=2), self.bypass)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.model(x) + self.shortcut(x)


class ResBlockDecoder(nn.Module):
    def __init__(self, input_nc, output_nc, hidden_nc=None, norm_layer=nn.BatchNorm2d, nonlinearity=nn.LeakyReLU(),  # type: ignore[no-untyped-def]  # noqa: B008 (PICNet's default)
                 use_spect=False, use_coord=False):  # fmt: skip
        super().__init__()
        hidden_nc = output_nc if hidden_nc is None else hidden_nc
        self.conv1 = spectral_norm(nn.Conv2d(input_nc, hidden_nc, kernel_size=3, stride=1, padding=1), use_spect)
        self.conv2 = spectral_norm(nn.ConvTranspose2d(hidden_nc, output_nc, kernel_size=3, stride=2, padding=1,
                                                      output_padding=1), use_spect)  # fmt: skip
        self.bypass = spectral_norm(nn.ConvTranspose2d(input_nc, output_nc, kernel_size=3, stride=2, padding=1,
                                                       output_padding=1), use_spect)  # fmt: skip
        if norm_layer is None:
            self.model = nn.Sequential(nonlinearity, self.conv1, nonlinearity, self.conv2)
        else:
            self.model = nn.Sequential(norm_layer(input_nc), nonlinearity, self.conv1, norm_layer(hidden_nc),
                                       nonlinearity, self.conv2)  # fmt: skip
        self.shortcut = nn.Sequential(self.bypass)

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.model(x) + self.shortcut(x)


class Output(nn.Module):
    def __init__(self, input_nc, output_nc, kernel_size=3, norm_layer=nn.BatchNorm2d, nonlinearity=nn.LeakyReLU(),  # type: ignore[no-untyped-def]  # noqa: B008 (PICNet's default)
                 use_spect=False, use_coord=False):  # fmt: skip
        super().__init__()
        kwargs = {"kernel_size": kernel_size, "padding": 0, "bias": True}
        self.conv1 = coord_conv(input_nc, output_nc, use_spect, use_coord, **kwargs)
        if norm_layer is None:
            self.model = nn.Sequential(nonlinearity, nn.ReflectionPad2d(int(kernel_size / 2)), self.conv1, nn.Tanh())
        else:
            self.model = nn.Sequential(norm_layer(input_nc), nonlinearity, nn.ReflectionPad2d(int(kernel_size / 2)),
                                       self.conv1, nn.Tanh())  # fmt: skip

    def forward(self, x):  # type: ignore[no-untyped-def]
        return self.model(x)


class Auto_Attn(nn.Module):
    def __init__(self, input_nc, norm_layer=nn.BatchNorm2d):  # type: ignore[no-untyped-def]
        super().__init__()
        self.input_nc = input_nc
        self.query_conv = nn.Conv2d(input_nc, input_nc // 4, kernel_size=1)
        self.gamma = nn.Parameter(torch.zeros(1))
        self.alpha = nn.Parameter(torch.zeros(1))
        self.softmax = nn.Softmax(dim=-1)
        self.model = ResBlock(int(input_nc * 2), input_nc, input_nc, norm_layer=norm_layer, use_spect=True)

    def forward(self, x, pre=None, mask=None):  # type: ignore[no-untyped-def]
        B, C, W, H = x.size()
        proj_query = self.query_conv(x).view(B, -1, W * H)
        proj_key = proj_query
        energy = torch.bmm(proj_query.permute(0, 2, 1), proj_key)
        attention = self.softmax(energy)
        proj_value = x.view(B, -1, W * H)
        out = torch.bmm(proj_value, attention.permute(0, 2, 1))
        out = out.view(B, C, W, H)
        out = self.gamma * out + x
        if pre is not None:
            context_flow = torch.bmm(pre.view(B, -1, W * H), attention.permute(0, 2, 1)).view(B, -1, W, H)
            context_flow = self.alpha * (1 - mask) * context_flow + (mask) * pre
            out = self.model(torch.cat([out, context_flow], dim=1))
        return out, attention


# -- model/network.py -----------------------------------------------------------------------
class ResEncoder(nn.Module):
    def __init__(self, input_nc=3, ngf=64, z_nc=128, img_f=1024, L=6, layers=6, norm="none",  # type: ignore[no-untyped-def]
                 nonlinearity=None, use_spect=True, use_coord=False):  # fmt: skip
        super().__init__()
        self.layers, self.z_nc, self.L = layers, z_nc, L
        norm_layer = get_norm_layer(norm_type=norm)
        self.block0 = ResBlockEncoderOptimized(input_nc, ngf, norm_layer, nonlinearity, use_spect, use_coord)
        mult = 1
        for i in range(layers - 1):
            mult_prev = mult
            mult = min(2 ** (i + 1), img_f // ngf)
            block = ResBlock(ngf * mult_prev, ngf * mult, ngf * mult_prev, norm_layer, nonlinearity, "down", use_spect,
                             use_coord)  # fmt: skip
            setattr(self, "encoder" + str(i), block)
        for i in range(self.L):
            block = ResBlock(ngf * mult, ngf * mult, ngf * mult, norm_layer, nonlinearity, "none", use_spect, use_coord)
            setattr(self, "infer_prior" + str(i), block)
        self.posterior = ResBlock(ngf * mult, 2 * z_nc, ngf * mult, norm_layer, nonlinearity, "none", use_spect,
                                  use_coord)  # fmt: skip
        self.prior = ResBlock(ngf * mult, 2 * z_nc, ngf * mult, norm_layer, nonlinearity, "none", use_spect, use_coord)

    def forward(self, img_m):  # type: ignore[no-untyped-def]
        """The generative path's (test-time) ``one_path``: returns ``([[q_mu, q_std]], features)``."""
        out = self.block0(img_m)
        feature = [out]
        for i in range(self.layers - 1):
            out = getattr(self, "encoder" + str(i))(out)
            feature.append(out)
        f_m = out
        for i in range(self.L):
            f_m = getattr(self, "infer_prior" + str(i))(f_m)
        o = self.prior(f_m)
        q_mu, q_std = torch.split(o, self.z_nc, dim=1)
        return [[q_mu, F.softplus(q_std)]], feature


class ResGenerator(nn.Module):
    def __init__(self, output_nc=3, ngf=64, z_nc=128, img_f=1024, L=1, layers=6, norm="batch",  # type: ignore[no-untyped-def]
                 nonlinearity=None, output_scale=1, use_spect=True, use_coord=False, use_attn=True):  # fmt: skip
        super().__init__()
        self.layers, self.L, self.output_scale, self.use_attn = layers, L, output_scale, use_attn
        norm_layer = get_norm_layer(norm_type=norm)
        mult = min(2 ** (layers - 1), img_f // ngf)
        self.generator = ResBlock(z_nc, ngf * mult, ngf * mult, None, nonlinearity, "none", use_spect, use_coord)
        for i in range(self.L):
            block = ResBlock(ngf * mult, ngf * mult, ngf * mult, None, nonlinearity, "none", use_spect, use_coord)
            setattr(self, "generator" + str(i), block)
        for i in range(layers):
            mult_prev = mult
            mult = min(2 ** (layers - i - 1), img_f // ngf)
            extra = output_nc if i > layers - output_scale else 0
            upconv = ResBlockDecoder(ngf * mult_prev + extra, ngf * mult, ngf * mult, norm_layer, nonlinearity, use_spect,
                                     use_coord)  # fmt: skip
            setattr(self, "decoder" + str(i), upconv)
            if i > layers - output_scale - 1:
                setattr(
                    self, "out" + str(i), Output(ngf * mult, output_nc, 3, None, nonlinearity, use_spect, use_coord)
                )
            if i == 1 and use_attn:
                setattr(self, "attn" + str(i), Auto_Attn(ngf * mult, None))

    def forward(self, z, f_m=None, f_e=None, mask=None):  # type: ignore[no-untyped-def]
        f = self.generator(z)
        for i in range(self.L):
            f = getattr(self, "generator" + str(i))(f)
        out = f_m + f
        results = []
        attn = 0
        for i in range(self.layers):
            out = getattr(self, "decoder" + str(i))(out)
            if i == 1 and self.use_attn:
                out, attn = getattr(self, "attn" + str(i))(out, f_e, mask)
            if i > self.layers - self.output_scale - 1:
                output = getattr(self, "out" + str(i))(out)
                results.append(output)
                out = torch.cat([out, output], dim=1)
        return results, attn


class ResDiscriminator(nn.Module):
    def __init__(self, input_nc=3, ndf=64, img_f=1024, layers=6, norm="none", nonlinearity=None, use_spect=True,  # type: ignore[no-untyped-def]
                 use_coord=False, use_attn=True):  # fmt: skip
        super().__init__()
        self.layers, self.use_attn = layers, use_attn
        norm_layer = get_norm_layer(norm_type=norm)
        self.nonlinearity = nonlinearity
        self.block0 = ResBlockEncoderOptimized(input_nc, ndf, norm_layer, nonlinearity, use_spect, use_coord)
        mult = 1
        for i in range(layers - 1):
            mult_prev = mult
            mult = min(2 ** (i + 1), img_f // ndf)
            if i == 2 and use_attn:
                setattr(self, "attn" + str(i), Auto_Attn(ndf * mult_prev, norm_layer))
            block = ResBlock(ndf * mult_prev, ndf * mult, ndf * mult_prev, norm_layer, nonlinearity, "down", use_spect,
                             use_coord)  # fmt: skip
            setattr(self, "encoder" + str(i), block)
        self.block1 = ResBlock(
            ndf * mult, ndf * mult, ndf * mult, norm_layer, nonlinearity, "none", use_spect, use_coord
        )
        self.conv = SpectralNorm(nn.Conv2d(ndf * mult, 1, 3))

    def forward(self, x):  # type: ignore[no-untyped-def]
        out = self.block0(x)
        for i in range(self.layers - 1):
            if i == 2 and self.use_attn:
                out, _ = getattr(self, "attn" + str(i))(out)
            out = getattr(self, "encoder" + str(i))(out)
        out = self.block1(out)
        return self.conv(self.nonlinearity(out))


# -- PICNet's model/pluralistic_model.py settings of the generative path ---------------------
def picnet_encoder(input_nc: int = 3, use_spect: bool = True) -> ResEncoder:
    """``define_e(ngf=32, z_nc=128, img_f=128, layers=5, norm='none', activation='LeakyReLU')`` (L=6)."""
    return ResEncoder(input_nc, 32, 128, 128, 6, 5, "none", nn.LeakyReLU(0.1), use_spect)


def picnet_generator(output_scale: int = 1, use_spect: bool = True) -> ResGenerator:
    """``define_g(ngf=32, z_nc=128, img_f=128, L=0, layers=5, norm='instance', activation='LeakyReLU')``.

    PICNet trains with ``output_scale=4`` (multi-scale side outputs); 1 is the single output.
    """
    return ResGenerator(3, 32, 128, 128, 0, 5, "instance", nn.LeakyReLU(0.1), output_scale, use_spect)


def picnet_discriminator(use_spect: bool = True) -> ResDiscriminator:
    """``define_d(ndf=32, img_f=128, layers=5, model_type='ResDis')``."""
    return ResDiscriminator(3, 32, 128, 5, "none", nn.LeakyReLU(0.1), use_spect)
