"""Seconds per training step of each stage on ``--device`` (not a test).

Builds a model preset with random weights and a random StyleGAN2 of its configuration (speed
does not depend on the values), writes ``--images`` random images, and times
``Trainer.run(until=...)`` over ``--steps`` steps of each stage after one warm-up step, for
each ``--precision`` in turn, ``--repeats`` times alternately; it prints the medians.
Feed-forward-only presets (``demo``) have stage 2 only.

The first line (``env: {...}``) records the device name and the library versions. On CUDA the
time of each run ends when the GPU has finished its work.

Run from the repository root:
    python benchmarks/bench_train.py [--preset ffhq-256] [--batch-size 8]
    python benchmarks/bench_train.py --device cuda --precision fp32 bf16 fp16 --steps 10
    python benchmarks/bench_train.py --preset demo --steps 10 --repeats 3 --precision fp32 bf16
Results are recorded in docs/training.md and docs/performance.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from dpinpaint import get_preset
from dpinpaint.device import resolve_device
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, print_environment, synchronize, write_training_assets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--images", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers (default 0)")
    add_device_arguments(parser, dtype=False)  # the weights stay float32; --precision picks autocast
    args = parser.parse_args()
    device = resolve_device(args.device)
    print_environment(device)
    config = get_preset(args.preset)
    stages = (1, 2) if config.uses_inversion else (2,)
    times: dict[tuple[int, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stylegan2 = write_training_assets(root, config, args.images)
        for repeat in range(args.repeats):
            for precision in args.precision:
                for stage in stages:
                    steps = {
                        "stage1_steps": 1 + args.steps if stage == 1 else 0,
                        "stage2_steps": 1 + args.steps if stage == 2 else 0,
                    }
                    tc = TrainConfig(model=config, batch_size=args.batch_size, workers=args.workers, test_count=2,
                                     checkpoint_every=10_000, sample_every=10_000, log_every=1,
                                     precision=precision, **steps)  # fmt: skip
                    run = root / f"run-{stage}-{precision}-{repeat}"
                    trainer = Trainer(tc, run, root / "data", stylegan2, progress=False, device=device)
                    trainer.run(until=1)  # warm-up
                    synchronize(device)
                    start = time.perf_counter()
                    trainer.run(until=1 + args.steps)
                    synchronize(device)
                    times.setdefault((stage, precision), []).append((time.perf_counter() - start) / args.steps)
    for (stage, precision), secs in times.items():
        sec = statistics.median(secs)
        print(
            f"stage {stage} {precision} on {device}: {sec:.3f} s per step at batch {args.batch_size} "
            f"({args.batch_size / sec:.2f} images/s, median of {len(secs)})"
        )


if __name__ == "__main__":
    main()
