"""What Poisson blending (``blend="poisson"``, the default) costs on top of the plain composite.

Measures, in one run and side by side, the bundled ``demo`` model's ``inpaint`` with
``blend="poisson"`` and ``blend="none"`` on a synthetic photo with the evaluation's masks
(:mod:`dpinpaint.eval_masks`): irregular holes of 10-20% and 40-50% at long side 768, 1920 and
4000 (thick holes: the window runs at ``native_max_side``, 128 px for ``demo``, so the blend runs
twice, there and again at the photo's own size on at most ``BLEND_MAX_HOLES`` hole pixels), a thin scratch at
800x600 and at 1920x1080, and text strokes at 1920x1080 (thin holes: run at up to full
resolution by ``thin_side``; blended twice too when their window runs below it). The solver's time depends on the holes' shape and size,
not on the photo's content. The smooth fill of flat surroundings (``flat_contrast``, on by
default) adds a second solve, done with the first, when the photo around a hole is flat
somewhere; the synthetic photo is noisy everywhere, so the last two columns run a smooth one
(colour ramps, the worst case) with ``flat_contrast`` 0 and at its default.
Medians of ``--repeats`` runs, after one warm-up.

Run from the repository root:  python benchmarks/bench_blend.py [--repeats 5] [--threads 2]
    python benchmarks/bench_blend.py --device cuda --dtype bfloat16   (each run ends when the GPU has)
Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import functools
import sys
from pathlib import Path

import numpy as np
import torch

from dpinpaint import Inpainter
from dpinpaint.eval_masks import group_mask, scratch_mask, text_mask

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_common import add_device_arguments, device_and_dtype, median_seconds, print_environment
from bench_inpaint import photo


def _thick(height: int, width: int) -> np.ndarray:
    return group_mask(height, width, "irregular", (0.4, 0.5), seed=0, index=1)


CASES = (
    ("irregular 10-20%, 768x576", (576, 768), lambda h, w: group_mask(h, w, "irregular", (0.1, 0.2), seed=0, index=1)),
    ("irregular 40-50%, 768x576", (576, 768), lambda h, w: group_mask(h, w, "irregular", (0.4, 0.5), seed=0, index=1)),
    ("irregular 40-50%, 1920x1080", (1080, 1920), lambda h, w: _thick(h, w)),
    ("irregular 40-50%, 4000x3000", (3000, 4000), lambda h, w: _thick(h, w)),
    ("scratch, 800x600", (600, 800), lambda h, w: scratch_mask(h, w, seed=0, index=1)),
    ("scratch, 1920x1080", (1080, 1920), lambda h, w: scratch_mask(h, w, seed=0, index=1)),
    ("text, 1920x1080", (1080, 1920), lambda h, w: text_mask(h, w, seed=0, index=1)),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (default 2)")
    add_device_arguments(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device, dtype = device_and_dtype(args)
    print_environment(device, dtype)
    inp = Inpainter.from_pretrained("demo", device=device, dtype=dtype)
    print(
        "| case | hole | blend none | blend poisson | blend's share | smooth photo, flat_contrast 0 | smooth, default |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, (height, width), make_mask in CASES:
        image, _ = photo(height, width)
        rows, cols = np.mgrid[0:height, 0:width]
        smooth = np.stack([cols * 255 // width, rows * 255 // height, np.full_like(rows, 128)], -1).astype(np.uint8)
        mask = make_mask(height, width)
        times = {}
        runs = (
            ("none", image, {"blend": "none"}),
            ("poisson", image, {}),
            ("plain", smooth, {"flat_contrast": 0.0}),
            ("flat", smooth, {}),
        )
        for key, picture, settings in runs:
            run = functools.partial(inp.inpaint, picture, mask, progress=False, **settings)
            times[key] = median_seconds(run, args.repeats, device=device)[0]
        extra = times["poisson"] - times["none"]
        print(
            f"| {name} | {mask.mean():.1%} | {times['none'] * 1000:.0f} ms | {times['poisson'] * 1000:.0f} ms "
            f"| {extra * 1000:+.0f} ms ({extra / times['poisson']:.0%}) | {times['plain'] * 1000:.0f} ms "
            f"| {times['flat'] * 1000:.0f} ms |"
        )


if __name__ == "__main__":
    main()
