"""NVIDIA's original TensorFlow StyleGAN2 pickles (``stylegan2-*-config-f.pkl``, ``stylegan2-ffhq-256x256.pkl``...).

The pickle is a tuple ``(G, D, Gs)`` of ``dnnlib.tflib.network.Network`` objects (or one
``Gs``), restored by :mod:`.safe_pickle` as :class:`~.safe_pickle.TFNetwork` stubs holding
their numpy variables; TensorFlow is never needed and the embedded build source is never run.

Layout changes to rosinality's names (as rosinality's ``convert_weight.py``, verified by
tests against a transcription of the TensorFlow graph):

- dense ``weight (in, out)`` -> ``(out, in)`` (transpose); mapping ``Dense{i}`` -> ``style.{i+1}``;
- conv ``weight (kh, kw, in, out)`` (HWIO) -> ``(out, in, kh, kw)``;
- ``Conv0_up`` (2x up-sampling) is spatially **flipped**: TensorFlow's ``upsample_conv_2d``
  runs ``conv2d_transpose`` on ``w[::-1, ::-1]``, rosinality's on the weight as stored;
  the same applies to the 1x1 ``Skip`` of resnet blocks, where a flip is the identity;
- ``mod_bias + 1`` -> ``modulation.bias`` (TF adds the 1 at run time, rosinality initialises
  the bias to 1); ``mod_weight`` transposed;
- ``noise_strength ()`` -> ``noise.weight (1,)``; ``noise{i}`` -> ``noises.noise_{i}``;
  ``dlatent_avg`` -> ``w_avg``; ``4x4/Const/const`` -> ``input.input``;
- discriminator: ``{R}x{R}/FromRGB`` -> ``convs.0``, ``{r}x{r}/Conv0|Conv1_down|Skip`` ->
  ``convs.j.conv1|conv2|skip``, ``4x4/Conv``, ``4x4/Dense0``, ``Output`` -> ``final_*``;
  ``mbstd_group_size`` / ``mbstd_num_features`` from the static kwargs (defaults 4 / 1).
"""

from __future__ import annotations

import logging
import re
from typing import Any

import numpy as np
import torch

from ..config import StyleGAN2Config
from ..errors import CheckpointError, ConfigError
from .file_faults import describe
from .pickle_allowlist import TFNetwork
from .safe_pickle import unsupported_format_error
from .weights import ConvertedWeights, as_float_tensor, file_number, reshaped

__all__ = ["convert_nvidia_tf", "is_nvidia_tf_pickle"]

logger = logging.getLogger(__name__)


def is_nvidia_tf_pickle(data: Any) -> bool:
    if isinstance(data, TFNetwork):
        return True
    return isinstance(data, tuple) and len(data) in (2, 3) and all(isinstance(n, TFNetwork) for n in data)


