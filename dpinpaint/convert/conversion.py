"""Convert a StyleGAN2 into a checkpoint folder with a verification grid: :func:`convert_stylegan2`.

What ``dpinpaint convert stylegan2`` runs: :func:`~.load.load_stylegan2`, then
:func:`~.stylegan2_folder.save_stylegan2_checkpoint` and :func:`render_sample_grid`; the
:class:`ConversionReport` says what was found and written.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import InvalidInputError
from ..models.stylegan2 import StyleGAN2Generator
from .load import load_stylegan2
from .stylegan2_folder import ConversionInfo, save_stylegan2_checkpoint

__all__ = ["ConversionReport", "convert_stylegan2", "render_sample_grid", "sample_seeds"]


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
