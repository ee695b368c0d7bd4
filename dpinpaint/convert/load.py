"""Read a StyleGAN2 in any accepted format: :func:`load_stylegan2`.

The format is detected from the file (:func:`~.safe_pickle.detect_container`), pickles are read by
the restricted unpickler of :mod:`.safe_pickle`, and the weights go through the converter of their
format (:mod:`.rosinality`, :mod:`.nvidia_pytorch`, :mod:`.nvidia_tf`) into this package's
networks; a folder written by :func:`~.stylegan2_folder.save_stylegan2_checkpoint` is read back
directly.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

import torch
from torch import nn

from ..checkpoint import load_state_dict_strict
from ..errors import CheckpointError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from .file_faults import describe
from .nvidia_pytorch import convert_nvidia_pytorch, is_nvidia_pytorch_pickle
from .nvidia_tf import convert_nvidia_tf, is_nvidia_tf_pickle
from .rosinality import convert_rosinality
from .safe_pickle import detect_container, load_pickle, load_torch_file, unsupported_format_error
from .stylegan2_folder import ConversionInfo, is_stylegan2_checkpoint, load_stylegan2_checkpoint
from .weights import ConvertedWeights

__all__ = ["load_stylegan2", "count_parameters", "W_AVG_SAMPLES"]

logger = logging.getLogger(__name__)

#: Samples used to estimate ``w_avg`` when a file does not store it.
W_AVG_SAMPLES = 10_000


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (buffers such as noise maps and ``w_avg`` excluded)."""
    return sum(p.numel() for p in module.parameters())


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_weights(path: Path, with_discriminator: bool) -> tuple[str, ConvertedWeights]:
    container = detect_container(path)
    source = str(path)
    if container == "folder":
        raise unsupported_format_error(
            path, 'this folder\'s config.json is not a converted StyleGAN2 checkpoint (it has no "kind": "stylegan2")'
        )
    if container in ("torch-zip", "torch-legacy"):
        return "rosinality", convert_rosinality(load_torch_file(path), source)
    data = load_pickle(path)
    if is_nvidia_pytorch_pickle(data):
        return "nvidia-pytorch", convert_nvidia_pytorch(data, source, with_discriminator)
    if is_nvidia_tf_pickle(data):
        return "nvidia-tf", convert_nvidia_tf(data, source, with_discriminator)
    what = (
        f"a dict with keys {sorted(map(describe, data))[:10]}" if isinstance(data, dict) else f"a {type(data).__name__}"
    )
    raise unsupported_format_error(path, f"this pickle holds {what}, not NVIDIA StyleGAN2 networks")


def check_finite(state: dict[str, torch.Tensor], source: str) -> None:
    """Raise :class:`CheckpointError` if a floating-point tensor of ``state`` holds NaN or infinity
    (a StyleGAN2 never does; such a file, e.g. with a NaN ``latent_avg``, would make NaN images)."""
    for key, value in state.items():
        if isinstance(value, torch.Tensor) and value.is_floating_point() and not torch.isfinite(value).all():
            raise CheckpointError(f"{source}: {key!r} holds NaN or infinite values; the file is corrupted")


def load_stylegan2(
    path: str | os.PathLike[str], *, device: str | torch.device = "cpu", with_discriminator: bool = True
) -> tuple[StyleGAN2Generator, StyleGAN2Discriminator | None, ConversionInfo]:
    """Load a pretrained StyleGAN2 from any accepted format (see :data:`ACCEPTED_FORMATS`).

    Args:
        path: a rosinality ``.pt``, an NVIDIA ``.pkl`` (PyTorch or TensorFlow), or a folder
            written by :func:`save_stylegan2_checkpoint`.
        device: where to put the networks.
        with_discriminator: also convert the discriminator when the file has one.

    Returns:
        ``(generator, discriminator or None, info)``; both networks in eval mode. The
        architecture (resolution, widths, mapping depth, ``w_dim``, lr multiplier, blur
        kernel, minibatch-stddev group) is inferred from the file, never assumed.

    Raises:
        UnsupportedFormatError: the file is in none of the accepted formats (the message lists them).
        UnsafeCheckpointError: a pickle refers to anything outside the allow-list (nothing was executed).
        CheckpointError: the file is truncated, corrupted, or its network is not a supported StyleGAN2.
    """
    path = Path(path)
    if path.is_dir() and is_stylegan2_checkpoint(path):
        generator, discriminator, info = load_stylegan2_checkpoint(
            path, device=device, with_discriminator=with_discriminator
        )
        info.parameters = _param_counts(generator, discriminator)
        return generator, discriminator, info
    start = time.perf_counter()
    fmt, weights = _read_weights(path, with_discriminator)
    config = weights.config
    generator = StyleGAN2Generator(config)
    state = dict(weights.generator)
    state["w_avg"] = weights.w_avg if weights.w_avg is not None else torch.zeros(config.w_dim)
    check_finite(state, f"{path} ({fmt} generator '{weights.network}')")
    if weights.discriminator is not None and with_discriminator:
        check_finite(weights.discriminator, f"{path} ({fmt} discriminator)")
    load_state_dict_strict(generator, state, source=f"{path} ({fmt} generator '{weights.network}')")
    if weights.w_avg is None:
        generator.update_w_avg(W_AVG_SAMPLES, seed=0)
    discriminator = None
    d_status = weights.discriminator_status
    if weights.discriminator is not None and with_discriminator:
        discriminator = StyleGAN2Discriminator(config)
        try:
            load_state_dict_strict(discriminator, weights.discriminator, source=f"{path} ({fmt} discriminator)")
        except CheckpointError as exc:
            discriminator, d_status = None, f"skipped: {exc}"
            logger.warning("%s", d_status)
    elif weights.discriminator is not None:
        d_status = "not requested"
    info = ConversionInfo(
        format=fmt,
        file=path.name,
        sha256=_sha256(path),
        config=config,
        network=weights.network,
        w_avg_source=weights.w_avg_source,
        discriminator=d_status,
        notes=list(weights.notes),
        parameters=_param_counts(generator, discriminator),
    )
    logger.info("loaded %s StyleGAN2 %s from %s in %.2fs", fmt, weights.network, path, time.perf_counter() - start)
    generator = generator.to(device).eval()
    return generator, (discriminator.to(device).eval() if discriminator is not None else None), info


def _param_counts(generator: nn.Module, discriminator: nn.Module | None) -> dict[str, int]:
    counts = {"generator": count_parameters(generator)}
    if discriminator is not None:
        counts["discriminator"] = count_parameters(discriminator)
    return counts
