"""What the benchmarks share: ``--device``/``--dtype`` options, timing that waits for the GPU, and
the record of the machine and library versions printed with every result (not a benchmark itself).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from dpinpaint.config import ModelConfig
from dpinpaint.device import resolve_device, resolve_dtype


def add_device_arguments(parser: argparse.ArgumentParser, *, dtype: bool = True) -> None:
    """``--device`` (default cpu, where the recorded CPU figures come from) and ``--dtype``."""
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda, cuda:N, mps or auto")
    if dtype:
        parser.add_argument("--dtype", default="auto", help="auto (float32 on the CPU, bfloat16 on CUDA), float32, "
                            "bfloat16 or float16")  # fmt: skip


def device_and_dtype(args: argparse.Namespace) -> tuple[torch.device, torch.dtype]:
    device = resolve_device(args.device)
    return device, resolve_dtype(getattr(args, "dtype", "float32"), device)


def synchronize(device: torch.device) -> None:
    """Wait for the device's queued work (asynchronous on CUDA), so that timings cover it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def median_seconds(
    fn: Callable[[], object], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> tuple[float, list[float]]:
    """Median wall time of ``fn`` over ``repeats`` runs after ``warmup`` runs, and the runs.

    With a ``device``, each run ends when that device's work has finished.
    """
    dev = device or torch.device("cpu")
    for _ in range(warmup):
        fn()
    synchronize(dev)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        synchronize(dev)
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(device: torch.device, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """The machine and library versions a result was measured with."""
    from dpinpaint import __version__
    from dpinpaint.ops import torchvision_kernels_available

    env: dict[str, Any] = {
        "dpinpaint": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": _version("torchvision"),
        "torchvision_kernels": torchvision_kernels_available(),
        "numpy": _version("numpy"),
        "device": str(device),
        "dtype": None if dtype is None else str(dtype).removeprefix("torch."),
        "cpu": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            gpu=torch.cuda.get_device_name(device),
            gpu_memory_gib=round(props.total_memory / 2**30, 1),
            gpu_multiprocessors=props.multi_processor_count,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            tf32_matmul=torch.backends.cuda.matmul.allow_tf32,
            tf32_cudnn=torch.backends.cudnn.allow_tf32,
        )
    return env


def print_environment(device: torch.device, dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Print :func:`environment` as one JSON line (``env: {...}``) and return it."""
    env = environment(device, dtype)
    print("env: " + json.dumps(env), flush=True)
    return env


def write_training_assets(root: Path, config: ModelConfig, images: int) -> Path | None:
    """Random-weight StyleGAN2 (when ``config`` has the inversion path) and ``images`` random photos under ``root``.

    Returns the StyleGAN2 checkpoint folder (None for a feed-forward-only config); the photos go
    to ``root / "data"``.
    """
    import numpy as np
    from PIL import Image

    from dpinpaint.convert import save_stylegan2_checkpoint
    from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

    r = config.resolution
    torch.manual_seed(0)
    stylegan2 = None
    if config.uses_inversion:
        g = StyleGAN2Generator(config.stylegan)
        g.update_w_avg(num_samples=1000)
        save_stylegan2_checkpoint(root / "sg", g, StyleGAN2Discriminator(config.stylegan))
        stylegan2 = root / "sg"
    (root / "data").mkdir()
    rng = np.random.default_rng(0)
    for i in range(images):
        Image.fromarray(rng.integers(0, 256, (r, r, 3), dtype=np.uint8)).save(root / "data" / f"{i:03d}.png")
    return stylegan2
