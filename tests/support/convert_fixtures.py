"""Builders of small StyleGAN2 weight files in the three community formats, for the converter tests.

Everything here is written for these tests (no code is copied from the upstream repositories):

- :func:`write_rosinality` writes a ``torch.save`` dict like rosinality's ``train.py``
  (``g``, ``d``, ``g_ema``, ``g_optim``, ``d_optim``, ``args`` as an ``argparse.Namespace``,
  plus ``latent_avg`` as ``convert_weight.py`` adds), with the FIR kernels as persistent
  buffers as rosinality stores them;
- :func:`write_nvidia_pytorch` pickles modules that mirror stylegan2-ada-pytorch's
  ``training/networks.py`` (same class names, sub-module names, parameter/buffer names,
  shapes, attributes and init kwargs) through a pickler that emits what NVIDIA's
  ``torch_utils.persistence`` emits: a ``torch_utils.persistence._reconstruct_persistent_obj``
  global applied to a meta dict (``type``, ``version``, ``module_src``, ``class_name``,
  ``state`` = the module's ``__dict__``); tensors go through torch's own reductions
  (``_rebuild_parameter`` / ``_rebuild_tensor_v2`` / ``torch.storage._load_from_bytes``);
  ``dnnlib.util.EasyDict`` init kwargs and ``numpy.core.multiarray.scalar`` gains appear
  as in the real files. Their ``forward`` methods transcribe NVIDIA's maths (fused
  modulated convolution, ``conv2d_resample``, ``upfirdn2d``'s reference path, ``bias_act``)
  so they are the numeric reference;
- :func:`write_nvidia_tf` pickles ``dnnlib.tflib.network.Network`` states (``version``,
  ``name``, ``static_kwargs``, ``components``, ``build_module_src``, ``build_func_name``,
  ``variables``) holding numpy arrays in TensorFlow's layouts, via
  ``numpy.core.multiarray._reconstruct`` (or ``numpy._core``); :func:`tf_generator_forward`
  / :func:`tf_discriminator_forward` transcribe the TensorFlow graph with explicit
  per-tap loops (no ``conv_transpose2d``), as the numeric reference.
"""

from __future__ import annotations

import argparse
import copy
import io
import math
import pickle
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# --------------------------------------------------------------------------------------------
# A pickler that can emit arbitrary global names (as the real files contain)
# --------------------------------------------------------------------------------------------


class GlobalRef:
    """Stands for the global ``module.name`` in a pickle written by :class:`FaithfulPickler`."""

    _cache: ClassVar[dict[tuple[str, str], GlobalRef]] = {}

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __call__(self, *args: Any) -> Any:  # pragma: no cover - only needs to look callable
        raise RuntimeError("placeholder")

    @classmethod
    def get(cls, module: str, name: str) -> GlobalRef:
        return cls._cache.setdefault((module, name), cls(module, name))


class EasyDict(dict):  # type: ignore[type-arg]
    """Pickled as ``dnnlib.util.EasyDict``."""


class TFNetworkState:
    """Pickled as a ``dnnlib.tflib.network.Network`` whose ``__getstate__`` returned ``state``."""

    def __init__(self, state: dict[str, Any]) -> None:
        self.state = state


class FaithfulPickler(pickle._Pickler):  # type: ignore[name-defined,misc]
    """Pure-Python pickler (protocol 4) that writes GLOBAL references for :class:`GlobalRef`."""

    dispatch: ClassVar[dict[type, Any]] = dict(pickle._Pickler.dispatch)  # type: ignore[attr-defined]

    def __init__(self, file: Any, numpy_core: str = "numpy.core") -> None:
        super().__init__(file, protocol=4)
        self.numpy_core = numpy_core

    def _save_globalref(self, obj: GlobalRef) -> None:
        self.save(obj.module)
        self.save(obj.name)
        self.write(pickle.STACK_GLOBAL)
        self.memoize(obj)

    def _save_easydict(self, obj: EasyDict) -> None:
        self.save(GlobalRef.get("dnnlib.util", "EasyDict"))
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self._batch_setitems(iter(obj.items()))

    def _save_tfnetwork(self, obj: TFNetworkState) -> None:
        self.save(GlobalRef.get("dnnlib.tflib.network", "Network"))
        self.save(())
        self.write(pickle.NEWOBJ)
        self.memoize(obj)
        self.save(obj.state)
        self.write(pickle.BUILD)

    dispatch[GlobalRef] = _save_globalref
    dispatch[EasyDict] = _save_easydict
    dispatch[TFNetworkState] = _save_tfnetwork

    def reducer_override(self, obj: Any) -> Any:
        core = self.numpy_core
        if type(obj) is np.ndarray:
            _, _, state = obj.__reduce__()
            return (
                GlobalRef.get(f"{core}.multiarray", "_reconstruct"),
                (GlobalRef.get("numpy", "ndarray"), (0,), b"b"),
                state,
            )
        if isinstance(obj, np.generic) and not isinstance(obj, np.ndarray):
            return (GlobalRef.get(f"{core}.multiarray", "scalar"), (obj.dtype, obj.tobytes()))
        return NotImplemented


def faithful_dumps(obj: Any, numpy_core: str = "numpy.core") -> bytes:
    buf = io.BytesIO()
    FaithfulPickler(buf, numpy_core).dump(obj)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------
# NVIDIA stylegan2-ada-pytorch: modules mirroring training/networks.py + its maths
# --------------------------------------------------------------------------------------------
PERSISTENCE_VERSION = 6
DEFAULT_MODULE_SRC = "# training/networks.py source would be here; a loader must never execute it\n"


def _persistent_reduce(self: nn.Module) -> tuple[Any, ...]:
    meta = dict(
        type="class",
        version=PERSISTENCE_VERSION,
        module_src=getattr(self, "_fixture_module_src", DEFAULT_MODULE_SRC),
        class_name=type(self).__name__,
        state={k: v for k, v in self.__dict__.items() if k != "_fixture_module_src"},
    )
    return (GlobalRef.get("torch_utils.persistence", "_reconstruct_persistent_obj"), (meta,), None)


