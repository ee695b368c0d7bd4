"""NVIDIA stylegan2-ada-pytorch / stylegan3 network pickles (``training/networks.py`` StyleGAN2).

The pickle is a dict ``{"G", "D", "G_ema", "augment_pipe", "training_set_kwargs", ...}``
whose networks were restored by :mod:`.safe_pickle` as
:class:`~.safe_pickle.PersistentObject` trees (parameters, buffers, sub-modules,
attributes and init kwargs; the embedded source is never run).

Layout changes to rosinality's names (each checked by tests against a transcription of
NVIDIA's forward pass):

- mapping ``fc{i}`` -> ``style.{i+1}`` (same storage convention: weight ``N(0,1)/lr``,
  runtime gains ``lr/sqrt(in)`` and ``lr``); the learning-rate multiplier is read from the
  layer's ``bias_gain`` and becomes ``StyleGAN2Config.lr_mlp``;
- ``affine`` -> ``modulation`` (bias initialised to 1 in both);
- ``weight (O, I, k, k)`` -> ``conv.weight (1, O, I, k, k)``. ``conv0`` (2x up-sampling) is
  **not** flipped: NVIDIA's ``conv2d_resample`` runs ``conv_transpose2d`` on the
  unflipped weight (``flip_weight=False`` for ``up=2`` makes ``_conv2d_wrapper`` skip its
  flip) with FIR padding (1, 1), exactly rosinality's transposed conv + ``Blur(pad=(1, 1))``;
- ToRGB ``weight_gain`` ``1/sqrt(I)`` is rosinality's ``ModulatedConv2d.scale``;
- ``noise_strength ()`` -> ``noise.weight (1,)``, ``noise_const (r, r)`` -> ``noises.noise_i (1, 1, r, r)``;
- ``mapping.w_avg`` -> ``w_avg``;
- discriminator (``resnet``): ``b{R}.fromrgb`` -> ``convs.0``, ``b{r}.conv0/conv1/skip`` ->
  ``convs.j.conv1/conv2/skip``, ``b4.conv/fc/out`` -> ``final_conv``/``final_linear.0/1``;
  the minibatch-stddev group (8 in the ``paper256`` config) -> ``mbstd_group``.

Stored gains that differ from rosinality's defaults are folded into the weights.
"""

from __future__ import annotations

import logging
import math
import re
from typing import Any

import torch

from ..config import StyleGAN2Config
from ..errors import CheckpointError, ConfigError
from .file_faults import describe
from .pickle_allowlist import PersistentObject
from .safe_pickle import unsupported_format_error
from .weights import ConvertedWeights, as_float_tensor, blur_taps_from_filter, file_number, fold_gain, reshaped

__all__ = ["convert_nvidia_pytorch", "is_nvidia_pytorch_pickle"]

logger = logging.getLogger(__name__)

#: ``mbstd_group_size=None`` means "the whole minibatch": a group larger than any batch.
WHOLE_BATCH_GROUP = 1 << 30


def is_nvidia_pytorch_pickle(data: Any) -> bool:
    return isinstance(data, dict) and any(isinstance(data.get(k), PersistentObject) for k in ("G_ema", "G", "D"))


