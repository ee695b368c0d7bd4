"""The ``dpinpaint`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import ModelConfig, get_preset, list_presets
from .errors import DPInpaintError, DPInpaintWarning, InvalidInputError
from .options import STRATEGIES
from .version import __version__

if TYPE_CHECKING:
    from .batch import Record

__all__ = ["main", "build_parser"]


def _load_config(name_or_path: str) -> ModelConfig:
    if name_or_path in list_presets():
        return get_preset(name_or_path)
    if name_or_path.endswith(".json"):
        return ModelConfig.from_json(name_or_path)
    return get_preset(name_or_path)  # raises with the list of presets


def _int_at_least(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse ``type=`` for integers ``>= minimum`` (``what`` names them in the error)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "an integer >= 0")


def _cmd_info(args: argparse.Namespace) -> int:
    from .summary import summarize

    config = _load_config(args.model)
    if args.paths or args.fusion:
        config = config.replace(**{k: v for k, v in (("paths", args.paths), ("fusion", args.fusion)) if v})
    summary = summarize(config, batch_size=args.batch_size)
    if args.json:
        print(json.dumps({"config": config.to_dict(), "params": summary.params, "flops": summary.flops}, indent=2))
    else:
        print(summary.format())
    return 0


def _cmd_presets(args: argparse.Namespace) -> int:
    for name, description in list_presets().items():
        print(f"{name:<12} {description}")
    return 0


def _cmd_convert_stylegan2(args: argparse.Namespace) -> int:
    from .convert import convert_stylegan2

    report = convert_stylegan2(
        args.src,
        args.output,
        samples=args.samples,
        seed=args.seed,
        truncation_psi=args.truncation,
        with_discriminator=not args.no_discriminator,
    )
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print(report.format())
    return 0


def _add_convert(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    convert = sub.add_parser("convert", help="convert pretrained weights into this package's format")
    kinds = convert.add_subparsers(dest="kind", required=True)
    sg = kinds.add_parser(
        "stylegan2",
        help="a StyleGAN2 (rosinality .pt, NVIDIA ada-pytorch/stylegan3 .pkl, NVIDIA TensorFlow .pkl)",
        description="Convert a pretrained StyleGAN2 into a folder (config.json + stylegan2.safetensors), report "
        "the inferred architecture and parameter counts, and render samples.png from fixed seeds. Pickles "
        "are read with a restricted unpickler: nothing in the file is executed.",
    )
    sg.add_argument("src", help="the weights file (.pt or .pkl) or a converted folder")
    sg.add_argument("--output", "-o", required=True, help="folder to write (created if needed)")
    sg.add_argument("--samples", type=_non_negative_int, default=8, help="images in samples.png (default 8; 0 = none)")
    sg.add_argument("--seed", type=int, default=0, help="first seed of the samples (default 0)")
    sg.add_argument("--truncation", type=float, default=0.7, help="truncation psi of the samples (default 0.7)")
    sg.add_argument("--no-discriminator", action="store_true", help="convert the generator only")
    sg.add_argument("--json", action="store_true", help="print the report as JSON")
    sg.set_defaults(func=_cmd_convert_stylegan2)


# -- inpaint ------------------------------------------------------------------------------------
def _cmd_inpaint(args: argparse.Namespace) -> int:
    from .batch import (
        IMAGE_EXTENSIONS,
        OUTPUT_SUFFIXES,
        BatchRunner,
        find_images,
        output_path,
        pair_masks,
        parse_shard,
        select_shard,
    )
    from .files import remove_stale_temporaries

    shard = parse_shard(args.shard) if args.shard else (0, 1)
    if not args.output.strip():
        raise InvalidInputError("--output is empty; give a folder (e.g. out/) or a file name for a single image")
    out_dir = Path(args.output)
    # `--output result.png` (not an existing folder, no trailing slash) names the file of a single input.
    as_folder = out_dir.is_dir() or args.output.endswith(("/", os.sep))
    suffix = out_dir.suffix.lower()
    out_file = out_dir if suffix in OUTPUT_SUFFIXES and not as_folder else None
    if out_file is not None:
        if args.format != "same" and OUTPUT_SUFFIXES[suffix] != args.format:
            raise InvalidInputError(f"--output {out_file} contradicts --format {args.format}; drop one of them")
        out_dir = out_file.parent
    elif suffix in IMAGE_EXTENSIONS and not as_folder:
        raise InvalidInputError(
            f"--output {out_dir}: results can be written as {', '.join(OUTPUT_SUFFIXES)} files; for a folder "
            "with this name, create it first or end the name with /"
        )
    elif out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(
            f"--output {out_dir} is a file; give a folder (created if needed), or a new "
            f"{'/'.join(OUTPUT_SUFFIXES)} file name for a single image"
        )
    mask_is_dir = Path(args.mask).is_dir()
    images = find_images(
        args.inputs,
        recursive=args.recursive,
        exclude_suffix=args.mask_suffix if mask_is_dir else None,
        # outputs of an earlier run inside an input folder are not inputs
        exclude_dirs=[] if out_file is not None else [out_dir],
        on_skip=lambda path, why: _log(args, f"warning: skipped {path}: {why}"),
    )
    target = out_file.resolve() if out_file is not None else None
    if target is not None:  # nor is an earlier result file found in an input folder
        named = {Path(p).resolve() for p in args.inputs if not Path(p).is_dir()}
        images = [(f, rel) for f, rel in images if f.resolve() != target or f.resolve() in named]
    pairs = pair_masks(images, args.mask, suffix=args.mask_suffix)
    if out_file is not None:
        if len(pairs) != 1:
            raise InvalidInputError(
                f"--output {out_file} names one image file, but {len(pairs)} images were found; "
                "give a folder to write them all"
            )
        for role, path in (("input image", pairs[0].image), ("mask", pairs[0].mask)):
            if path is not None and path.resolve() == target:
                raise InvalidInputError(f"--output {out_file} is the {role} itself; choose another name")
        pairs = [replace(pairs[0], output=out_file)]
    else:
        pairs = [replace(p, output=output_path(out_dir, p.relative, args.format)) for p in pairs]
    # Clashes are looked for among all pairs, not this shard's only: two shards must not write one file.
    by_output: dict[Path, list[str]] = {}
    for p in pairs:
        by_output.setdefault(p.output, []).append(str(p.image))  # type: ignore[arg-type]
    clashes = {out: srcs for out, srcs in by_output.items() if len(srcs) > 1}
    if clashes:
        out, srcs = next(iter(clashes.items()))
        raise InvalidInputError(
            f"{len(clashes)} output path(s) would be written twice, e.g. {out} from {', '.join(srcs)}"
        )
    pairs = select_shard(pairs, *shard)
    if not pairs:
        raise InvalidInputError(
            "no images found in " + ", ".join(args.inputs) + (f" for shard {args.shard}" if args.shard else "")
        )
    existing = [p for p in pairs if p.output is not None and p.output.exists()]
    if existing and not (args.skip_existing or args.overwrite):
        raise InvalidInputError(
            f"{len(existing)} output(s) already exist (e.g. {existing[0].output}); pass --skip-existing "
            "to keep them (resume a run) or --overwrite to replace them"
        )
    _check_writable(out_dir)
    if out_dir.is_dir():
        # Only this run's outputs: other shards may be writing into the same folder right now.
        removed = remove_stale_temporaries(out_dir, [p.output for p in pairs if p.output is not None])
        if removed:
            _log(args, f"removed {removed} temporary file(s) left by an interrupted run")

    records_out = sys.stdout
    existing_set = set(existing) if args.skip_existing else set()
    skipped = [p for p in pairs if p in existing_set]
    todo = [p for p in pairs if p not in existing_set]

    inp, inversion = _load_inpainter(args)
    _warn_unused_seed(args, inp)
    runner = BatchRunner(
        inp,
        inpaint_kwargs={
            "strategy": args.strategy,
            "invert_mask": args.invert_mask,
            "mask_from_alpha": args.mask_from_alpha,
            "crop_margin": args.crop_margin,
        },
        seed=args.seed,
        inversion=inversion,
        batch_size=args.batch_size,
        workers=_default_workers() if args.workers is None else args.workers,
        quality=args.quality,
    )
    from tqdm.auto import tqdm

    show = not args.quiet and (args.progress or sys.stderr.isatty())
    with tqdm(total=len(pairs), disable=not show, unit="image", desc="inpainting", file=sys.stderr) as bar:
        from .batch import Summary

        summary = Summary()

        def report(record: Record) -> None:
            summary.add(record)
            bar.update(1)
            if args.json:
                print(record.to_json(), file=records_out, flush=True)
            if record.status == "failed":
                bar.write(f"dpinpaint: failed: {record.input}: {record.error}", file=sys.stderr)
            elif not args.quiet:
                for note in record.notes:
                    bar.write(f"dpinpaint: warning: {record.input}: {note}", file=sys.stderr)

        for p in skipped:
            report(runner.record(p, "skipped"))
        start = time.perf_counter()
        try:
            with warnings.catch_warnings():
                # Each image's warnings are in its record's notes, printed above as one line each.
                warnings.simplefilter("ignore", DPInpaintWarning)
                runner.run(todo, on_record=report)
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
        print(f"dpinpaint: {summary.line()} with {_model_label(inp)}", file=sys.stderr)
    return 1 if summary.failed else 0


def _model_label(inp: Any) -> str:
    """``model demo (dpinpaint 0.1.0)`` / ``model org/name@<commit> (dpinpaint 0.1.0)``."""
    revision = f"@{inp.revision[:12]}" if inp.revision else ""
    return f"model {inp.name}{revision} (dpinpaint {__version__})"


def _warn_unused_seed(args: argparse.Namespace, inp: Any) -> None:
    """``--seed`` re-draws the StyleGAN2 noise; a model without the inversion path has none."""
    if args.seed is not None and not inp.model.config.uses_inversion and not args.quiet:
        print(
            f"dpinpaint: warning: --seed {args.seed} has no effect: {inp.name} has no StyleGAN2 (paths="
            f"{inp.model.config.paths!r}), so its output is deterministic without it",
            file=sys.stderr,
        )


def _check_writable(folder: Path) -> None:
    """Fail before any image is inpainted if the output folder (or the nearest folder that exists) is read-only."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"--output: cannot write into {existing} (permission denied); choose another folder")


