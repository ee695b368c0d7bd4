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
