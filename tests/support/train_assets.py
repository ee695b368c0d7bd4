"""What the training tests train on: a tiny StyleGAN2 checkpoint and a folder of patterned images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dpinpaint import get_preset
from dpinpaint.convert import save_stylegan2_checkpoint
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator


def write_train_assets(root: Path, images: int) -> dict[str, Path]:
    """``root/stylegan2`` (the ``tiny`` preset's G and D, seed 0, ``w_avg`` from 500 samples) and
    ``root/data`` with ``images`` 96x80 PNGs of shifted stripes; returns both paths."""
    tiny = get_preset("tiny")
    torch.manual_seed(0)
    g = StyleGAN2Generator(tiny.stylegan)
    g.update_w_avg(num_samples=500)
    save_stylegan2_checkpoint(root / "stylegan2", g, StyleGAN2Discriminator(tiny.stylegan))
    (root / "data").mkdir()
    y, x = np.mgrid[0:80, 0:96]
    for i in range(images):
        img = np.stack([(x * 3 + i * 20) % 256, (y * 3) % 256, ((x + y) * 2 + i * 7) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(root / "data" / f"{i:03d}.png")
    return {"stylegan2": root / "stylegan2", "data": root / "data"}
