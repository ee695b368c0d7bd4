"""``dpinpaint evaluate``: Table 1's metrics for a model and classical baselines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..options import DEFAULT_OPTIONS, STRATEGIES
from .common import (
    add_inversion_arguments,
    add_native_arguments,
    inpaint_options,
    non_negative_int,
    positive_int,
)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate import evaluate
    from ..masks import HOLE_GROUPS, parse_groups

    result = evaluate(
        args.output,
        args.data,
        model=args.model if args.model or args.baseline else "demo",
        revision=args.revision,
        masks=args.masks,
        groups=parse_groups(args.groups) if args.groups else HOLE_GROUPS,
        num=args.num,
        seed=args.seed,
        baselines=args.baseline or [],
        options=inpaint_options(args, exclude=("seed",)),
        size=args.size,
        long_side=args.long_side,
        worst=args.worst,
        compute_fid=not args.no_fid,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if not args.quiet:
        print((Path(args.output) / "report.md").read_text(encoding="utf-8"))
    return 0 if result.scores else 1


def long_side(text: str) -> int | str:
    if text == "native":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels or 'native', got {text!r}")
    return value


def add_evaluate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from ..options import BASELINES, EVAL_MASK_KINDS

    p = sub.add_parser(
        "evaluate",
        help="metrics like the paper's Table 1 for a model and classical baselines",
        description="Inpaint a folder of ground-truth images with seeded masks per hole-ratio group and write "
        "report.md / report.csv / report.json and the worst images to OUTPUT: relative l1, SSIM, PSNR, hole PSNR, "
        "FID and time per image, per group and on average, one block per method.",
    )
    p.add_argument(
        "--model",
        help="model name, org/repo[@revision] or checkpoint folder (default: demo, unless only --baseline is given)",
    )
    p.add_argument("--revision", help="Hub revision")
    p.add_argument("--data", required=True, help="folder of ground-truth images (recursive)")
    p.add_argument("--output", "-o", required=True, help="report folder")
    p.add_argument(
        "--masks",
        "--mask-kind",
        default="irregular",
        help=f"{', '.join(EVAL_MASK_KINDS)} (thin scratches ~1%%, text strokes 6-9%%: one column), or a folder of "
        "masks (default: irregular)",
    )
    p.add_argument("--groups", help="hole-ratio groups in percent, e.g. 0-10,10-20 (default: Table 1's six)")
    p.add_argument("--num", type=positive_int, default=100, help="images used (the first N; default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated masks (default 0)")
    p.add_argument(
        "--baseline",
        action="append",
        choices=list(BASELINES),
        help="add a classical baseline (repeatable); skimage-biharmonic needs scikit-image",
    )
    add_inversion_arguments(p)
    p.add_argument(
        "--size", type=positive_int, help="square protocol: resolution (default: the model's, 256 without a model)"
    )
    p.add_argument(
        "--long-side",
        type=long_side,
        help="score the photos as users meet them instead of square crops: scaled to this long side in pixels "
        "(never enlarged), or 'native' for their own size",
    )
    p.add_argument(
        "--strategy",
        default=DEFAULT_OPTIONS.strategy,
        choices=list(STRATEGIES),
        help=f"the model's strategy (default {DEFAULT_OPTIONS.strategy})",
    )
    add_native_arguments(p)
    p.add_argument("--worst", type=non_negative_int, default=8, help="worst images saved per method (default 8)")
    p.add_argument("--no-fid", action="store_true", help="skip FID (it needs the eval extra and time)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the report")
    p.set_defaults(func=cmd_evaluate)