def persistent_class(cls: type) -> type:
    """Record init args/kwargs (as NVIDIA's decorator does) and pickle through persistence."""
    orig_init = cls.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        orig_init(self, *args, **kwargs)
        self._init_args = copy.deepcopy(args)
        self._init_kwargs = copy.deepcopy(kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    cls.__reduce__ = _persistent_reduce  # type: ignore[method-assign,assignment]
    return cls


def setup_filter(taps: list[int]) -> torch.Tensor:
    f = torch.as_tensor(taps, dtype=torch.float32)
    f = f.ger(f)
    return f / f.sum()


def upfirdn2d_ref(
    x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1, padding: Any = 0, gain: float = 1
) -> torch.Tensor:
    """NVIDIA's reference upfirdn2d (2-D filter, flip_filter=False)."""
    px0, px1, py0, py1 = (padding,) * 4 if isinstance(padding, int) else padding
    b, c, h, w = x.shape
    x = x.reshape(b, c, h, 1, w, 1)
    x = F.pad(x, [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(b, c, h * up, w * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0) : x.shape[2] - max(-py1, 0), max(-px0, 0) : x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).flip([0, 1])
    x = F.conv2d(x, f[None, None].repeat(c, 1, 1, 1), groups=c)
    return x[:, :, ::down, ::down]


def _conv2d_wrapper(
    x: torch.Tensor,
    w: torch.Tensor,
    stride: int = 1,
    padding: Any = 0,
    groups: int = 1,
    transpose: bool = False,
    flip_weight: bool = True,
) -> torch.Tensor:
    if not flip_weight and (w.shape[2] > 1 or w.shape[3] > 1):
        w = w.flip([2, 3])
    op = F.conv_transpose2d if transpose else F.conv2d
    return op(x, w, stride=stride, padding=padding, groups=groups)


def conv2d_resample(
    x: torch.Tensor,
    w: torch.Tensor,
    f: torch.Tensor | None = None,
    up: int = 1,
    down: int = 1,
    padding: int = 0,
    groups: int = 1,
    flip_weight: bool = True,
) -> torch.Tensor:
    """Transcription of NVIDIA's ``conv2d_resample`` (the paths StyleGAN2 uses)."""
    out_c, in_c_per_group, kh, kw = w.shape
    fw = fh = f.shape[-1] if f is not None else 1
    px0 = px1 = py0 = py1 = padding
    if up > 1:
        px0 += (fw + up - 1) // 2
        px1 += (fw - up) // 2
        py0 += (fh + up - 1) // 2
        py1 += (fh - up) // 2
    if down > 1:
        px0 += (fw - down + 1) // 2
        px1 += (fw - down) // 2
        py0 += (fh - down + 1) // 2
        py1 += (fh - down) // 2
    if kw == 1 and kh == 1 and down > 1 and up == 1:
        assert f is not None
        x = upfirdn2d_ref(x, f, down=down, padding=[px0, px1, py0, py1])
        return _conv2d_wrapper(x, w, groups=groups, flip_weight=flip_weight)
    if down > 1 and up == 1:
        assert f is not None
        x = upfirdn2d_ref(x, f, padding=[px0, px1, py0, py1])
        return _conv2d_wrapper(x, w, stride=down, groups=groups, flip_weight=flip_weight)
    if up > 1:
        assert f is not None
        if groups == 1:
            w = w.transpose(0, 1)
        else:
            w = w.reshape(groups, out_c // groups, in_c_per_group, kh, kw).transpose(1, 2)
            w = w.reshape(groups * in_c_per_group, out_c // groups, kh, kw)
        px0 -= kw - 1
        px1 -= kw - up
        py0 -= kh - 1
        py1 -= kh - up
        pxt, pyt = max(min(-px0, -px1), 0), max(min(-py0, -py1), 0)
        x = _conv2d_wrapper(
            x, w, stride=up, padding=[pyt, pxt], groups=groups, transpose=True, flip_weight=not flip_weight
        )
        return upfirdn2d_ref(x, f, padding=[px0 + pxt, px1 + pxt, py0 + pyt, py1 + pyt], gain=up**2)
    assert px0 == px1 == py0 == py1 >= 0
    return _conv2d_wrapper(x, w, padding=[py0, px0], groups=groups, flip_weight=flip_weight)


def bias_act(x: torch.Tensor, b: torch.Tensor | None, act: str = "linear", gain: float | None = None) -> torch.Tensor:
    if b is not None:
        x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    def_gain = math.sqrt(2) if act == "lrelu" else 1.0
    if act == "lrelu":
        x = F.leaky_relu(x, 0.2)
    return x * (def_gain if gain is None else gain)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    noise: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
    demodulate: bool = True,
    flip_weight: bool = True,
) -> torch.Tensor:
    """NVIDIA's fused modulated convolution (the eval-mode float32 path)."""
    batch = x.shape[0]
    _, in_c, kh, kw = weight.shape
    w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_c, kh, kw)
    x = conv2d_resample(x, w, f=resample_filter, up=up, padding=padding, groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x


@persistent_class
class FullyConnectedLayer(nn.Module):
    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1,
        bias_init: float = 0,
    ) -> None:
        super().__init__()
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], np.float32(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * float(self.weight_gain)
        b = self.bias * self.bias_gain if self.bias is not None else None
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)


@persistent_class
class Conv2dLayer(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        bias: bool = True,
        activation: str = "linear",
        up: int = 1,
        down: int = 1,
        resample_filter: list[int] | None = None,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.activation, self.up, self.down, self.conv_clamp = activation, up, down, conv_clamp
        self.register_buffer("resample_filter", setup_filter(resample_filter or [1, 3, 3, 1]))
        self.padding = kernel_size // 2
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size**2))
        self.act_gain = math.sqrt(2) if activation == "lrelu" else 1.0
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None

    def forward(self, x: torch.Tensor, gain: float = 1) -> torch.Tensor:
        w = self.weight * float(self.weight_gain)
        x = conv2d_resample(
            x, w, f=self.resample_filter, up=self.up, down=self.down, padding=self.padding, flip_weight=self.up == 1
        )
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain * gain)