class _Vars:
    def __init__(self, net: TFNetwork, source: str, what: str) -> None:
        self.values = net.variables()
        self.source, self.what = source, what

    def get(self, name: str) -> np.ndarray:
        try:
            return self.values[name]
        except KeyError:
            raise CheckpointError(f"{self.source}: {self.what} has no variable {name!r}") from None

    def t(self, name: str, dims: int | tuple[int, ...] | None = None) -> torch.Tensor:
        return as_float_tensor(self.get(name), f"{self.source}: {self.what}/{name}", dims)

    def fit(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """Variable ``name`` reshaped to ``shape`` (CheckpointError when it holds another number of values)."""
        return reshaped(self.t(name), shape, f"{self.source}: {self.what}/{name}")

    def dense(self, name: str) -> dict[str, torch.Tensor]:
        w, b = self.t(f"{name}/weight", 2), self.t(f"{name}/bias", 1)
        return {"weight": w.t().contiguous(), "bias": b}

    def conv(self, name: str, flip: bool = False) -> torch.Tensor:
        w = self.t(f"{name}/weight")
        if w.dim() != 4:
            raise CheckpointError(f"{self.source}: {self.what}/{name}/weight has shape {tuple(w.shape)}, expected HWIO")
        if flip:
            w = w.flip(0, 1)
        return w.permute(3, 2, 0, 1).contiguous()


def _modconv(v: _Vars, name: str, prefix: str, out: dict[str, torch.Tensor], flip: bool = False) -> None:
    out[f"{prefix}.conv.weight"] = v.conv(name, flip=flip).unsqueeze(0)
    out[f"{prefix}.conv.modulation.weight"] = v.t(f"{name}/mod_weight", 2).t().contiguous()
    out[f"{prefix}.conv.modulation.bias"] = v.t(f"{name}/mod_bias") + 1
    out[f"{prefix}.noise.weight"] = v.fit(f"{name}/noise_strength", (1,))
    out[f"{prefix}.activate.bias"] = v.t(f"{name}/bias")


def _torgb(v: _Vars, name: str, prefix: str, out: dict[str, torch.Tensor]) -> None:
    out[f"{prefix}.conv.weight"] = v.conv(name).unsqueeze(0)
    out[f"{prefix}.conv.modulation.weight"] = v.t(f"{name}/mod_weight", 2).t().contiguous()
    out[f"{prefix}.conv.modulation.bias"] = v.t(f"{name}/mod_bias") + 1
    out[f"{prefix}.bias"] = v.fit(f"{name}/bias", (1, 3, 1, 1))


def _kwargs(net: TFNetwork) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for comp in net.components.values():
        merged.update(comp.static_kwargs)
    merged.update(net.static_kwargs)
    return merged


def _text(kw: dict[str, Any], name: str, default: str) -> str | None:
    """Static kwarg ``name`` if it is a string (``default`` when absent), else None."""
    value = kw.get(name, default)
    return value if isinstance(value, str) else None


def _integer(kw: dict[str, Any], name: str, default: int, source: str) -> int:
    """Static kwarg ``name`` as an integer (``default`` when absent or None)."""
    value = kw.get(name)
    return default if value is None else int(file_number(value, f"{source}: static kwarg {name}", integer=True))


def _generator(
    net: TFNetwork, source: str, notes: list[str]
) -> tuple[dict[str, torch.Tensor], torch.Tensor, dict[str, Any]]:
    kw = _kwargs(net)
    synthesis = net.components.get("synthesis")
    mapping = net.components.get("mapping")
    if synthesis is None or mapping is None:
        raise unsupported_format_error(source, f"the TensorFlow network {net.name!r} is not a StyleGAN2 generator")
    func = synthesis.build_func_name
    if func and func != "G_synthesis_stylegan2":
        raise CheckpointError(f"{source}: synthesis network {func!r} is not StyleGAN2's G_synthesis_stylegan2")
    if _text(kw, "architecture", "skip") != "skip":
        raise CheckpointError(
            f"{source}: generator architecture {describe(kw['architecture'])}; only 'skip' (configs E/F) is supported"
        )
    if _integer(kw, "label_size", 0, source) > 0:
        raise CheckpointError(f"{source}: conditional generators (label_size={kw['label_size']}) are not supported")
    for name in ("nonlinearity", "mapping_nonlinearity"):
        if _text(kw, name, "lrelu") != "lrelu":
            raise CheckpointError(f"{source}: {name}={describe(kw[name])}; only StyleGAN2's 'lrelu' is supported")
    v = _Vars(net, source, net.name)
    out: dict[str, torch.Tensor] = {}
    n_mlp = 0
    while f"mapping/Dense{n_mlp}/weight" in v.values:
        n_mlp += 1
    if n_mlp == 0 or "mapping/LabelConcat/weight" in v.values:
        raise CheckpointError(f"{source}: unsupported mapping network (no Dense0, or label conditioning)")
    for i in range(n_mlp):
        for k, t in v.dense(f"mapping/Dense{i}").items():
            out[f"style.{i + 1}.{k}"] = t
    const = v.t("synthesis/4x4/Const/const", 4)
    out["input.input"] = const.reshape(1, *const.shape[-3:])
    _modconv(v, "synthesis/4x4/Conv", "conv1", out)
    _torgb(v, "synthesis/4x4/ToRGB", "to_rgb1", out)
    resolutions = [4]
    while f"synthesis/{resolutions[-1] * 2}x{resolutions[-1] * 2}/Conv1/weight" in v.values:
        resolutions.append(resolutions[-1] * 2)
    channels = [int(const.shape[1])]
    for i, res in enumerate(resolutions[1:]):
        scope = f"synthesis/{res}x{res}"
        if f"{scope}/Skip/weight" in v.values:
            raise CheckpointError(f"{source}: resnet generators (with {scope}/Skip) are not supported")
        _modconv(v, f"{scope}/Conv0_up", f"convs.{2 * i}", out, flip=True)
        _modconv(v, f"{scope}/Conv1", f"convs.{2 * i + 1}", out)
        _torgb(v, f"{scope}/ToRGB", f"to_rgbs.{i}", out)
        channels.append(int(out[f"convs.{2 * i + 1}.conv.weight"].shape[1]))
    for i in range(2 * len(resolutions) - 1):
        noise = v.t(f"synthesis/noise{i}", 4)
        out[f"noises.noise_{i}"] = v.fit(f"synthesis/noise{i}", (1, 1, *noise.shape[-2:]))
    resolution = resolutions[-1]
    if "resolution" in kw and _integer(kw, "resolution", resolution, source) != resolution:
        raise CheckpointError(
            f"{source}: static kwarg resolution={kw['resolution']} but the variables stop at {resolution}"
        )
    kernel = kw.get("resample_kernel")
    if kernel is not None and not (isinstance(kernel, (list, tuple)) and 0 < len(kernel) <= 16):
        raise CheckpointError(f"{source}: static kwarg resample_kernel is {describe(kernel)}, not a list of taps")
    taps = tuple(file_number(t, f"{source}: resample_kernel", integer=True) for t in kernel or (1, 3, 3, 1))
    w_avg = v.t("dlatent_avg").reshape(-1)
    if kw.get("randomize_noise") is not None:
        notes.append("static kwarg randomize_noise ignored (choose noise_mode when sampling)")
    arch = {
        "resolution": resolution,
        "channels": tuple(channels),
        "z_dim": int(out["style.1.weight"].shape[1]),
        "w_dim": int(out[f"style.{n_mlp}.weight"].shape[0]),
        "n_mlp": n_mlp,
        "lr_mlp": float(file_number(kw.get("mapping_lrmul", 0.01), f"{source}: mapping_lrmul")),
        "blur_kernel": taps,
    }
    return out, w_avg, arch


def _discriminator(net: TFNetwork, config: StyleGAN2Config, source: str) -> tuple[dict[str, torch.Tensor], int, int]:
    kw = _kwargs(net)
    if _text(kw, "architecture", "resnet") != "resnet":
        raise CheckpointError(f"D architecture {describe(kw['architecture'])}; only 'resnet' is supported")
    if _integer(kw, "label_size", 0, source) > 0:
        raise CheckpointError(f"conditional discriminators (label_size={kw['label_size']}) are not supported")
    group = _integer(kw, "mbstd_group_size", 4, source)
    features = _integer(kw, "mbstd_num_features", 1, source)
    if group <= 1:
        raise CheckpointError("D without minibatch-stddev (mbstd_group_size <= 1) is not supported")
    v = _Vars(net, source, net.name)
    top = config.resolution
    out: dict[str, torch.Tensor] = {}
    if any(re.fullmatch(r"(\d+)x\1/FromRGB/weight", k) and not k.startswith(f"{top}x{top}/") for k in v.values):
        raise CheckpointError("D has FromRGB layers below the top resolution ('skip' architecture); not supported")
    out["convs.0.0.weight"] = v.conv(f"{top}x{top}/FromRGB")
    out["convs.0.1.bias"] = v.t(f"{top}x{top}/FromRGB/bias")
    for j, res in enumerate(reversed(config.resolutions[1:])):
        scope = f"{res}x{res}"
        out[f"convs.{j + 1}.conv1.0.weight"] = v.conv(f"{scope}/Conv0")
        out[f"convs.{j + 1}.conv1.1.bias"] = v.t(f"{scope}/Conv0/bias")
        out[f"convs.{j + 1}.conv2.1.weight"] = v.conv(f"{scope}/Conv1_down")
        out[f"convs.{j + 1}.conv2.2.bias"] = v.t(f"{scope}/Conv1_down/bias")
        # A 1x1 kernel: flipping (as for up-sampling layers) would be the identity.
        out[f"convs.{j + 1}.skip.1.weight"] = v.conv(f"{scope}/Skip")
    out["final_conv.0.weight"] = v.conv("4x4/Conv")
    out["final_conv.1.bias"] = v.t("4x4/Conv/bias")
    for i, name in enumerate(("4x4/Dense0", "Output")):
        dense = v.dense(name)
        out[f"final_linear.{i}.weight"], out[f"final_linear.{i}.bias"] = dense["weight"], dense["bias"]
    if out["final_linear.1.weight"].shape[0] != 1:
        raise CheckpointError("D Output has more than one unit (conditional D); not supported")
    if out["final_conv.0.weight"].shape[1] != config.channels[0] + features:
        raise CheckpointError("D 4x4/Conv input width does not match mbstd_num_features")
    return out, group, features


def convert_nvidia_tf(data: Any, source: str, with_discriminator: bool = True) -> ConvertedWeights:
    """Convert ``(G, D, Gs)`` (or a lone ``Gs``) restored from a TensorFlow StyleGAN2 pickle."""
    notes: list[str] = []
    if isinstance(data, TFNetwork):
        gs, d_net, network = data, None, data.name
    elif len(data) == 3:
        _, d_net, gs = data
        network = "Gs"
    else:
        gs, d_net, network = data[0], data[1], data[0].name
    g_state, w_avg, arch = _generator(gs, source, notes)
    base: dict[str, Any] = {"mbstd_group": 4, "mbstd_features": 1}
    d_state, d_status = None, "absent"
    if d_net is not None and with_discriminator:
        try:
            d_state, group, features = _discriminator(d_net, StyleGAN2Config(**arch), source)
            base = {"mbstd_group": group, "mbstd_features": features}
            d_status = "converted"
        except (CheckpointError, ConfigError) as exc:
            d_status = f"skipped: {exc}"
            logger.warning("%s: discriminator not converted: %s", source, exc)
    elif d_net is not None:
        d_status = "not requested"
    try:
        config = StyleGAN2Config(**arch, **base)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the generator's architecture is not supported: {exc}") from exc
    return ConvertedWeights(
        config=config,
        generator=g_state,
        w_avg=w_avg,
        w_avg_source="dlatent_avg",
        discriminator=d_state,
        discriminator_status=d_status,
        network=network,
        notes=notes,
    )
