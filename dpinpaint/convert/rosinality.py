"""rosinality/stylegan2-pytorch checkpoints (``train.py`` / ``convert_weight.py`` output).

Such a ``.pt`` file is a ``torch.save`` dict: ``g_ema`` (the generator used for sampling),
optionally ``g`` and ``d`` (training generator and discriminator), ``g_optim`` /
``d_optim`` (Adam states), ``args`` (an ``argparse.Namespace``) and, from
``convert_weight.py``, ``latent_avg``. A bare generator state dict is accepted too.

:class:`~dpinpaint.models.stylegan2.StyleGAN2Generator` uses rosinality's state-dict keys,
so conversion is: drop the constant FIR kernels (rosinality keeps them as persistent
buffers; they are checked against the inferred blur kernel), infer the architecture from
the tensor shapes, and take ``latent_avg`` as ``w_avg``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

import torch

from ..config import StyleGAN2Config
from ..errors import CheckpointError, ConfigError
from .file_faults import describe
from .safe_pickle import unsupported_format_error
from .weights import ConvertedWeights, as_float_tensor, blur_taps_from_filter, file_number

__all__ = ["convert_rosinality", "infer_rosinality_config"]

_GENERATOR_MARKERS = ("style.1.weight", "input.input", "conv1.conv.weight")


def _is_generator_state(obj: Any) -> bool:
    return isinstance(obj, dict) and all(k in obj for k in _GENERATOR_MARKERS)


def _tensor_dict(obj: Any, what: str) -> dict[str, torch.Tensor]:
    if not isinstance(obj, dict):
        raise CheckpointError(f"{what} is a {type(obj).__name__}, not a state dict")
    out = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise CheckpointError(f"{what}: entry {key!r} is not a tensor")
        out[key] = value
    return out


def _split_kernels(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(weights, FIR kernels): rosinality's ``Blur``/``Upsample``/``Downsample`` buffers end in ``.kernel``."""
    kernels = {k: v for k, v in state.items() if k.endswith(".kernel")}
    return {k: v for k, v in state.items() if k not in kernels}, kernels


def infer_rosinality_config(
    g_state: dict[str, torch.Tensor],
    d_state: dict[str, torch.Tensor] | None = None,
    *,
    lr_mlp: float = 0.01,
    blur_kernel: tuple[int, ...] = (1, 3, 3, 1),
    mbstd_group: int = 4,
    source: str = "checkpoint",
) -> StyleGAN2Config:
    """The :class:`StyleGAN2Config` that rosinality tensors (generator keys) describe.

    Resolution from the number of ``to_rgbs``, widths from the conv weights
    ``(1, out, in, k, k)``, ``n_mlp`` / ``w_dim`` from ``style.{i}.weight``; the
    minibatch-stddev feature count from the discriminator's ``final_conv`` if given.
    """
    n_mlp = 0
    while f"style.{n_mlp + 1}.weight" in g_state:
        n_mlp += 1
    if n_mlp == 0:
        raise CheckpointError(f"{source}: no mapping layers (style.1.weight) in the generator state")

    def shape(state: dict[str, torch.Tensor], key: str, dims: int) -> tuple[int, ...]:
        return tuple(as_float_tensor(state[key], f"{source}: {key}", dims).shape)

    w_dim, z_dim = shape(g_state, "style.1.weight", 2)
    n_up = len({m.group(1) for k in g_state if (m := re.match(r"to_rgbs\.(\d+)\.", k))})
    if n_up > 10:
        raise CheckpointError(f"{source}: the generator has {n_up} to_rgbs layers; StyleGAN2s have at most 10")
    resolution = 4 * 2**n_up
    channels = [shape(g_state, "input.input", 4)[1]]
    for i in range(n_up):
        key = f"convs.{2 * i}.conv.weight"
        if key not in g_state:
            raise CheckpointError(f"{source}: generator state has to_rgbs.{i} but no {key}")
        channels.append(shape(g_state, key, 5)[1])
    mbstd_features = 1
    if d_state is not None and "final_conv.0.weight" in d_state:
        mbstd_features = shape(d_state, "final_conv.0.weight", 4)[1] - channels[0]
    try:
        return StyleGAN2Config(
            resolution=resolution,
            channels=tuple(channels),
            z_dim=int(z_dim),
            w_dim=int(w_dim),
            n_mlp=n_mlp,
            lr_mlp=lr_mlp,
            blur_kernel=blur_kernel,
            mbstd_group=mbstd_group,
            mbstd_features=max(mbstd_features, 1),
        )
    except ConfigError as exc:
        raise CheckpointError(f"{source}: the generator's architecture is not supported: {exc}") from exc