@persistent_class
class MappingNetwork(nn.Module):
    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        num_ws: int,
        num_layers: int = 8,
        lr_multiplier: float = 0.01,
        w_avg_beta: float = 0.995,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws, self.num_layers, self.w_avg_beta = (
            z_dim,
            c_dim,
            w_dim,
            num_ws,
            num_layers,
            w_avg_beta,
        )
        features = [z_dim] + [w_dim] * num_layers
        for idx in range(num_layers):
            setattr(
                self,
                f"fc{idx}",
                FullyConnectedLayer(features[idx], features[idx + 1], activation="lrelu", lr_multiplier=lr_multiplier),
            )
        self.register_buffer("w_avg", torch.zeros([w_dim]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * (z.square().mean(dim=1, keepdim=True) + 1e-8).rsqrt()
        for idx in range(self.num_layers):
            x = getattr(self, f"fc{idx}")(x)
        return x


@persistent_class
class SynthesisLayer(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        kernel_size: int = 3,
        up: int = 1,
        use_noise: bool = True,
        activation: str = "lrelu",
        resample_filter: list[int] | None = None,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.resolution, self.up, self.use_noise, self.activation, self.conv_clamp = (
            resolution,
            up,
            use_noise,
            activation,
            conv_clamp,
        )
        self.register_buffer("resample_filter", setup_filter(resample_filter or [1, 3, 3, 1]))
        self.padding = kernel_size // 2
        self.act_gain = math.sqrt(2)
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        if use_noise:
            self.register_buffer("noise_const", torch.randn([resolution, resolution]))
            self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w)
        noise = self.noise_const * self.noise_strength if self.use_noise else None
        x = modulated_conv2d(
            x,
            self.weight,
            styles,
            noise=noise,
            up=self.up,
            padding=self.padding,
            resample_filter=self.resample_filter,
            flip_weight=self.up == 1,
        )
        return bias_act(x, self.bias, act=self.activation, gain=self.act_gain)


@persistent_class
class ToRGBLayer(nn.Module):
    def __init__(
        self, in_channels: int, out_channels: int, w_dim: int, kernel_size: int = 1, conv_clamp: float | None = None
    ) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels * (kernel_size**2))

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        styles = self.affine(w) * float(self.weight_gain)
        return bias_act(modulated_conv2d(x, self.weight, styles, demodulate=False), self.bias)


@persistent_class
class SynthesisBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        w_dim: int,
        resolution: int,
        img_channels: int,
        is_last: bool,
        architecture: str = "skip",
        resample_filter: list[int] | None = None,
        conv_clamp: float | None = None,
        use_fp16: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels, self.w_dim, self.resolution, self.img_channels, self.is_last = (
            in_channels,
            w_dim,
            resolution,
            img_channels,
            is_last,
        )
        self.architecture, self.use_fp16 = architecture, use_fp16
        self.register_buffer("resample_filter", setup_filter(resample_filter or [1, 3, 3, 1]))
        self.num_conv = self.num_torgb = 0
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        if in_channels != 0:
            self.conv0 = SynthesisLayer(
                in_channels, out_channels, w_dim=w_dim, resolution=resolution, up=2, conv_clamp=conv_clamp
            )
            self.num_conv += 1
        self.conv1 = SynthesisLayer(
            out_channels, out_channels, w_dim=w_dim, resolution=resolution, conv_clamp=conv_clamp
        )
        self.num_conv += 1
        self.torgb = ToRGBLayer(out_channels, img_channels, w_dim=w_dim, conv_clamp=conv_clamp)
        self.num_torgb += 1

    def forward(
        self, x: torch.Tensor | None, img: torch.Tensor | None, ws: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter))
        else:
            x = self.conv0(x, next(w_iter))
            x = self.conv1(x, next(w_iter))
        if img is not None:
            img = upfirdn2d_ref(img, self.resample_filter, up=2, padding=[2, 1, 2, 1], gain=4)
        y = self.torgb(x, next(w_iter))
        return x, (img + y if img is not None else y)