def _log(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"dpinpaint: {message}", file=sys.stderr)


def _add_inpaint(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    _add_model_arguments(p)
    p.add_argument("--mask-suffix", default="_mask", help="suffix of mask file stems (default _mask)")
    p.add_argument("--batch-size", type=_positive_int, help="windows per forward pass (default: 1 on CPU, 8 on GPU)")
    p.add_argument(
        "--workers",
        type=_non_negative_int,
        help="threads decoding/encoding images while the model runs (default: the cores torch leaves free, at most 4; "
        "0 when it uses them all)",
    )
    p.add_argument("--recursive", "-r", action="store_true", help="descend into sub-folders")
    exist = p.add_mutually_exclusive_group()
    exist.add_argument("--skip-existing", action="store_true", help="keep outputs that exist (resume a run)")
    exist.add_argument("--overwrite", action="store_true", help="replace outputs that exist")
    p.add_argument("--format", default="same", choices=["same", "png", "jpg", "webp"], help="output format")
    p.add_argument("--quality", type=_quality, default=95, help="JPEG/WebP quality 1-100 (default 95)")
    p.add_argument("--shard", help="K/N: process the K-th of N deterministic shares (K = 0..N-1)")
    p.add_argument("--json", action="store_true", help="one JSON object per image on stdout")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary (failures still shown)")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when stderr is not a TTY")
    p.set_defaults(func=_cmd_inpaint)