def _check_kernels(kernels: dict[str, torch.Tensor], taps: tuple[int, ...], source: str) -> None:
    for key, kernel in kernels.items():
        found = blur_taps_from_filter(kernel, f"{source}: {key}")
        if found != taps:
            raise CheckpointError(f"{source}: {key} is the FIR {found}, but other layers use {taps}")


def convert_rosinality(obj: Any, source: str) -> ConvertedWeights:
    """Convert the object loaded from a rosinality ``.pt`` file (see module docstring)."""
    notes: list[str] = []
    if isinstance(obj, dict) and "g_ema" in obj:
        network, g_raw = "g_ema", obj["g_ema"]
    elif isinstance(obj, dict) and "g" in obj and _is_generator_state(obj["g"]):
        network, g_raw = "g", obj["g"]
        notes.append("the file has no g_ema; converted the training generator 'g'")
    elif _is_generator_state(obj):
        network, g_raw = "state dict", obj
    else:
        keys = sorted(map(describe, obj))[:10] if isinstance(obj, dict) else type(obj).__name__
        raise unsupported_format_error(
            source, f"this torch.save file holds no StyleGAN2 generator in rosinality's layout (found {keys})"
        )
    g_state, g_kernels = _split_kernels(_tensor_dict(g_raw, f"{source}: {network}"))
    if not _is_generator_state(g_state):
        raise unsupported_format_error(source, f"'{network}' is not a rosinality StyleGAN2 generator state dict")

    d_state = d_kernels = None
    if isinstance(obj, dict) and "d" in obj:
        d_state, d_kernels = _split_kernels(_tensor_dict(obj["d"], f"{source}: d"))

    taps: tuple[int, ...] = (1, 3, 3, 1)
    if g_kernels:
        taps = blur_taps_from_filter(next(iter(g_kernels.values())), f"{source}: {next(iter(g_kernels))}")
    _check_kernels(g_kernels, taps, source)
    if d_kernels:
        _check_kernels(d_kernels, taps, source)

    args = obj.get("args") if isinstance(obj, dict) else None
    lr_mlp = 0.01
    if isinstance(args, argparse.Namespace) and isinstance(getattr(args, "lr_mlp", None), (int, float)):
        lr_mlp = float(file_number(args.lr_mlp, f"{source}: args.lr_mlp"))
    config = infer_rosinality_config(g_state, d_state, lr_mlp=lr_mlp, blur_kernel=taps, source=source)

    w_avg, w_avg_source = None, "estimated from 10000 samples"
    latent_avg = obj.get("latent_avg") if isinstance(obj, dict) else None
    if latent_avg is not None:
        w_avg = as_float_tensor(latent_avg, f"{source}: latent_avg").reshape(-1)
        if w_avg.numel() != config.w_dim:
            raise CheckpointError(f"{source}: latent_avg has {w_avg.numel()} values, expected w_dim={config.w_dim}")
        w_avg_source = "latent_avg"
    notes.append("mapping lr multiplier " + (f"{lr_mlp} from args" if lr_mlp != 0.01 else "0.01 (rosinality's)"))
    return ConvertedWeights(
        config=config,
        generator={k: as_float_tensor(v, f"{source}: {k}") for k, v in g_state.items()},
        w_avg=w_avg,
        w_avg_source=w_avg_source,
        discriminator=None
        if d_state is None
        else {k: as_float_tensor(v, f"{source}: d.{k}") for k, v in d_state.items()},
        discriminator_status="converted" if d_state is not None else "absent",
        network=network,
        notes=notes,
    )
