"""Folder throughput of ``dpinpaint inpaint`` with and without background workers (not a test).

Writes a folder of synthetic photos (JPEG, default 1024x768) with PNG masks, saves a model
with random weights (speed does not depend on their values), then runs the real command
(``dpinpaint.cli.main``, in-process, so interpreter start-up is not counted) with
``--workers 0`` and ``--workers N`` (default 2) alternately, and prints the median images/s of each.

The first line (``env: {...}``) records the device name and the library versions.

Run from the repository root:
    python benchmarks/bench_cli.py [--preset tiny] [--images 48] [--repeats 3]
    python benchmarks/bench_cli.py --preset ffhq-256 --device cuda --dtype bfloat16 --images 64
    python benchmarks/bench_cli.py --preset ffhq-256 --images 8 --repeats 2
    python benchmarks/bench_cli.py --torch-threads 1 --workers 1   # a core left free for the workers
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dpinpaint import Inpainter
from dpinpaint.cli import main as cli_main

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, print_environment


def write_folder(folder: Path, count: int, width: int, height: int) -> None:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8)
    for i in range(count):
        noise = rng.integers(0, 64, base.shape, dtype=np.uint8)
        Image.fromarray(base // 2 + noise).save(folder / f"photo{i:04d}.jpg", quality=90)
        mask = np.zeros((height, width), np.uint8)
        top, left = int(rng.integers(0, height - height // 6)), int(rng.integers(0, width - width // 6))
        mask[top : top + height // 8, left : left + width // 8] = 255
        Image.fromarray(mask).save(folder / f"photo{i:04d}_mask.png")


def run(folder: Path, model: Path, out: Path, workers: int, device: str = "cpu", dtype: str = "auto") -> float:
    shutil.rmtree(out, ignore_errors=True)
    argv = [str(folder), "--mask", str(folder), "--output", str(out), "--model", str(model)]
    argv += ["--workers", str(workers), "--device", device, "--dtype", dtype, "--quiet"]
    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()):
        status = cli_main(["inpaint", *argv])
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"dpinpaint inpaint failed with status {status}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--images", type=int, default=48)
    parser.add_argument("--size", default="1024x768", help="WxH of the photos")
    parser.add_argument("--workers", type=int, default=2, help="the --workers compared with 0 (default 2)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--torch-threads", type=int, help="torch intra-op threads (default: torch's choice)")
    add_device_arguments(parser)
    args = parser.parse_args()
    device, dtype = device_and_dtype(args)
    print_environment(device, dtype)
    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    width, height = (int(v) for v in args.size.split("x"))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "in").mkdir()
        write_folder(root / "in", args.images, width, height)
        Inpainter.from_config(args.preset, seed=0).save_pretrained(root / "model")
        on = (str(device), str(dtype).removeprefix("torch."))
        run(root / "in", root / "model", root / "out", 0, *on)  # warm-up: caches, lazy imports
        times: dict[int, list[float]] = {0: [], args.workers: []}
        for _ in range(args.repeats):
            for workers in times:
                times[workers].append(run(root / "in", root / "model", root / "out", workers, *on))
    print(f"{args.images} photos {width}x{height} JPEG + PNG masks, default strategy/batch size")
    for workers, values in times.items():
        median = statistics.median(values)
        print(
            f"--workers {workers}: {median:7.2f} s per folder (median of {len(values)}), "
            f"{args.images / median:6.2f} images/s"
        )
    ratio = statistics.median(times[0]) / statistics.median(times[args.workers])
    print(f"speed-up of --workers {args.workers} over --workers 0: {ratio:.2f}x")


if __name__ == "__main__":
    main()