def _default_workers() -> int:
    """Background I/O threads: only on cores torch's intra-op threads leave free (measured in docs/performance.md:
    on a 2-core machine with torch on both cores, 2 workers made a folder 1-11% slower)."""
    import torch

    spare = (os.cpu_count() or 1) - torch.get_num_threads()
    return max(0, min(4, spare))


def _add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options shared by ``inpaint`` and ``explain``: the model, the mask convention, the strategies."""
    p.add_argument(
        "--model",
        default="demo",
        help="model name, org/repo[@revision] or checkpoint folder (default: demo, bundled, works offline)",
    )
    p.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    p.add_argument("--strategy", default="auto", choices=list(STRATEGIES), help="see docs/api.md")
    p.add_argument(
        "--crop-margin",
        type=float,
        default=0.5,
        help="crop strategy: context kept around each group of holes, as a fraction of its size (default 0.5)",
    )
    p.add_argument("--invert-mask", action="store_true", help="fill the black pixels of the masks instead")
    p.add_argument("--mask-from-alpha", action="store_true", help="read masks from their alpha channel")
    p.add_argument("--seed", type=int, help="re-draw the StyleGAN2 noise from this seed (default: deterministic)")
    p.add_argument(
        "--inversion",
        default="learned",
        choices=["learned", "optimize", "hybrid"],
        help="GAN inversion: the encoder (default), Adam on the latent from w_avg, or Adam from the encoder's code",
    )
    p.add_argument("--steps", type=_non_negative_int, default=1000, help="Adam steps of optimize/hybrid (1000)")
    p.add_argument("--inversion-lr", type=float, default=0.01, help="Adam learning rate of optimize/hybrid (0.01)")
    p.add_argument("--inversion-loss", default="l1", choices=["l1", "l2"], help="loss on the known pixels (l1)")


def _load_inpainter(args: argparse.Namespace) -> tuple[Any, Any]:
    """The model of ``--model`` and the inversion of ``--inversion``/``--steps``/``--inversion-lr``."""
    from .inpainter import Inpainter

    inp = Inpainter.from_pretrained(args.model, revision=args.revision, device=args.device, dtype=args.dtype)
    inversion = inp._inversion_config(args.inversion, args.steps, args.inversion_lr, args.inversion_loss)
    return inp, inversion


def _quality(text: str) -> int:
    value = _positive_int(text)
    if value > 100:
        raise argparse.ArgumentTypeError(f"expected a quality in 1..100, got {value}")
    return value


# -- explain ------------------------------------------------------------------------------------
def _cmd_explain(args: argparse.Namespace) -> int:
    inp, inversion = _load_inpainter(args)
    result = inp.inpaint(
        args.image,
        args.mask,
        strategy=args.strategy,
        invert_mask=args.invert_mask,
        mask_from_alpha=args.mask_from_alpha,
        crop_margin=args.crop_margin,
        seed=args.seed,
        inversion=inversion.method,
        steps=inversion.steps,
        inversion_lr=inversion.lr,
        inversion_loss=inversion.loss,
        return_details=True,
        progress=not args.quiet,
    )
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
    from .batch import save_image

    save_image(figure, Path(args.output))
    if not args.quiet:
        paths = f"inversion={inversion.method}" if inp.config.uses_inversion else "feed-forward path only"
        print(f"wrote {args.output}: window {args.window} of {len(result.windows)} ({result.strategy[0]}, {paths})")
    return 0


def _add_explain(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
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
    _add_model_arguments(p)
    p.add_argument("--window", type=_non_negative_int, default=0, help="which network input (crop window) to draw")
    p.add_argument("--pixel", help="X,Y of the pixel whose sampling points are drawn (default: the hole's centre)")
    p.add_argument("--resolution", type=_positive_int, help="the deformable fusion resolution (default: the highest)")
    p.add_argument("--quiet", "-q", action="store_true", help="print nothing on success")
    p.set_defaults(func=_cmd_explain)


# -- evaluate -----------------------------------------------------------------------------------
def _cmd_evaluate(args: argparse.Namespace) -> int:
    from .evaluate import evaluate
    from .masks import HOLE_GROUPS, parse_groups

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
        inversion=args.inversion,
        steps=args.steps,
        size=args.size,
        long_side=args.long_side,
        strategy=args.strategy,
        native_max_side=args.native_max_side,
        worst=args.worst,
        compute_fid=not args.no_fid,
        device=args.device,
        batch_size=args.batch_size,
        progress=not args.quiet and sys.stderr.isatty(),
    )
    if not args.quiet:
        print((Path(args.output) / "report.md").read_text(encoding="utf-8"))
    return 0 if result.scores else 1


def _long_side(text: str) -> int | str:
    if text == "native":
        return text
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number of pixels or 'native', got {text!r}")
    return value


def _add_evaluate(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from .options import BASELINES, EVAL_MASK_KINDS

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
    p.add_argument("--num", type=_positive_int, default=100, help="images used (the first N; default 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated masks (default 0)")
    p.add_argument(
        "--baseline",
        action="append",
        choices=list(BASELINES),
        help="add a classical baseline (repeatable); skimage-biharmonic needs scikit-image",
    )
    p.add_argument("--inversion", default="learned", choices=["learned", "optimize", "hybrid"])
    p.add_argument("--steps", type=_non_negative_int, default=1000, help="steps of optimize/hybrid (1000)")
    p.add_argument(
        "--size", type=_positive_int, help="square protocol: resolution (default: the model's, 256 without a model)"
    )
    p.add_argument(
        "--long-side",
        type=_long_side,
        help="score the photos as users meet them instead of square crops: scaled to this long side in pixels "
        "(never enlarged), or 'native' for their own size",
    )
    p.add_argument("--strategy", default="auto", choices=list(STRATEGIES), help="the model's strategy (default auto)")
    p.add_argument(
        "--native-max-side",
        type=_positive_int,
        help="longest side a window runs at natively (feed-forward models; default 2x the model's resolution)",
    )
    p.add_argument("--worst", type=_non_negative_int, default=8, help="worst images saved per method (default 8)")
    p.add_argument("--no-fid", action="store_true", help="skip FID (it needs the eval extra and time)")
    p.add_argument("--device", default="auto")
    p.add_argument("--batch-size", type=_positive_int)
    p.add_argument("--quiet", "-q", action="store_true", help="do not print the report")
    p.set_defaults(func=_cmd_evaluate)


# -- train --------------------------------------------------------------------------------------
def _cmd_train(args: argparse.Namespace) -> int:
    from .train.config import TrainConfig
    from .train.trainer import Trainer

    run_dir = Path(args.output)
    if args.resume and args.config is None and args.preset is None:
        config = TrainConfig.from_json(run_dir / "config.json")
    elif args.config is not None:
        config = TrainConfig.from_json(args.config)
    elif args.preset is not None:
        config = TrainConfig.from_preset(args.preset)
        if args.stylegan2 is not None and config.model.uses_inversion:
            config = config.replace(model=_model_for_stylegan2(config.model, args.stylegan2, args.quiet))
    else:
        raise InvalidInputError("give CONFIG.json or --preset NAME (or --resume with the run's own config)")
    overrides: dict[str, Any] = {}
    if args.discriminator is not None:
        overrides["discriminator"] = args.discriminator
    if args.spectral_norm is not None:
        overrides["spectral_norm"] = args.spectral_norm
    if args.steps is not None:
        overrides["stage1_steps"] = args.steps if config.model.uses_inversion else 0
        overrides["stage2_steps"] = args.steps if config.model.uses_feedforward else 0
    for name in ("stage1_steps", "stage2_steps", "batch_size", "workers", "seed", "test_count", "checkpoint_every",
                 "sample_every", "log_every"):  # fmt: skip
        value = getattr(args, name)
        if value is not None:
            overrides[name] = value
    if overrides:
        config = config.replace(**overrides)
    trainer = Trainer(
        config,
        run_dir,
        args.data,
        args.stylegan2,
        resume=args.resume,
        progress=not args.quiet,
        device=args.device,
        init=args.init,
    )
    final = trainer.run()
    if not args.quiet and trainer.rank == 0:
        print(f"trained {trainer.step} steps; the model is in {final} (Inpainter.from_pretrained({str(final)!r}))")
    return 0


def _model_for_stylegan2(model: ModelConfig, stylegan2: str, quiet: bool) -> ModelConfig:
    """``model`` with ``G_s``'s architecture read from the StyleGAN2 file (the fusion widths follow it)."""
    from .convert import load_stylegan2

    _, _, info = load_stylegan2(stylegan2, with_discriminator=False)
    if info.config == model.stylegan:
        return model
    if info.config.resolution != model.resolution:
        raise InvalidInputError(
            f"{stylegan2} is a {info.config.resolution}x{info.config.resolution} StyleGAN2, but preset "
            f"{model.name!r} works at {model.resolution}x{model.resolution}; pick a preset of that resolution"
        )
    widths = ", ".join(f"{r}: {info.config.channels_at(r)}" for r in info.config.resolutions)
    message = (
        f"preset {model.name!r}: G_s's architecture is taken from {stylegan2} (widths {widths}; "
        f"minibatch-stddev group {info.config.mbstd_group}); the fusion widths of G follow it"
    )
    if not quiet:
        print(message, file=sys.stderr)
    return model.replace(stylegan=info.config)


