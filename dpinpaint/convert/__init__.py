"""Import pretrained StyleGAN2 checkpoints, safely.

:func:`load_stylegan2` reads

- rosinality/stylegan2-pytorch ``.pt`` checkpoints (``torch.load(weights_only=True)``
  plus ``argparse.Namespace`` for that call only),
- NVIDIA stylegan2-ada-pytorch / stylegan3 network pickles (StyleGAN2 architecture),
- NVIDIA's TensorFlow StyleGAN2 pickles (no TensorFlow needed),
- a folder written by :func:`save_stylegan2_checkpoint` / ``dpinpaint convert``,

and returns this package's :class:`~dpinpaint.models.stylegan2.StyleGAN2Generator` (and
discriminator), with the architecture inferred from the tensors. Pickles are read by a
restricted unpickler (:mod:`.safe_pickle`): nothing from a file is imported or executed.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..checkpoint import load_state_dict_strict
from ..errors import CheckpointError, InvalidInputError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from .checkpoint import (
    STYLEGAN2_CONFIG_NAME,
    STYLEGAN2_WEIGHTS_NAME,
    ConversionInfo,
    ConvertedWeights,
    is_stylegan2_checkpoint,
    load_stylegan2_checkpoint,
    save_stylegan2_checkpoint,
)
from .nvidia_pytorch import convert_nvidia_pytorch, is_nvidia_pytorch_pickle
from .nvidia_tf import convert_nvidia_tf, is_nvidia_tf_pickle
from .rosinality import convert_rosinality
from .safe_pickle import ACCEPTED_FORMATS, detect_container, load_pickle, load_torch_file, unsupported_format_error

__all__ = [
    "ACCEPTED_FORMATS",
    "ConversionInfo",
    "ConversionReport",
    "load_stylegan2",
    "convert_stylegan2",
    "save_stylegan2_checkpoint",
    "load_stylegan2_checkpoint",
    "is_stylegan2_checkpoint",
    "render_sample_grid",
    "count_parameters",
    "STYLEGAN2_CONFIG_NAME",
    "STYLEGAN2_WEIGHTS_NAME",
]

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
    what = f"a dict with keys {sorted(map(str, data))[:10]}" if isinstance(data, dict) else f"a {type(data).__name__}"
    raise unsupported_format_error(path, f"this pickle holds {what}, not NVIDIA StyleGAN2 networks")


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


def sample_seeds(start: int, count: int) -> list[int]:
    """``count`` consecutive seeds from ``start``."""
    return list(range(start, start + count))


@torch.no_grad()
def render_sample_grid(
    generator: StyleGAN2Generator,
    seeds: Sequence[int],
    path: str | os.PathLike[str],
    truncation_psi: float = 0.7,
    noise_mode: str = "const",
    columns: int | None = None,
) -> Path:
    """Render one image per seed and write them as a PNG grid.

    Each seed ``s`` draws ``z = randn(1, z_dim)`` from ``torch.Generator().manual_seed(s)``
    (so a grid is reproducible on any machine); images are mapped from [-1, 1] to [0, 255].

    Args:
        columns: images per row (default ``ceil(sqrt(len(seeds)))``).

    Returns:
        The PNG written.
    """
    from PIL import Image

    if not seeds:
        raise InvalidInputError("render_sample_grid needs at least one seed")
    if noise_mode not in ("const", "random", "none"):
        raise InvalidInputError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
    device = generator.w_avg.device
    z = torch.cat(
        [torch.randn(1, generator.config.z_dim, generator=torch.Generator().manual_seed(int(s))) for s in seeds]
    )
    images = []
    for chunk in z.split(4):
        w = generator.mapping(chunk.to(device), truncation_psi)
        images.append(generator.synthesis(w.unsqueeze(1).expand(-1, generator.n_latent, -1), noise_mode)[0])  # type: ignore[arg-type]
    img = torch.cat(images).float().cpu()
    n, _, h, w_ = img.shape
    cols = columns or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = torch.zeros(3, rows * h, cols * w_)
    for i in range(n):
        r, c = divmod(i, cols)
        grid[:, r * h : (r + 1) * h, c * w_ : (c + 1) * w_] = img[i]
    pixels = ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


@dataclass
class ConversionReport:
    """What :func:`convert_stylegan2` did."""

    info: ConversionInfo
    output: Path
    samples: Path | None
    seeds: list[int] = field(default_factory=list)
    truncation_psi: float = 0.7
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.info.to_dict(),
            "output": str(self.output),
            "samples": str(self.samples) if self.samples else None,
            "seeds": self.seeds,
            "truncation_psi": self.truncation_psi,
            "seconds": round(self.seconds, 3),
        }

    def format(self) -> str:
        """A human-readable summary (architecture, parameter counts, files)."""
        cfg = self.info.config
        widths = ", ".join(f"{r}:{c}" for r, c in zip(cfg.resolutions, cfg.channels))
        lines = [
            f"source        {self.info.file} ({self.info.format}, network {self.info.network})",
            f"sha256        {self.info.sha256}",
            f"resolution    {cfg.resolution}x{cfg.resolution}",
            f"widths        {widths}",
            f"mapping       {cfg.n_mlp} layers, z_dim {cfg.z_dim}, w_dim {cfg.w_dim}, lr multiplier {cfg.lr_mlp}",
            f"blur kernel   {list(cfg.blur_kernel)}",
            f"mbstd         group {cfg.mbstd_group}, features {cfg.mbstd_features}",
            f"w_avg         {self.info.w_avg_source}",
            f"discriminator {self.info.discriminator}",
        ]
        lines += [f"parameters    {name}: {n:,}" for name, n in self.info.parameters.items()]
        lines += [f"note          {note}" for note in self.info.notes]
        lines.append(f"written       {self.output}")
        if self.samples is not None:
            lines.append(f"samples       {self.samples} (seeds {self.seeds}, truncation {self.truncation_psi})")
        return "\n".join(lines)


def convert_stylegan2(
    src: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    samples: int = 8,
    seed: int = 0,
    truncation_psi: float = 0.7,
    with_discriminator: bool = True,
) -> ConversionReport:
    """Convert ``src`` into a checkpoint folder ``output`` and render a verification grid.

    Writes ``output/config.json``, ``output/stylegan2.safetensors`` and (``samples > 0``)
    ``output/samples.png`` rendered from seeds ``seed .. seed + samples - 1``.
    """
    if samples < 0:
        raise InvalidInputError(f"samples must be >= 0, got {samples}")
    start = time.perf_counter()
    generator, discriminator, info = load_stylegan2(src, with_discriminator=with_discriminator)
    out = Path(output)
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--output {out} exists and is not a folder")
    save_stylegan2_checkpoint(out, generator, discriminator, info=info)
    seeds = sample_seeds(seed, samples)
    grid = render_sample_grid(generator, seeds, out / "samples.png", truncation_psi) if samples else None
    return ConversionReport(info, out, grid, seeds, truncation_psi, time.perf_counter() - start)