def _num(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError, OverflowError):
        return None


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.notes: list[str] = []

    def fail(self, msg: str) -> CheckpointError:
        return CheckpointError(f"{self.source}: {msg}")

    def need(self, obj: PersistentObject | None, name: str, where: str) -> PersistentObject:
        child = obj.child(name) if obj is not None else None
        if child is None:
            raise self.fail(f"{where} has no sub-module {name!r}; not a StyleGAN2 network of networks.py")
        return child

    def tensor(
        self, obj: PersistentObject, name: str, where: str, dims: int | tuple[int, ...] | None = None
    ) -> torch.Tensor:
        value = {**obj.parameters, **obj.buffers}.get(name)
        if value is None:
            raise self.fail(f"{where} has no tensor {name!r}")
        return as_float_tensor(value, f"{self.source}: {where}.{name}", dims)

    def number(self, value: Any, what: str) -> int:
        """An integer attribute or init argument of the pickle (``c_dim``, ``resolution``...); None is 0."""
        return 0 if value is None else int(file_number(value, f"{self.source}: {what}", integer=True))

    # -- layers ---------------------------------------------------------------------------
    def dense(self, fc: PersistentObject, where: str, act: str, lr_mul: float = 1.0) -> dict[str, torch.Tensor]:
        """FullyConnectedLayer -> EqualLinear(lr_mul) weight/bias (gains folded if they differ)."""
        weight = self.tensor(fc, "weight", where, 2)
        out = {"weight": fold_gain(weight, _num(fc.attr("weight_gain")), lr_mul / math.sqrt(weight.shape[1]))}
        # every dense layer of a StyleGAN2 has a bias (the affines' starts at 1)
        out["bias"] = fold_gain(self.tensor(fc, "bias", where, 1), _num(fc.attr("bias_gain")), lr_mul)
        found = fc.attr("activation", "linear")
        if not isinstance(found, str) or found != act:
            raise self.fail(f"{where} uses activation {describe(found)}; StyleGAN2 uses {act!r} there")
        return out

    def conv(self, layer: PersistentObject, where: str, act: str, bias: bool = True) -> dict[str, torch.Tensor]:
        """Conv2dLayer -> EqualConv2d weight (+ bias; a missing one is an error where ``bias``)."""
        weight = self.tensor(layer, "weight", where, 4)
        fan_in = weight.shape[1] * weight.shape[2] * weight.shape[3]
        out = {"weight": fold_gain(weight, _num(layer.attr("weight_gain")), 1 / math.sqrt(fan_in))}
        if bias or "bias" in {**layer.parameters, **layer.buffers}:
            out["bias"] = self.tensor(layer, "bias", where, 1)
        self.check_act(layer, where, act)
        return out

    def check_act(self, layer: PersistentObject, where: str, expected: str | None) -> None:
        act = layer.attr("activation", "linear")
        if expected is not None and (not isinstance(act, str) or act != expected):
            raise self.fail(f"{where} uses activation {describe(act)}; only StyleGAN2's {expected!r} is supported")
        if layer.attr("conv_clamp") is not None:
            note = (
                f"conv_clamp={describe(layer.attr('conv_clamp'))} dropped (it only clips activations beyond that bound)"
            )
            if note not in self.notes:
                self.notes.append(note)

    def styled(self, layer: PersistentObject, where: str, prefix: str, out: dict[str, torch.Tensor]) -> torch.Tensor:
        """SynthesisLayer -> StyledConv keys under ``prefix``; returns the noise buffer ``(1, 1, r, r)``."""
        weight = self.tensor(layer, "weight", where, 4)
        affine = self.dense(self.need(layer, "affine", where), f"{where}.affine", "linear")
        self.check_act(layer, where, "lrelu")
        out[f"{prefix}.conv.weight"] = weight.unsqueeze(0)
        out[f"{prefix}.conv.modulation.weight"] = affine["weight"]
        out[f"{prefix}.conv.modulation.bias"] = affine["bias"]
        out[f"{prefix}.activate.bias"] = self.tensor(layer, "bias", where, 1)
        res = self.number(layer.attr("resolution", 0), f"{where}.resolution") or None
        if "noise_strength" in layer.parameters:
            strength = self.tensor(layer, "noise_strength", where)
            out[f"{prefix}.noise.weight"] = reshaped(strength, (1,), f"{self.source}: {where}.noise_strength")
            noise = self.tensor(layer, "noise_const", where, 2)
            return noise.reshape(1, 1, *noise.shape)
        out[f"{prefix}.noise.weight"] = torch.zeros(1)
        note = "use_noise=False: noise strengths set to 0"
        if note not in self.notes:
            self.notes.append(note)
        side = res if res is not None and 0 < res <= 4096 else 4
        return torch.zeros(1, 1, side, side)

    def torgb(self, layer: PersistentObject, where: str, prefix: str, out: dict[str, torch.Tensor]) -> None:
        weight = self.tensor(layer, "weight", where, 4)
        if weight.shape[0] != 3:
            raise self.fail(f"{where} outputs {weight.shape[0]} channels; only RGB generators are supported")
        affine = self.dense(self.need(layer, "affine", where), f"{where}.affine", "linear")
        # ToRGB: styles = affine(w) * weight_gain; ours: weight * scale * style with scale = 1/sqrt(I).
        out[f"{prefix}.conv.weight"] = fold_gain(
            weight, _num(layer.attr("weight_gain")), 1 / math.sqrt(weight[0].numel())
        ).unsqueeze(0)
        out[f"{prefix}.conv.modulation.weight"] = affine["weight"]
        out[f"{prefix}.conv.modulation.bias"] = affine["bias"]
        out[f"{prefix}.bias"] = reshaped(
            self.tensor(layer, "bias", where), (1, 3, 1, 1), f"{self.source}: {where}.bias"
        )
        self.check_act(layer, where, None)

    def taps(self, obj: PersistentObject, where: str, found: set[tuple[int, ...]]) -> None:
        if "resample_filter" in obj.buffers:
            found.add(blur_taps_from_filter(obj.buffers["resample_filter"], f"{self.source}: {where}.resample_filter"))

    # -- networks --------------------------------------------------------------------------
    def generator(self, G: PersistentObject) -> tuple[dict[str, torch.Tensor], torch.Tensor | None, dict[str, Any]]:
        if G.class_name != "Generator":
            raise self.fail(f"the generator is a {G.class_name!r}, expected networks.py's 'Generator'")
        kwargs = G.init_kwargs
        c_dim = self.number(kwargs.get("c_dim"), "G c_dim")
        if c_dim > 0:
            raise self.fail(f"conditional generators (c_dim={c_dim}) are not supported")
        mapping = self.need(G, "mapping", "G")
        synthesis = self.need(G, "synthesis", "G")
        if synthesis.child("input") is not None or any(re.match(r"L\d+_", n) for n in synthesis.modules):
            raise unsupported_format_error(
                self.source, "this is a StyleGAN3 (alias-free) generator, not StyleGAN2; only StyleGAN2 networks work"
            )
        if mapping.child("embed") is not None:
            raise self.fail("conditional generators (mapping.embed) are not supported")
        out: dict[str, torch.Tensor] = {}
        n_mlp = 0
        while mapping.child(f"fc{n_mlp}") is not None:
            n_mlp += 1
        if n_mlp == 0:
            raise self.fail("G.mapping has no fc0 layer")
        fc0 = self.need(mapping, "fc0", "G.mapping")
        lr = _num(fc0.attr("bias_gain")) or _num(mapping.init_kwargs.get("lr_multiplier")) or 0.01
        for i in range(n_mlp):
            fc = self.need(mapping, f"fc{i}", "G.mapping")
            for k, v in self.dense(fc, f"G.mapping.fc{i}", "lrelu", lr_mul=lr).items():
                out[f"style.{i + 1}.{k}"] = v
        w_avg = as_float_tensor(mapping.buffers["w_avg"], "w_avg") if "w_avg" in mapping.buffers else None

        blocks = sorted((int(m.group(1)), n) for n in synthesis.modules if (m := re.fullmatch(r"b(\d{1,5})", n)))
        resolutions = [r for r, _ in blocks]
        if not resolutions or resolutions[0] != 4 or resolutions != [4 * 2**i for i in range(len(resolutions))]:
            raise self.fail(f"G.synthesis has blocks {resolutions}, expected b4, b8, ..., bR")
        taps: set[tuple[int, ...]] = set()
        noises: list[torch.Tensor] = []
        channels: list[int] = []
        for i, res in enumerate(resolutions):
            block = self.need(synthesis, f"b{res}", "G.synthesis")
            where = f"G.synthesis.b{res}"
            arch = block.attr("architecture", "skip")
            if (
                not isinstance(arch, str)
                or arch != "skip"
                or block.child("skip") is not None
                or block.child("torgb") is None
            ):
                raise self.fail(
                    f"{where} uses the {describe(arch)} architecture; only StyleGAN2's 'skip' generator (configs E/F) is supported"
                )
            self.taps(block, where, taps)
            if res == 4:
                const = self.tensor(block, "const", where, 3)
                out["input.input"] = const.unsqueeze(0)
                channels.append(int(const.shape[0]))
                noises.append(self.styled(self.need(block, "conv1", where), f"{where}.conv1", "conv1", out))
                self.torgb(self.need(block, "torgb", where), f"{where}.torgb", "to_rgb1", out)
                continue
            conv0, conv1 = self.need(block, "conv0", where), self.need(block, "conv1", where)
            self.taps(conv0, f"{where}.conv0", taps)
            noises.append(self.styled(conv0, f"{where}.conv0", f"convs.{2 * (i - 1)}", out))
            noises.append(self.styled(conv1, f"{where}.conv1", f"convs.{2 * i - 1}", out))
            self.torgb(self.need(block, "torgb", where), f"{where}.torgb", f"to_rgbs.{i - 1}", out)
            channels.append(int(self.tensor(conv1, "weight", f"{where}.conv1", 4).shape[0]))
        for i, noise in enumerate(noises):
            out[f"noises.noise_{i}"] = noise
        if len(taps) > 1:
            raise self.fail(f"G uses several resampling filters {sorted(taps)}")
        synthesis_kwargs = G.init_kwargs.get("synthesis_kwargs")
        fp16 = synthesis_kwargs.get("num_fp16_res") if isinstance(synthesis_kwargs, dict) else None
        if isinstance(fp16, int) and fp16 > 0:
            self.notes.append(f"num_fp16_res={describe(fp16)}: the converted generator runs in float32 throughout")
        arch = {
            "resolution": resolutions[-1],
            "channels": tuple(channels),
            "z_dim": int(out["style.1.weight"].shape[1]),
            "w_dim": int(out[f"style.{n_mlp}.weight"].shape[0]),
            "n_mlp": n_mlp,
            "lr_mlp": float(lr),
            "blur_kernel": next(iter(taps)) if taps else (1, 3, 3, 1),
        }
        return out, w_avg, arch

    def discriminator(self, D: PersistentObject, config: StyleGAN2Config) -> tuple[dict[str, torch.Tensor], int, int]:
        """-> (state, mbstd_group, mbstd_features); raises CheckpointError when D does not fit."""
        if D.class_name != "Discriminator":
            raise self.fail(f"D is a {D.class_name!r}")
        if D.child("mapping") is not None or self.number(D.init_kwargs.get("c_dim"), "D c_dim") > 0:
            raise self.fail("conditional discriminators are not supported")
        out: dict[str, torch.Tensor] = {}
        top = config.resolution
        res_list = list(reversed(config.resolutions[1:]))  # R, R/2, ..., 8
        for j, res in enumerate(res_list):
            where = f"D.b{res}"
            block = self.need(D, f"b{res}", "D")
            arch = block.attr("architecture", "resnet")
            has_rgb = block.child("fromrgb") is not None
            if not isinstance(arch, str) or arch != "resnet" or block.child("skip") is None or has_rgb != (res == top):
                raise self.fail(
                    f"{where} uses the {describe(arch)} architecture; only StyleGAN2's 'resnet' D is supported"
                )
            if res == top:
                rgb = self.conv(self.need(block, "fromrgb", where), f"{where}.fromrgb", "lrelu")
                out["convs.0.0.weight"], out["convs.0.1.bias"] = rgb["weight"], rgb["bias"]
            c0 = self.conv(self.need(block, "conv0", where), f"{where}.conv0", "lrelu")
            c1 = self.conv(self.need(block, "conv1", where), f"{where}.conv1", "lrelu")
            sk = self.conv(self.need(block, "skip", where), f"{where}.skip", "linear", bias=False)
            out[f"convs.{j + 1}.conv1.0.weight"], out[f"convs.{j + 1}.conv1.1.bias"] = c0["weight"], c0["bias"]
            out[f"convs.{j + 1}.conv2.1.weight"], out[f"convs.{j + 1}.conv2.2.bias"] = c1["weight"], c1["bias"]
            out[f"convs.{j + 1}.skip.1.weight"] = sk["weight"]
            taps: set[tuple[int, ...]] = set()
            self.taps(block, where, taps)
            if taps and taps != {config.blur_kernel}:
                raise self.fail(f"{where} uses the filter {taps}, the generator {config.blur_kernel}")
        b4 = self.need(D, "b4", "D")
        mbstd = b4.child("mbstd")
        if mbstd is None:
            raise self.fail("D.b4 has no minibatch-stddev layer; not supported")
        group = mbstd.attr("group_size", mbstd.init_kwargs.get("group_size", 4))
        features = self.number(mbstd.attr("num_channels", mbstd.init_kwargs.get("num_channels", 1)), "D mbstd channels")
        if group is None:
            group = WHOLE_BATCH_GROUP
            self.notes.append("D mbstd_group_size=None (whole minibatch)")
        group = self.number(group, "D mbstd group size")
        conv = self.conv(self.need(b4, "conv", "D.b4"), "D.b4.conv", "lrelu")
        fc = self.dense(self.need(b4, "fc", "D.b4"), "D.b4.fc", "lrelu")
        head = self.dense(self.need(b4, "out", "D.b4"), "D.b4.out", "linear")
        if head["weight"].shape[0] != 1:
            raise self.fail("D.b4.out has more than one output (conditional D); not supported")
        out["final_conv.0.weight"], out["final_conv.1.bias"] = conv["weight"], conv["bias"]
        out["final_linear.0.weight"], out["final_linear.0.bias"] = fc["weight"], fc["bias"]
        out["final_linear.1.weight"], out["final_linear.1.bias"] = head["weight"], head["bias"]
        return out, int(group), features