def _add_train(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "train",
        help="train a model (stage 1: the style encoder; stage 2: the feed-forward path)",
        description="Train the dual-path network with the paper's recipe (docs/training.md). Runs under "
        "torchrun for several processes (DistributedDataParallel, Gloo on CPUs, NCCL on GPUs).",
    )
    p.add_argument("config", nargs="?", help="a training config.json (or use --preset)")
    p.add_argument("--preset", help="start from a model preset with the paper's hyper-parameters")
    p.add_argument("--data", required=True, help="an image folder (recursive) or a .zip of images")
    p.add_argument("--stylegan2", help="the pretrained StyleGAN2 (any format of dpinpaint convert)")
    p.add_argument("--output", "-o", required=True, help="the run folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --output from its last checkpoint")
    p.add_argument("--init", help="start from a trained Inpainter checkpoint folder (fine-tuning)")
    p.add_argument("--steps", type=_non_negative_int, help="steps of each stage (overrides the config)")
    p.add_argument("--stage1-steps", type=_non_negative_int)
    p.add_argument("--stage2-steps", type=_non_negative_int)
    p.add_argument("--batch-size", type=_positive_int, help="images per step and per process (paper: 8)")
    p.add_argument("--workers", type=_non_negative_int, help="DataLoader workers")
    p.add_argument("--seed", type=int)
    p.add_argument("--test-count", type=_non_negative_int, help="images held out at the end (FFHQ: 5000)")
    p.add_argument("--checkpoint-every", type=_positive_int)
    p.add_argument("--sample-every", type=_positive_int)
    p.add_argument("--log-every", type=_positive_int)
    p.add_argument("--device", default="cpu", help="cpu or cuda (under torchrun: cuda:LOCAL_RANK is used)")
    p.add_argument(
        "--discriminator",
        choices=["picnet", "stylegan2"],
        help="D of the feed-forward path (default picnet: PICNet's spectral-normalised residual D)",
    )
    p.add_argument(
        "--spectral-norm",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train E and G spectral-normalised, as PICNet (default on; final/ holds plain weights)",
    )
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(func=_cmd_train)


