"""Seconds per image of the three inversion strategies (the paper's Table 3) on ``--device`` (not a test).

In one run, on a preset with random weights (speed does not depend on their values), a
256x256 image with a centred hole through ``Inpainter.inpaint``:

- ``learned``: the whole inpaint (encoder + G_s + feed-forward path), median of ``--repeats``;
- ``optimize`` / ``hybrid`` with ``--steps`` Adam steps (default 10), measured in full; the cost
  per step is the median time of the search alone (``optimize_latent``) divided by the steps,
  and the 1,000-step cost of the paper is extrapolated from it (printed as such);
- a G_s forward and a G_s forward + backward alone, to show that a step costs no more than one
  generator forward + backward.

The paper reports 0.093 s (learned) vs 45 s (optimisation, 1,000 steps) per frame on a TITAN
RTX: a ratio of about 484.

The first line (``env: {...}``) records the device name and the library versions.

Run from the repository root:  python benchmarks/bench_inversion.py [--preset ffhq-256] [--steps 10]
    python benchmarks/bench_inversion.py --device cuda --dtype bfloat16 --steps 50
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from dpinpaint import Inpainter
from dpinpaint.inversion import InversionConfig, initial_latent, optimize_latent

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, median_seconds, print_environment

PAPER_LEARNED, PAPER_OPTIMIZE, PAPER_STEPS = 0.093, 45.0, 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="ffhq-256")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    add_device_arguments(parser)
    args = parser.parse_args()
    device, dtype = device_and_dtype(args)
    print_environment(device, dtype)
    inp = Inpainter.from_config(args.preset, seed=0, device=device, dtype=dtype)
    r = inp.resolution
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (r, r, 3), dtype=np.uint8)
    mask = np.zeros((r, r), np.uint8)
    mask[r // 4 : 3 * r // 4, r // 4 : 3 * r // 4] = 255
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; preset {args.preset}; {args.steps} steps")

    g = inp.model.stylegan
    w = g.w_avg.expand(1, g.n_latent, -1).clone()
    with torch.inference_mode():
        fwd, _ = median_seconds(lambda: g.synthesis(w), args.repeats, device=device)
    w.requires_grad_(True)

    def forward_backward() -> None:
        img, _ = g.synthesis(w)
        img.abs().mean().backward()

    fwd_bwd, _ = median_seconds(forward_backward, args.repeats, device=device)
    print(f"G_s forward {fwd:.3f} s; forward + backward {fwd_bwd:.3f} s")

    learned, _ = median_seconds(lambda: inp.inpaint(image, mask), args.repeats, device=device)
    print(f"learned : {learned:8.3f} s per image")
    x = (torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1).to(device, dtype)
    known = torch.from_numpy(mask == 0).float()[None, None].to(device, dtype)
    for method in ("optimize", "hybrid"):
        config = InversionConfig(method, steps=args.steps)  # type: ignore[arg-type]
        with torch.inference_mode():
            init = initial_latent(inp.model, x * known, known, method)
        search, _ = median_seconds(
            lambda c=config, i=init: optimize_latent(inp.model, x, known, i, c),
            max(1, args.repeats // 2),
            device=device,
        )
        per_step = search / args.steps
        start = time.perf_counter()
        inp.inpaint(image, mask, inversion=method, steps=args.steps, progress=False)
        total = time.perf_counter() - start
        full = total + (PAPER_STEPS - args.steps) * per_step
        print(
            f"{method:<8}: {total:8.3f} s per image with {args.steps} steps; {per_step:.3f} s per step "
            f"({per_step / fwd_bwd:.2f}x a G_s forward+backward); {PAPER_STEPS} steps -> {full:7.1f} s "
            f"(extrapolated), {full / learned:6.1f}x learned"
        )
    print(
        f"paper (TITAN RTX): learned {PAPER_LEARNED} s, optimisation {PAPER_OPTIMIZE} s: "
        f"{PAPER_OPTIMIZE / PAPER_LEARNED:.0f}x"
    )


if __name__ == "__main__":
    main()