def convert_nvidia_pytorch(data: dict[str, Any], source: str, with_discriminator: bool = True) -> ConvertedWeights:
    """Convert the dict restored from an NVIDIA PyTorch network pickle (see module docstring)."""
    conv = _Converter(source)
    if isinstance(data.get("G_ema"), PersistentObject):
        network = "G_ema"
    elif isinstance(data.get("G"), PersistentObject):
        network = "G"
        conv.notes.append("the pickle has no G_ema; converted the training generator G")
    else:
        raise unsupported_format_error(source, "this NVIDIA network pickle holds no generator (G_ema or G)")
    g_state, w_avg, arch = conv.generator(data[network])
    base: dict[str, Any] = {"mbstd_group": 4, "mbstd_features": 1}
    d_state, d_status = None, "absent"
    D = data.get("D")
    if isinstance(D, PersistentObject) and with_discriminator:
        try:
            probe = StyleGAN2Config(**arch)
            d_state, group, features = conv.discriminator(D, probe)
            base = {"mbstd_group": group, "mbstd_features": features}
            d_status = "converted"
        except (CheckpointError, ConfigError) as exc:
            d_status = f"skipped: {exc}"
            logger.warning("%s: discriminator not converted: %s", source, exc)
    elif isinstance(D, PersistentObject):
        d_status = "not requested"
    try:
        config = StyleGAN2Config(**arch, **base)
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the generator's architecture is not supported: {exc}") from exc
    if data.get("augment_pipe") is not None:
        conv.notes.append("augment_pipe ignored (training only)")
    return ConvertedWeights(
        config=config,
        generator=g_state,
        w_avg=w_avg,
        w_avg_source="mapping.w_avg" if w_avg is not None else "estimated from 10000 samples",
        discriminator=d_state,
        discriminator_status=d_status,
        network=network,
        notes=conv.notes,
    )