# -- download / list / env ----------------------------------------------------------------------
def _cmd_download(args: argparse.Namespace) -> int:
    from .checkpoint import read_config
    from .hub import PRETRAINED, resolve_checkpoint

    folder = resolve_checkpoint(args.model, revision=args.revision, variant=args.variant, force_download=args.force)
    config = read_config(folder)
    model = PRETRAINED.get(args.model)
    bundled = " (bundled with dpinpaint: nothing to download)" if model is not None and model.bundled else ""
    print(f"{args.model}: {config.name} ({config.resolution}x{config.resolution}) in {folder}{bundled}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from .registry import list_models

    if not args.cached:
        for model in list_models():
            print(model)
        return 0
    from huggingface_hub import constants, scan_cache_dir

    from .checkpoint import CONFIG_NAME

    try:
        cache = scan_cache_dir()
    except Exception as exc:  # the cache folder does not exist yet, or is unreadable
        print(f"no Hugging Face cache ({exc})")
        return 0
    rows = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in repo.revisions:
            names = {f.file_name for f in rev.files}
            if CONFIG_NAME in names and any(n.endswith(".safetensors") for n in names):
                rows.append(
                    f"{repo.repo_id:<32} {rev.commit_hash[:12]}  {rev.size_on_disk / 1e6:8.1f} MB  {', '.join(sorted(names))}"
                )
    print("\n".join(rows) if rows else f"no dpinpaint checkpoints in the cache at {constants.HF_HUB_CACHE}")
    return 0


def _cmd_env(args: argparse.Namespace) -> int:
    import platform
    from importlib import metadata

    import torch
    from huggingface_hub import constants

    from .device import resolve_device
    from .ops import torchvision_kernels_available

    def version(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"

    device = resolve_device("auto")
    facts = {
        "dpinpaint": __version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "torchvision": version("torchvision"),
        "torchvision kernels active": torchvision_kernels_available(),
        "numpy": version("numpy"),
        "pillow": version("pillow"),
        "huggingface-hub": version("huggingface-hub"),
        "safetensors": version("safetensors"),
        "opencv-python": version("opencv-python"),
        "device (auto)": str(device),
        "cuda available": torch.cuda.is_available(),
        "torch threads": torch.get_num_threads(),
        "hub endpoint": constants.ENDPOINT,
        "hub cache": constants.HF_HUB_CACHE,
        "hub offline": bool(constants.HF_HUB_OFFLINE),
    }
    if args.json:
        print(json.dumps(facts, indent=2))
    else:
        for key, value in facts.items():
            print(f"{key + ':':<28}{value}")
    return 0


def _add_hub_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    download = sub.add_parser("download", help="download a model into the Hugging Face cache")
    download.add_argument("model", help="model name (dpinpaint list) or org/repo[@revision]")
    download.add_argument("--revision", help="branch, tag or commit")
    download.add_argument("--variant", choices=["fp16"], help="download model.fp16.safetensors instead")
    download.add_argument(
        "--force", action="store_true", help="download the files again even if they are cached (a damaged cache)"
    )
    download.set_defaults(func=_cmd_download)
    models = sub.add_parser("list", help="list the pretrained model names (or the cached checkpoints)")
    models.add_argument("--cached", action="store_true", help="list the checkpoints in the Hugging Face cache")
    models.set_defaults(func=_cmd_list)
    env = sub.add_parser("env", help="versions, device, cache location, torchvision kernels")
    env.add_argument("--json", action="store_true", help="print JSON")
    env.set_defaults(func=_cmd_env)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpinpaint", description="Dual-path image inpainting (CVPR 2022).")
    parser.add_argument("--version", action="version", version=f"dpinpaint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameter counts and GFLOPs of a preset or config.json")
    info.add_argument("model", help="preset name (" + ", ".join(list_presets()) + ") or a config.json path")
    info.add_argument(
        "--batch-size", type=_positive_int, default=1, help="batch size of the counted forward (default 1)"
    )
    info.add_argument("--paths", choices=["dual", "feedforward", "inversion"], help="override the config's paths")
    info.add_argument("--fusion", choices=["deformable", "concat"], help="override the config's fusion")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=_cmd_info)

    presets = sub.add_parser("presets", help="list the model presets")
    presets.set_defaults(func=_cmd_presets)

    _add_convert(sub)
    _add_inpaint(sub)
    _add_explain(sub)
    _add_evaluate(sub)
    _add_train(sub)
    _add_hub_commands(sub)
    return parser


def _refuse_unpublished(model: Any) -> None:
    """Fail before anything heavy is loaded when ``--model`` names a model that is not published yet."""
    from .registry import require_published

    if isinstance(model, str) and not Path(model).is_dir():  # a checkpoint folder of that name wins
        require_published(model)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        _refuse_unpublished(getattr(args, "model", None))
        return int(args.func(args))
    except DPInpaintError as exc:
        print(f"dpinpaint: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("dpinpaint: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `dpinpaint inpaint ... --json | head`: stop quietly, like other CLI tools
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")
        return 141


if __name__ == "__main__":
    sys.exit(main())
