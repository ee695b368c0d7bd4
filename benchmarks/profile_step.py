"""``torch.profiler`` summaries of a forward pass and of training steps (not a test: it prints tables).

Where the time goes before anything is optimised (issue 20, item 4): the kernels (by device
time), the host-side operators (by CPU time), the host syncs (``.item()``, ``cudaStreamSynchronize``,
device-to-host copies) per step, and the data loader's share of a training step.

- forward: ``DualPathNet`` of ``--preset`` (random weights) in ``--dtype`` at ``--batch``, under
  ``torch.inference_mode``, ``--steps`` profiled iterations after two warm-ups;
- train: ``Trainer.run`` over ``--steps`` steps of stage ``--stage`` at ``--precision`` and
  ``--train-batch`` after one warm-up step, with its DataLoader (``--workers``) on random images.

Run from the repository root:
    python benchmarks/profile_step.py --device cuda --dtype bfloat16 --batch 32 --what forward train
    python benchmarks/profile_step.py --preset tiny --batch 2 --train-batch 2   # on the CPU
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, print_environment, synchronize, write_training_assets
from bench_forward import make_inputs

from dpinpaint import DualPathNet, get_preset
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer

#: Profiler event names that make the host wait for the device.
SYNC_EVENTS = ("aten::item", "aten::_local_scalar_dense", "cudaStreamSynchronize", "cudaDeviceSynchronize",
               "cudaEventSynchronize", "Memcpy DtoH")  # fmt: skip


def _profile(fn: Any, device: torch.device) -> profile:
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities, record_shapes=False) as prof:
        fn()
        synchronize(device)
    return prof


def _report(title: str, prof: profile, device: torch.device, steps: int, rows: int, seconds: float) -> None:
    events = prof.key_averages()
    print(f"\n=== {title}: {seconds / steps * 1e3:.2f} ms per step (wall, {steps} profiled steps) ===")
    if device.type == "cuda":
        for key in ("device_time_total", "cuda_time_total"):
            try:
                print(f"\n-- by device time (top {rows}) --")
                print(events.table(sort_by=key, row_limit=rows, max_name_column_width=70))
                break
            except (AttributeError, KeyError, ValueError):
                continue
    print(f"\n-- by host (CPU) time (top {rows}) --")
    print(events.table(sort_by="cpu_time_total", row_limit=rows, max_name_column_width=70))
    counts: Counter[str] = Counter()
    for event in prof.events():
        for name in SYNC_EVENTS:
            if name in event.name:
                counts[name] += 1
    print("-- host syncs per step --")
    for name in SYNC_EVENTS:
        print(f"{name:<28}{counts[name] / steps:8.1f}")
    loader = [e for e in events if "DataLoader" in e.key]
    if loader:
        total = sum(e.cpu_time_total for e in loader) / 1e6
        print(
            f"-- data loader: {total / steps * 1e3:.2f} ms per step on the host ({total / seconds:.0%} of the wall time)"
        )


def profile_forward(args: argparse.Namespace, device: torch.device, dtype: torch.dtype) -> None:
    config = get_preset(args.preset)
    net = DualPathNet(config).eval().to(device, dtype)
    image, known = make_inputs(config.resolution, args.batch, device, dtype)

    def run() -> None:
        with torch.inference_mode():
            for _ in range(args.steps):
                net(image, known)

    with torch.inference_mode():
        for _ in range(2):
            net(image, known)
    synchronize(device)
    start = time.perf_counter()
    prof = _profile(run, device)
    seconds = time.perf_counter() - start
    name = str(dtype).removeprefix("torch.")
    _report(f"forward {args.preset} {name} batch {args.batch}", prof, device, args.steps, args.rows, seconds)


def profile_train(args: argparse.Namespace, device: torch.device) -> None:
    config = get_preset(args.preset)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        stylegan2 = write_training_assets(root, config, max(2 * args.train_batch, 8) + 2)
        stage = args.stage if config.uses_inversion else 2
        steps = 1 + args.steps
        tc = TrainConfig(model=config, batch_size=args.train_batch, workers=args.workers, test_count=2,
                         checkpoint_every=10_000, sample_every=10_000, log_every=1, precision=args.precision,
                         stage1_steps=steps if stage == 1 else 0, stage2_steps=steps if stage == 2 else 0)  # fmt: skip
        trainer = Trainer(tc, root / "run", root / "data", stylegan2, progress=False, device=device)
        trainer.run(until=1)  # warm-up
        synchronize(device)
        start = time.perf_counter()
        prof = _profile(lambda: trainer.run(until=steps), device)
        seconds = time.perf_counter() - start
    title = f"training stage {stage} {args.preset} {args.precision} batch {args.train_batch}, {args.workers} workers"
    _report(title, prof, device, args.steps, args.rows, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--what", nargs="+", default=["forward", "train"], choices=["forward", "train"])
    parser.add_argument("--batch", type=int, default=32, help="forward batch (default 32)")
    parser.add_argument("--steps", type=int, default=3, help="profiled steps of each (default 3)")
    parser.add_argument("--train-batch", type=int, default=8, help="training batch (default 8, the paper's)")
    parser.add_argument("--stage", type=int, default=2, choices=[1, 2])
    parser.add_argument("--precision", default="bf16", choices=["fp32", "bf16", "fp16"])
    parser.add_argument("--workers", type=int, default=2, help="DataLoader workers of the training run (default 2)")
    parser.add_argument("--rows", type=int, default=25, help="rows per table (default 25)")
    add_device_arguments(parser)
    args = parser.parse_args()
    device, dtype = device_and_dtype(args)
    print_environment(device, dtype)
    if "forward" in args.what:
        profile_forward(args, device, dtype)
    if "train" in args.what:
        profile_train(args, device)


if __name__ == "__main__":
    main()
