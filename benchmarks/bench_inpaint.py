"""End-to-end benchmark of ``Inpainter`` on ``--device`` in ``--dtype`` (not a test: it prints figures).

Measures, in one run and side by side, on a preset with random weights (speed does not
depend on their values):

- the bare network forward at batch 1 (the floor);
- ``Inpainter.inpaint`` on a synthetic photo (default 1024x768 uint8 with two holes) with
  ``strategy="resize"`` (1 window) and ``"crop"`` (1 window per group of holes), and the
  overhead on top of the forwards it ran (reading, mask scaling, resizing, pasting);
- ``inpaint_batch`` over N such images at ``batch_size`` windows per forward;
- checkpoint size and ``from_pretrained`` time for ``model.safetensors`` and the fp16 variant.

The first line (``env: {...}``) records the device name and the library versions.

Run from the repository root:  python benchmarks/bench_inpaint.py [--preset ffhq-256] [--repeats 5]
    python benchmarks/bench_inpaint.py --device cuda --dtype bfloat16
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from dpinpaint import Inpainter

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, print_environment
from bench_common import median_seconds as _median_and_times


def median_seconds(
    fn: Callable[[], object], repeats: int, warmup: int = 1, device: torch.device | None = None
) -> float:
    return _median_and_times(fn, repeats, warmup, device)[0]


def photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([x * 255 // width, y * 255 // height, (x + y) % 256], -1).astype(np.uint8)
    image = (image // 2 + rng.integers(0, 128, image.shape, dtype=np.uint8)).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    mask[height // 5 : height // 5 + height // 8, width // 4 : width // 4 + width // 10] = 255
    mask[height // 2 : height // 2 + height // 10, width // 2 : width // 2 + width // 6] = 255
    return image, mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--size", default="1024x768", help="WxH of the synthetic photo")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=8, help="images for the inpaint_batch measurement")
    parser.add_argument("--batch-size", type=int, default=8, help="windows per forward of inpaint_batch (default 8)")
    parser.add_argument("--no-checkpoint", action="store_true", help="skip the checkpoint size / loading figures")
    add_device_arguments(parser)
    args = parser.parse_args()
    device, dtype = device_and_dtype(args)
    width, height = (int(v) for v in args.size.split("x"))
    print_environment(device, dtype)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}; photo {width}x{height}")

    inp = Inpainter.from_config(args.preset, seed=0, device=device, dtype=dtype)
    r = inp.resolution
    image, mask = photo(height, width)
    print(f"holes: {(mask > 0).mean():.1%} of the image")

    x = torch.rand(1, 3, r, r) * 2 - 1
    known = torch.ones(1, 1, r, r)
    known[..., r // 4 : r // 2, r // 4 : r // 2] = 0
    x, known = x.to(device, dtype), known.to(device, dtype)
    with torch.inference_mode():
        forward = median_seconds(lambda: inp.model(x, known), args.repeats, device=device)
    print(f"network forward, batch 1:            {forward:7.3f} s")

    for strategy in ("resize", "crop"):
        n = len(inp.inpaint(image, mask, strategy=strategy, return_details=True).windows)
        sec = median_seconds(lambda s=strategy: inp.inpaint(image, mask, strategy=s), args.repeats)
        print(
            f"inpaint strategy={strategy:<6} ({n} window{'s' if n > 1 else ''}): {sec:7.3f} s; "
            f"overhead over {n} forward(s): {sec - n * forward:+.3f} s ({(sec - n * forward) / sec:+.1%})"
        )

    images = [photo(height, width, seed=i)[0] for i in range(args.images)]
    start = time.perf_counter()
    for _ in inp.inpaint_batch(images, mask, batch_size=args.batch_size, progress=False, strategy="crop"):
        pass
    total = time.perf_counter() - start
    print(
        f"inpaint_batch, {args.images} images, crop, batch_size {args.batch_size}: {total:.2f} s = "
        f"{total / args.images:.3f} s/image"
    )

    if args.no_checkpoint:
        return
    with tempfile.TemporaryDirectory() as tmp:
        for variant in (None, "fp16"):
            folder = Path(tmp) / str(variant)
            inp.save_pretrained(folder, variant=variant)
            size = sum(p.stat().st_size for p in folder.iterdir())
            sec = median_seconds(
                lambda f=folder, v=variant: Inpainter.from_pretrained(f, variant=v, device=device, dtype=dtype),
                max(1, args.repeats // 2),
            )
            print(f"checkpoint variant={variant!s:<5}: {size / 1e6:7.1f} MB, from_pretrained {sec:.3f} s")


if __name__ == "__main__":
    main()
