"""The ``dpinpaint`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .config import ModelConfig, get_preset, list_presets
from .errors import DPInpaintError

__all__ = ["main", "build_parser"]


def _load_config(name_or_path: str) -> ModelConfig:
    if name_or_path in list_presets():
        return get_preset(name_or_path)
    if name_or_path.endswith(".json"):
        return ModelConfig.from_json(name_or_path)
    return get_preset(name_or_path)  # raises with the list of presets


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


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


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {value}")
    return value


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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except DPInpaintError as exc:
        print(f"dpinpaint: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