@persistent_class
class SynthesisNetwork(nn.Module):
    def __init__(
        self,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        **block_kwargs: Any,
    ) -> None:
        super().__init__()
        self.w_dim, self.img_resolution, self.img_channels = w_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(2, self.img_resolution_log2 + 1)]
        channels = {res: min(channel_base // res, channel_max) for res in self.block_resolutions}
        self.num_ws = 0
        for res in self.block_resolutions:
            block = SynthesisBlock(
                channels[res // 2] if res > 4 else 0,
                channels[res],
                w_dim=w_dim,
                resolution=res,
                img_channels=img_channels,
                is_last=res == img_resolution,
                **block_kwargs,
            )
            self.num_ws += block.num_conv + (block.num_torgb if res == img_resolution else 0)
            setattr(self, f"b{res}", block)

    def forward(self, ws: torch.Tensor) -> torch.Tensor:
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f"b{res}")
            x, img = block(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb))
            w_idx += block.num_conv
        assert img is not None
        return img


@persistent_class
class Generator(nn.Module):
    def __init__(
        self,
        z_dim: int,
        c_dim: int,
        w_dim: int,
        img_resolution: int,
        img_channels: int,
        mapping_kwargs: dict[str, Any] | None = None,
        synthesis_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.img_resolution, self.img_channels = (
            z_dim,
            c_dim,
            w_dim,
            img_resolution,
            img_channels,
        )
        self.synthesis = SynthesisNetwork(
            w_dim=w_dim, img_resolution=img_resolution, img_channels=img_channels, **(synthesis_kwargs or {})
        )
        self.num_ws = self.synthesis.num_ws
        self.mapping = MappingNetwork(
            z_dim=z_dim, c_dim=c_dim, w_dim=w_dim, num_ws=self.num_ws, **(mapping_kwargs or {})
        )


@persistent_class
class DiscriminatorBlock(nn.Module):
    def __init__(
        self,
        in_channels: int,
        tmp_channels: int,
        out_channels: int,
        resolution: int,
        img_channels: int,
        first_layer_idx: int,
        architecture: str = "resnet",
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.resolution, self.img_channels, self.first_layer_idx, self.architecture = (
            in_channels,
            resolution,
            img_channels,
            first_layer_idx,
            architecture,
        )
        self.register_buffer("resample_filter", setup_filter([1, 3, 3, 1]))
        self.num_layers = 0
        if in_channels == 0:
            self.fromrgb = Conv2dLayer(
                img_channels, tmp_channels, kernel_size=1, activation="lrelu", conv_clamp=conv_clamp
            )
            self.num_layers += 1
        self.conv0 = Conv2dLayer(tmp_channels, tmp_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp)
        self.conv1 = Conv2dLayer(
            tmp_channels, out_channels, kernel_size=3, activation="lrelu", down=2, conv_clamp=conv_clamp
        )
        self.skip = Conv2dLayer(tmp_channels, out_channels, kernel_size=1, bias=False, down=2)
        self.num_layers += 3

    def forward(self, x: torch.Tensor | None, img: torch.Tensor) -> torch.Tensor:
        if self.in_channels == 0:
            x = self.fromrgb(img)
        assert x is not None
        y = self.skip(x, gain=np.sqrt(0.5))
        x = self.conv1(self.conv0(x), gain=np.sqrt(0.5))
        return y + x


@persistent_class
class MinibatchStdLayer(nn.Module):
    def __init__(self, group_size: int, num_channels: int = 1) -> None:
        super().__init__()
        self.group_size, self.num_channels = group_size, num_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = min(self.group_size, n)
        f = self.num_channels
        y = x.reshape(g, -1, f, c // f, h, w)
        y = y - y.mean(dim=0)
        y = (y.square().mean(dim=0) + 1e-8).sqrt()
        y = y.mean(dim=[2, 3, 4]).reshape(-1, f, 1, 1).repeat(g, 1, h, w)
        return torch.cat([x, y], dim=1)


@persistent_class
class DiscriminatorEpilogue(nn.Module):
    def __init__(
        self,
        in_channels: int,
        cmap_dim: int,
        resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        mbstd_group_size: int = 4,
        mbstd_num_channels: int = 1,
        conv_clamp: float | None = None,
    ) -> None:
        super().__init__()
        self.in_channels, self.cmap_dim, self.resolution, self.img_channels, self.architecture = (
            in_channels,
            cmap_dim,
            resolution,
            img_channels,
            architecture,
        )
        self.mbstd = MinibatchStdLayer(group_size=mbstd_group_size, num_channels=mbstd_num_channels)
        self.conv = Conv2dLayer(
            in_channels + mbstd_num_channels, in_channels, kernel_size=3, activation="lrelu", conv_clamp=conv_clamp
        )
        self.fc = FullyConnectedLayer(in_channels * (resolution**2), in_channels, activation="lrelu")
        self.out = FullyConnectedLayer(in_channels, 1 if cmap_dim == 0 else cmap_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc(self.conv(self.mbstd(x)).flatten(1)))


@persistent_class
class Discriminator(nn.Module):
    def __init__(
        self,
        c_dim: int,
        img_resolution: int,
        img_channels: int,
        architecture: str = "resnet",
        channel_base: int = 32768,
        channel_max: int = 512,
        num_fp16_res: int = 0,
        conv_clamp: float | None = None,
        cmap_dim: int | None = None,
        block_kwargs: dict[str, Any] | None = None,
        mapping_kwargs: dict[str, Any] | None = None,
        epilogue_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.c_dim, self.img_resolution, self.img_channels = c_dim, img_resolution, img_channels
        self.img_resolution_log2 = int(np.log2(img_resolution))
        self.block_resolutions = [2**i for i in range(self.img_resolution_log2, 2, -1)]
        channels = {res: min(channel_base // res, channel_max) for res in [*self.block_resolutions, 4]}
        layer = 0
        for res in self.block_resolutions:
            block = DiscriminatorBlock(
                channels[res] if res < img_resolution else 0,
                channels[res],
                channels[res // 2],
                resolution=res,
                img_channels=img_channels,
                first_layer_idx=layer,
                architecture=architecture,
                conv_clamp=conv_clamp,
            )
            setattr(self, f"b{res}", block)
            layer += block.num_layers
        self.b4 = DiscriminatorEpilogue(
            channels[4],
            cmap_dim=0,
            resolution=4,
            img_channels=img_channels,
            architecture=architecture,
            conv_clamp=conv_clamp,
            **(epilogue_kwargs or {}),
        )

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        x = None
        for res in self.block_resolutions:
            x = getattr(self, f"b{res}")(x, img)
        assert x is not None
        return self.b4(x)


def _randomise(module: nn.Module, gen: torch.Generator) -> None:
    """Give every zero-initialised parameter/buffer a random value (so each one is tested)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if name.endswith(("bias", "noise_strength")):
                scale = 20.0 if ".fc" in f".{name}" and "mapping" in name else 0.3
                p.add_(torch.randn(p.shape, generator=gen) * scale)
        for name, b in module.named_buffers():
            if name.endswith("w_avg"):
                b.copy_(torch.randn(b.shape, generator=gen))


def build_nvidia_pytorch(
    resolution: int = 32,
    channel_base: int = 192,
    channel_max: int = 16,
    w_dim: int = 16,
    num_layers: int = 2,
    lr_multiplier: float | None = None,
    mbstd_group_size: int = 8,
    mbstd_num_channels: int = 1,
    conv_clamp: float | None = 256,
    seed: int = 0,
) -> tuple[Generator, Discriminator]:
    """A G_ema and a D as stylegan2-ada-pytorch builds them (paper256-like: mbstd 8, fp16 res 4, clamp 256)."""
    torch.manual_seed(seed)
    mapping_kwargs = EasyDict(num_layers=num_layers)
    if lr_multiplier is not None:
        mapping_kwargs["lr_multiplier"] = lr_multiplier
    synthesis_kwargs = EasyDict(
        channel_base=channel_base, channel_max=channel_max, num_fp16_res=4, conv_clamp=conv_clamp
    )
    G = Generator(
        z_dim=w_dim,
        c_dim=0,
        w_dim=w_dim,
        img_resolution=resolution,
        img_channels=3,
        mapping_kwargs=mapping_kwargs,
        synthesis_kwargs=synthesis_kwargs,
    )
    D = Discriminator(
        c_dim=0,
        img_resolution=resolution,
        img_channels=3,
        architecture="resnet",
        channel_base=channel_base,
        channel_max=channel_max,
        num_fp16_res=4,
        conv_clamp=conv_clamp,
        block_kwargs=EasyDict(),
        mapping_kwargs=EasyDict(),
        epilogue_kwargs=EasyDict(mbstd_group_size=mbstd_group_size, mbstd_num_channels=mbstd_num_channels),
    )
    gen = torch.Generator().manual_seed(seed + 1)
    _randomise(G, gen)
    _randomise(D, gen)
    return G.eval().requires_grad_(False), D.eval().requires_grad_(False)


def set_module_src(module: nn.Module, src: str) -> None:
    for m in module.modules():
        m._fixture_module_src = src  # type: ignore[assignment]


def write_nvidia_pytorch(
    path: Path,
    G: nn.Module,
    D: nn.Module | None,
    *,
    extra: dict[str, Any] | None = None,
    numpy_core: str = "numpy.core",
    module_src: str | None = None,
) -> Path:
    """Pickle ``{"G", "D", "G_ema", "augment_pipe", "training_set_kwargs"}`` like ``training_loop.py``."""
    if module_src is not None:
        set_module_src(G, module_src)
        if D is not None:
            set_module_src(D, module_src)
    data: dict[str, Any] = {
        "training_set_kwargs": {
            "class_name": "training.dataset.ImageFolderDataset",
            "path": "ffhq.zip",
            "resolution": G.img_resolution,
            "use_labels": False,
            "max_size": 70000,
            "xflip": True,
        }
    }
    data["G"] = G
    if D is not None:
        data["D"] = D
    data["G_ema"] = G
    data["augment_pipe"] = None
    data.update(extra or {})
    path.write_bytes(faithful_dumps(data, numpy_core))
    return path


# --------------------------------------------------------------------------------------------
# rosinality/stylegan2-pytorch
# --------------------------------------------------------------------------------------------
def rosinality_state_dicts(
    config: Any, seed: int = 0
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """(g_ema state, d state, latent_avg) with random non-zero biases/noise strengths, rosinality keys."""
    from .reference_stylegan2 import ReferenceDiscriminator, ReferenceGenerator

    torch.manual_seed(seed)
    channels = dict(zip(config.resolutions, config.channels))
    g = ReferenceGenerator(config.resolution, config.w_dim, config.n_mlp, channels=channels, lr_mlp=config.lr_mlp)
    d = ReferenceDiscriminator(config.resolution, channels=channels)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for module in (g, d):
            for name, p in module.named_parameters():
                if name.endswith("bias") or "noise" in name:
                    p.add_(torch.randn(p.shape, generator=gen) * 0.3)
    return dict(g.state_dict()), dict(d.state_dict()), torch.randn(1, config.w_dim, generator=gen)


def _with_rosinality_kernels(state: dict[str, torch.Tensor], n_up: int, discriminator: bool) -> dict[str, torch.Tensor]:
    """Add the FIR kernels rosinality saves as persistent buffers."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k2 = torch.outer(k, k)
    k2 = k2 / k2.sum()
    out = dict(state)
    for i in range(n_up):
        if discriminator:
            out[f"convs.{i + 1}.conv2.0.kernel"] = k2.clone()
            out[f"convs.{i + 1}.skip.0.kernel"] = k2.clone()
        else:
            out[f"convs.{2 * i}.conv.blur.kernel"] = k2 * 4
            out[f"to_rgbs.{i}.upsample.kernel"] = k2 * 4
    return out


def write_rosinality(
    path: Path,
    config: Any,
    seed: int = 0,
    *,
    legacy: bool = False,
    extra: dict[str, Any] | None = None,
    latent_avg: bool = True,
) -> tuple[Path, dict[str, torch.Tensor], dict[str, torch.Tensor], torch.Tensor]:
    """A rosinality ``train.py`` checkpoint (+ ``latent_avg``); returns (path, g_ema, d, latent_avg) without kernels."""
    g_state, d_state, avg = rosinality_state_dicts(config, seed)
    n_up = len(config.resolutions) - 1
    g_params = [nn.Parameter(v.clone()) for k, v in g_state.items() if not k.startswith("noises")]
    d_params = [nn.Parameter(v.clone()) for v in d_state.values()]
    g_optim = torch.optim.Adam(g_params, lr=0.002, betas=(0.0, 0.99))
    d_optim = torch.optim.Adam(d_params, lr=0.002, betas=(0.0, 0.99))
    for params, optim in ((g_params, g_optim), (d_params, d_optim)):
        for p in params:
            p.grad = torch.ones_like(p)
        optim.step()
    args = argparse.Namespace(
        path="lmdb/ffhq",
        arch="stylegan2",
        iter=800000,
        batch=16,
        n_sample=64,
        size=config.resolution,
        r1=10.0,
        path_regularize=2.0,
        path_batch_shrink=2,
        d_reg_every=16,
        g_reg_every=4,
        mixing=0.9,
        ckpt=None,
        lr=0.002,
        channel_multiplier=2,
        wandb=False,
        local_rank=0,
        augment=False,
        augment_p=0.0,
        ada_target=0.6,
        ada_length=500000,
        ada_every=256,
        latent=config.w_dim,
        n_mlp=config.n_mlp,
        start_iter=0,
        distributed=False,
    )
    ckpt: dict[str, Any] = {
        "g": _with_rosinality_kernels(g_state, n_up, False),
        "d": _with_rosinality_kernels(d_state, n_up, True),
        "g_ema": _with_rosinality_kernels(g_state, n_up, False),
        "g_optim": g_optim.state_dict(),
        "d_optim": d_optim.state_dict(),
        "args": args,
    }
    if latent_avg:
        ckpt["latent_avg"] = avg
    ckpt.update(extra or {})
    torch.save(ckpt, path, _use_new_zipfile_serialization=not legacy)
    return path, g_state, d_state, avg


# --------------------------------------------------------------------------------------------
# NVIDIA TensorFlow StyleGAN2
# --------------------------------------------------------------------------------------------
def tf_variables(
    resolution: int = 32,
    fmap_base: int = 96,
    fmap_max: int = 16,
    w_dim: int = 16,
    n_mlp: int = 2,
    seed: int = 0,
    mbstd_num_features: int = 1,
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(mapping vars, synthesis vars, D vars) of G_main / D_stylegan2, TensorFlow layouts, float32."""
    rng = np.random.default_rng(seed)
    log2 = int(math.log2(resolution))

    def nf(stage: int) -> int:
        return int(np.clip(int(fmap_base / (2.0**stage)), 1, fmap_max))

    def r(*shape: int, scale: float = 1.0) -> np.ndarray:
        return (rng.standard_normal(shape) * scale).astype(np.float32)

    mapping = {}
    for i in range(n_mlp):
        mapping[f"Dense{i}/weight"] = r(w_dim, w_dim, scale=100.0)
        mapping[f"Dense{i}/bias"] = r(w_dim, scale=20.0)
    syn: dict[str, np.ndarray] = {}
    for i in range(2 * log2 - 3):
        res = 2 ** ((i + 5) // 2)
        syn[f"noise{i}"] = r(1, 1, res, res)

    def modconv(scope: str, cin: int, cout: int, k: int) -> None:
        syn[f"{scope}/weight"] = r(k, k, cin, cout)
        syn[f"{scope}/mod_weight"] = r(w_dim, cin)
        syn[f"{scope}/mod_bias"] = r(cin, scale=0.3)
        syn[f"{scope}/noise_strength"] = np.float32(rng.standard_normal() * 0.3).reshape(())
        syn[f"{scope}/bias"] = r(cout, scale=0.3)

    def torgb(scope: str, cin: int) -> None:
        syn[f"{scope}/weight"] = r(1, 1, cin, 3)
        syn[f"{scope}/mod_weight"] = r(w_dim, cin)
        syn[f"{scope}/mod_bias"] = r(cin, scale=0.3)
        syn[f"{scope}/bias"] = r(3, scale=0.3)

    syn["4x4/Const/const"] = r(1, nf(1), 4, 4)
    modconv("4x4/Conv", nf(1), nf(1), 3)
    torgb("4x4/ToRGB", nf(1))
    for res_log2 in range(3, log2 + 1):
        res = 2**res_log2
        modconv(f"{res}x{res}/Conv0_up", nf(res_log2 - 2), nf(res_log2 - 1), 3)
        modconv(f"{res}x{res}/Conv1", nf(res_log2 - 1), nf(res_log2 - 1), 3)
        torgb(f"{res}x{res}/ToRGB", nf(res_log2 - 1))
    d: dict[str, np.ndarray] = {}
    d[f"{resolution}x{resolution}/FromRGB/weight"] = r(1, 1, 3, nf(log2 - 1))
    d[f"{resolution}x{resolution}/FromRGB/bias"] = r(nf(log2 - 1), scale=0.3)
    for res_log2 in range(log2, 2, -1):
        res = 2**res_log2
        d[f"{res}x{res}/Conv0/weight"] = r(3, 3, nf(res_log2 - 1), nf(res_log2 - 1))
        d[f"{res}x{res}/Conv0/bias"] = r(nf(res_log2 - 1), scale=0.3)
        d[f"{res}x{res}/Conv1_down/weight"] = r(3, 3, nf(res_log2 - 1), nf(res_log2 - 2))
        d[f"{res}x{res}/Conv1_down/bias"] = r(nf(res_log2 - 2), scale=0.3)
        d[f"{res}x{res}/Skip/weight"] = r(1, 1, nf(res_log2 - 1), nf(res_log2 - 2))
    d["4x4/Conv/weight"] = r(3, 3, nf(1) + mbstd_num_features, nf(1))
    d["4x4/Conv/bias"] = r(nf(1), scale=0.3)
    d["4x4/Dense0/weight"] = r(nf(1) * 16, nf(0))
    d["4x4/Dense0/bias"] = r(nf(0), scale=0.3)
    d["Output/weight"] = r(nf(0), 1)
    d["Output/bias"] = r(1, scale=0.3)
    return mapping, syn, d


def _tf_network(
    name: str, func: str, kwargs: dict[str, Any], variables: dict[str, np.ndarray], components: dict[str, Any], src: str
) -> TFNetworkState:
    return TFNetworkState(
        {
            "version": 4,
            "name": name,
            "static_kwargs": dict(kwargs),
            "components": dict(components),
            "build_module_src": src,
            "build_func_name": func,
            "variables": list(variables.items()),
        }
    )


def write_nvidia_tf(
    path: Path,
    mapping: dict[str, np.ndarray],
    syn: dict[str, np.ndarray],
    d: dict[str, np.ndarray] | None,
    dlatent_avg: np.ndarray,
    *,
    resolution: int,
    fmap_base: int,
    fmap_max: int,
    numpy_core: str = "numpy.core",
    module_src: str = "# networks_stylegan2.py source; never executed\n",
    extra_d_kwargs: dict[str, Any] | None = None,
    extra_g_kwargs: dict[str, Any] | None = None,
    gs_only: bool = False,
) -> Path:
    """Pickle ``(G, D, Gs)`` as ``training_loop.py`` / ``misc.save_pkl`` does (protocol 4)."""
    kwargs = {
        "num_channels": 3,
        "resolution": resolution,
        "label_size": 0,
        "fmap_base": fmap_base,
        "fmap_max": fmap_max,
        "dlatent_size": mapping["Dense0/weight"].shape[1],
        "latent_size": mapping["Dense0/weight"].shape[0],
        "mapping_layers": sum(1 for k in mapping if k.endswith("/weight")),
        **(extra_g_kwargs or {}),
    }

    def make_g(name: str) -> TFNetworkState:
        syn_net = _tf_network("G_synthesis", "G_synthesis_stylegan2", kwargs, syn, {}, module_src)
        map_net = _tf_network(
            "G_mapping",
            "G_mapping",
            {**kwargs, "dlatent_broadcast": 2 * int(math.log2(resolution)) - 2},
            mapping,
            {},
            module_src,
        )
        own = {"lod": np.float32(0).reshape(()), "dlatent_avg": dlatent_avg.astype(np.float32)}
        return _tf_network(name, "G_main", kwargs, own, {"synthesis": syn_net, "mapping": map_net}, module_src)

    gs = make_g("Gs")
    if gs_only:
        path.write_bytes(faithful_dumps(gs, numpy_core))
        return path
    assert d is not None
    d_net = _tf_network("D", "D_stylegan2", {**kwargs, **(extra_d_kwargs or {})}, d, {}, module_src)
    path.write_bytes(faithful_dumps((make_g("G"), d_net, gs), numpy_core))
    return path


# -- an independent transcription of the TensorFlow graph ----------------------------------------
def _t(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.asarray(a, dtype=np.float32))


def tf_fused_bias_act(x: torch.Tensor, b: torch.Tensor, act: str = "linear") -> torch.Tensor:
    x = x + b.reshape([-1 if i == 1 else 1 for i in range(x.ndim)])
    return F.leaky_relu(x, 0.2) * math.sqrt(2) if act == "lrelu" else x


def tf_dense(x: torch.Tensor, w: np.ndarray, b: np.ndarray, lrmul: float = 1.0, act: str = "linear") -> torch.Tensor:
    """dense_layer + apply_bias_act: ``w`` is ``(in, out)``."""
    he = 1 / math.sqrt(w.shape[0])
    return tf_fused_bias_act(x @ (_t(w) * he * lrmul), _t(b) * lrmul, act)


def tf_conv2d(x: torch.Tensor, w: torch.Tensor, stride: int = 1, pad: int = 0) -> torch.Tensor:
    """tf.nn.conv2d (cross-correlation), ``w`` HWIO, explicit sum over taps."""
    kh, kw = w.shape[:2]
    x = F.pad(x, [pad, pad, pad, pad])
    oh = (x.shape[2] - kh) // stride + 1
    ow = (x.shape[3] - kw) // stride + 1
    out = x.new_zeros(x.shape[0], w.shape[3], oh, ow)
    for i in range(kh):
        for j in range(kw):
            patch = x[:, :, i : i + stride * (oh - 1) + 1 : stride, j : j + stride * (ow - 1) + 1 : stride]
            out += torch.einsum("bchw,co->bohw", patch, w[i, j])
    return out


def tf_conv2d_transpose(x: torch.Tensor, w: torch.Tensor, stride: int) -> torch.Tensor:
    """tf.nn.conv2d_transpose, VALID: the adjoint of strided correlation; ``w`` is (kh, kw, out, in)."""
    kh, kw = w.shape[:2]
    b, _, h, wd = x.shape
    out = x.new_zeros(b, w.shape[2], (h - 1) * stride + kh, (wd - 1) * stride + kw)
    for i in range(kh):
        for j in range(kw):
            out[:, :, i : i + stride * (h - 1) + 1 : stride, j : j + stride * (wd - 1) + 1 : stride] += torch.einsum(
                "bchw,oc->bohw", x, w[i, j]
            )
    return out


def tf_upfirdn(
    x: torch.Tensor, k: torch.Tensor, up: int = 1, down: int = 1, pad0: int = 0, pad1: int = 0
) -> torch.Tensor:
    """TF's upfirdn_2d reference: zero-insert, pad, *convolve* with ``k`` (flipped correlation), decimate."""
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, [pad0, pad1, pad0, pad1])
    kf = k.flip(0, 1)
    kh, kw = kf.shape
    oh, ow = x.shape[2] - kh + 1, x.shape[3] - kw + 1
    out = x.new_zeros(b, c, oh, ow)
    for i in range(kh):
        for j in range(kw):
            out += x[:, :, i : i + oh, j : j + ow] * kf[i, j]
    return out[:, :, ::down, ::down]


def tf_kernel(taps: list[int], gain: float) -> torch.Tensor:
    k = torch.tensor(taps, dtype=torch.float32)
    k = torch.outer(k, k)
    return k / k.sum() * gain


def tf_upsample_conv_2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """upsample_conv_2d(factor 2, k=[1,3,3,1]): conv2d_transpose of the flipped weight, then FIR."""
    kw = w.shape[1]
    k = tf_kernel([1, 3, 3, 1], 4.0)
    p = (k.shape[0] - 2) - (kw - 1)
    wt = w.flip(0, 1).permute(0, 1, 3, 2)  # transpose(w[::-1, ::-1], [0, 1, out, in]) for one group
    x = tf_conv2d_transpose(x, wt, 2)
    return tf_upfirdn(x, k, pad0=(p + 1) // 2 + 1, pad1=p // 2 + 1)


def tf_conv_downsample_2d(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    kw = w.shape[1]
    k = tf_kernel([1, 3, 3, 1], 1.0)
    p = (k.shape[0] - 2) + (kw - 1)
    x = tf_upfirdn(x, k, pad0=(p + 1) // 2, pad1=p // 2)
    return tf_conv2d(x, w, stride=2)


def tf_upsample_2d(x: torch.Tensor) -> torch.Tensor:
    k = tf_kernel([1, 3, 3, 1], 4.0)
    p = k.shape[0] - 2
    return tf_upfirdn(x, k, up=2, pad0=(p + 1) // 2 + 1, pad1=p // 2)


def tf_modulated_conv(
    x: torch.Tensor, y: torch.Tensor, v: dict[str, np.ndarray], scope: str, demodulate: bool = True, up: bool = False
) -> torch.Tensor:
    w = _t(v[f"{scope}/weight"])
    kh, kw, cin, _ = w.shape
    w = w / math.sqrt(kh * kw * cin)
    s = tf_dense(y, v[f"{scope}/mod_weight"], v[f"{scope}/mod_bias"]) + 1
    outs = []
    for b in range(x.shape[0]):
        ww = w * s[b].reshape(1, 1, -1, 1)
        if demodulate:
            ww = ww * torch.rsqrt(ww.square().sum(dim=(0, 1, 2)) + 1e-8)
        xb = x[b : b + 1]
        outs.append(tf_upsample_conv_2d(xb, ww) if up else tf_conv2d(xb, ww, pad=kh // 2))
    return torch.cat(outs)


def tf_mapping_forward(mapping: dict[str, np.ndarray], z: torch.Tensor, lrmul: float = 0.01) -> torch.Tensor:
    x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
    i = 0
    while f"Dense{i}/weight" in mapping:
        x = tf_dense(x, mapping[f"Dense{i}/weight"], mapping[f"Dense{i}/bias"], lrmul, "lrelu")
        i += 1
    return x


def tf_generator_forward(syn: dict[str, np.ndarray], dlatents: torch.Tensor) -> torch.Tensor:
    """G_synthesis_stylegan2 ('skip', randomize_noise=False): ``dlatents (B, num_layers, w_dim)``."""

    def layer(x: torch.Tensor, idx: int, scope: str, up: bool = False) -> torch.Tensor:
        x = tf_modulated_conv(x, dlatents[:, idx], syn, scope, up=up)
        x = x + _t(syn[f"noise{idx}"]) * float(syn[f"{scope}/noise_strength"])
        return tf_fused_bias_act(x, _t(syn[f"{scope}/bias"]), "lrelu")

    def torgb(x: torch.Tensor, y: torch.Tensor | None, res_log2: int, scope: str) -> torch.Tensor:
        t = tf_fused_bias_act(
            tf_modulated_conv(x, dlatents[:, res_log2 * 2 - 3], syn, scope, demodulate=False), _t(syn[f"{scope}/bias"])
        )
        return t if y is None else y + t

    log2 = (dlatents.shape[1] + 2) // 2
    x = _t(syn["4x4/Const/const"]).repeat(dlatents.shape[0], 1, 1, 1)
    x = layer(x, 0, "4x4/Conv")
    y = torgb(x, None, 2, "4x4/ToRGB")
    for res_log2 in range(3, log2 + 1):
        res = 2**res_log2
        x = layer(x, res_log2 * 2 - 5, f"{res}x{res}/Conv0_up", up=True)
        x = layer(x, res_log2 * 2 - 4, f"{res}x{res}/Conv1")
        y = torgb(x, tf_upsample_2d(y), res_log2, f"{res}x{res}/ToRGB")
    return y


def tf_discriminator_forward(
    d: dict[str, np.ndarray], images: torch.Tensor, group_size: int = 4, num_features: int = 1
) -> torch.Tensor:
    """D_stylegan2 ('resnet')."""
    log2 = int(math.log2(images.shape[-1]))

    def conv(x: torch.Tensor, scope: str, act: str = "lrelu") -> torch.Tensor:
        w = _t(d[f"{scope}/weight"])
        w = w / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2])
        return tf_fused_bias_act(tf_conv2d(x, w, pad=w.shape[0] // 2), _t(d[f"{scope}/bias"]), act)

    def down(x: torch.Tensor, scope: str) -> torch.Tensor:
        w = _t(d[f"{scope}/weight"])
        return tf_conv_downsample_2d(x, w / math.sqrt(w.shape[0] * w.shape[1] * w.shape[2]))

    res = 2**log2
    x = conv(images, f"{res}x{res}/FromRGB")
    for res_log2 in range(log2, 2, -1):
        res = 2**res_log2
        t = x
        x = conv(x, f"{res}x{res}/Conv0")
        x = tf_fused_bias_act(down(x, f"{res}x{res}/Conv1_down"), _t(d[f"{res}x{res}/Conv1_down/bias"]), "lrelu")
        x = (x + down(t, f"{res}x{res}/Skip")) * (1 / math.sqrt(2))
    n, c, h, w = x.shape
    g = min(group_size, n)
    y = x.reshape(g, -1, num_features, c // num_features, h, w)
    y = y - y.mean(dim=0, keepdim=True)
    y = torch.sqrt(y.square().mean(dim=0) + 1e-8).mean(dim=(2, 3, 4), keepdim=True).mean(dim=2)
    x = torch.cat([x, y.repeat(g, 1, h, w)], dim=1)
    x = conv(x, "4x4/Conv")
    x = tf_dense(x.reshape(n, -1), d["4x4/Dense0/weight"], d["4x4/Dense0/bias"], act="lrelu")
    return tf_dense(x, d["Output/weight"], d["Output/bias"])
