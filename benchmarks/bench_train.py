"""Seconds per training step of each stage on this machine (not a test).

Builds a model preset with random weights and a random StyleGAN2 of its configuration (speed
does not depend on the values), writes ``--images`` random images, and times
``Trainer.run(until=...)`` over ``--steps`` steps of each stage after one warm-up step.

Run from the repository root:  python benchmarks/bench_train.py [--preset ffhq-256] [--batch-size 8]
Results are recorded in docs/training.md.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dpinpaint import get_preset
from dpinpaint.convert import save_stylegan2_checkpoint
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--images", type=int, default=20)
    args = parser.parse_args()
    config = get_preset(args.preset)
    r = config.resolution
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        torch.manual_seed(0)
        g = StyleGAN2Generator(config.stylegan)
        g.update_w_avg(num_samples=1000)
        save_stylegan2_checkpoint(root / "sg", g, StyleGAN2Discriminator(config.stylegan))
        (root / "data").mkdir()
        rng = np.random.default_rng(0)
        for i in range(args.images):
            Image.fromarray(rng.integers(0, 256, (r, r, 3), dtype=np.uint8)).save(root / "data" / f"{i:03d}.png")
        for stage in (1, 2):
            steps = {
                "stage1_steps": 1 + args.steps if stage == 1 else 0,
                "stage2_steps": 1 + args.steps if stage == 2 else 0,
            }
            tc = TrainConfig(model=config, batch_size=args.batch_size, workers=0, test_count=2, checkpoint_every=10_000,
                             sample_every=10_000, log_every=1, **steps)  # fmt: skip
            trainer = Trainer(tc, root / f"run{stage}", root / "data", root / "sg", progress=False)
            trainer.run(until=1)  # warm-up
            start = time.perf_counter()
            trainer.run(until=1 + args.steps)
            sec = (time.perf_counter() - start) / args.steps
            print(
                f"stage {stage}: {sec:.2f} s per step at batch {args.batch_size} ({args.batch_size / sec:.2f} images/s)"
            )


if __name__ == "__main__":
    main()
