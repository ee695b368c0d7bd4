"""``dpinpaint inpaint`` and ``dpinpaint explain``: files in, results out."""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

from ..errors import DPInpaintWarning, InvalidInputError
from .common import (
    add_model_arguments,
    load_inpainter,
    log,
    model_label,
    non_negative_int,
    positive_int,
    warn_unused_seed,
)


def cmd_inpaint(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..batch import BatchRunner, Record, Summary, parse_shard, plan_outputs

    # 1. What to read and write (no model needed): images, masks, shard, outputs that exist.
    plan = plan_outputs(
        args.inputs,
        args.mask,
        args.output,
        fmt=args.format,
        mask_suffix=args.mask_suffix,
        recursive=args.recursive,
        shard=parse_shard(args.shard) if args.shard else (0, 1),
        existing="skip" if args.skip_existing else "overwrite" if args.overwrite else "error",
        on_skip=lambda path, why: log(args, f"warning: skipped {path}: {why}"),
    )
    if not plan.pairs:  # a shard of a job array that got no image: nothing to do, and no error
        log(args, f"shard {args.shard} holds none of the images: nothing to do")
        return 0
    removed = plan.remove_stale_temporaries()
    if removed:
        log(args, f"removed {removed} temporary file(s) left by an interrupted run")
    # 2. The model and the options.
    inp, options = load_inpainter(args)
    warn_unused_seed(args, inp)
    runner = BatchRunner(
        inp,
        options,
        batch_size=args.batch_size,
        workers=default_workers() if args.workers is None else args.workers,
        quality=args.quality,
    )
    # 3. Run, reporting each image as it completes.
    show = not args.quiet and (args.progress or sys.stderr.isatty())
    summary = Summary()
    with tqdm(total=len(plan.pairs), disable=not show, unit="image", desc="inpainting", file=sys.stderr) as bar:

        def report(record: Record) -> None:
            summary.add(record)
            bar.update(1)
            if args.json:
                print(record.to_json(), file=sys.stdout, flush=True)
            if record.status == "failed":
                bar.write(f"dpinpaint: failed: {record.input}: {record.error}", file=sys.stderr)
            elif not args.quiet:
                for note in record.notes:
                    bar.write(f"dpinpaint: warning: {record.input}: {note}", file=sys.stderr)

        for pair in plan.skipped:
            report(runner.record(pair, "skipped"))
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Each image's warnings are in its record's notes, printed above as one line each.
                warnings.simplefilter("ignore", DPInpaintWarning)
                runner.run(plan.todo, on_record=report)
        except KeyboardInterrupt:
            summary.seconds = time.perf_counter() - start
            bar.close()
            print(
                f"dpinpaint: interrupted: {summary.line()}; every written output is complete: re-run the same "
                "command with --skip-existing to finish",
                file=sys.stderr,
            )
            return 130
        summary.seconds = time.perf_counter() - start
    if not args.quiet or summary.failed:
        print(f"dpinpaint: {summary.line()} with {model_label(inp)}", file=sys.stderr)
    return 1 if summary.failed else 0


def add_inpaint(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "inpaint",
        help="inpaint image files and folders",
        description="Inpaint images (files and/or folders) with their masks (white = fill) and write the results "
        "under OUTPUT with the same relative paths (or, for a single image, to OUTPUT if it is a .png, .jpg, "
        ".jpeg or .webp file name). Masks: one file for all images, or a folder where "
        "photo.png pairs with photo_mask.png (--mask-suffix) or photo.png. Outputs are written atomically; a "
        "bad image or mask is reported and the run goes on; the exit status is 1 if any image failed.",
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files and/or folders")
    p.add_argument("--mask", "-m", required=True, help="a mask file for all images, or a folder of masks")
    p.add_argument(
        "--output",
        "-o",
        required=True,
        help="output folder (created if needed), or a .png/.jpg/.jpeg/.webp file name for a single input image",
    )
    add_model_arguments(p)
    p.add_argument("--mask-suffix", default="_mask", help="suffix of mask file stems (default _mask)")
    p.add_argument("--batch-size", type=positive_int, help="windows per forward pass (default: 1 on CPU, 8 on GPU)")
    p.add_argument(
        "--workers",
        type=non_negative_int,
        help="threads decoding/encoding images while the model runs (default: the cores torch leaves free, at most 4; "
        "0 when it uses them all)",
    )
    p.add_argument("--recursive", "-r", action="store_true", help="descend into sub-folders")
    exist = p.add_mutually_exclusive_group()
    exist.add_argument("--skip-existing", action="store_true", help="keep outputs that exist (resume a run)")
    exist.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("--format", default="same", choices=["same", "png", "jpg", "webp"], help="output format")
    p.add_argument(
        "--quality",
        type=quality,
        help="JPEG/WebP quality 1-100 (default: a JPEG input's own quantisation tables, which change the "
        "unmasked pixels least; otherwise 95)",
    )
    p.add_argument("--shard", help="K/N: process the K-th of N deterministic shares (K = 0..N-1)")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary (failures still shown)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a TTY")
    p.set_defaults(func=cmd_inpaint)


def default_workers() -> int:
    """Background I/O threads: only on cores torch's intra-op threads leave free (measured in docs/performance.md:
    on a 2-core machine with torch on both cores, 2 workers made a folder 1-11% slower)."""
    import torch

    spare = (os.cpu_count() or 1) - torch.get_num_threads()
    return max(0, min(4, spare))


def quality(text: str) -> int:
    value = positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"expected a quality in 1..100, got {value}")
    return value


def cmd_explain(args: argparse.Namespace) -> int:
    inp, options = load_inpainter(args)
    result = inp.inpaint(args.image, args.mask, options, return_details=True, progress=not args.quiet)
    if not result.windows:
        raise InvalidInputError(f"the mask of {args.image} is empty: nothing was inpainted, nothing to explain")
    pixel = None
    if args.pixel:
        try:
            x_text, y_text = args.pixel.split(",")
            pixel = (int(x_text), int(y_text))
        except ValueError:
            raise InvalidInputError(f"--pixel must be X,Y (network-input pixels), got {args.pixel!r}") from None
    figure = result.figure(window=args.window, pixel=pixel, resolution=args.resolution)
    from ..image_io import save_image

    save_image(figure, Path(args.output))
    if not args.quiet:
        paths = f"inversion={options.inversion.method}" if inp.config.uses_inversion else "feed-forward path only"
        print(f"wrote {args.output}: window {args.window} of {len(result.windows)} ({result.strategy[0]}, {paths})")
    return 0


def add_explain(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "explain",
        help="a figure of what each path produced and where the deformable fusion samples",
        description="Inpaint one image and draw, at the network's resolution: the masked input, the inversion "
        "path's image I_s, the feed-forward path's image I_g, the output (the paper's Fig. 8), and the "
        "deformable fusion's sampling points and modulation for one pixel over I_s (the paper's Fig. 3).",
    )
    p.add_argument("image", help="the image file")
    p.add_argument("--mask", "-m", required=True, help="the mask file (white = fill)")
    p.add_argument("--output", "-o", required=True, help="the figure to write (.png)")
    add_model_arguments(p)
    p.add_argument("--window", type=non_negative_int, default=0, help="which network input (crop window) to draw")
    p.add_argument("--pixel", help="X,Y of the pixel whose sampling points are drawn (default: the hole's centre)")
    p.add_argument("--resolution", type=positive_int, help="the deformable fusion resolution (default: the highest)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    p.set_defaults(func=cmd_explain)
