"""The ``dpinpaint`` command line: the parser and :func:`main`; each command lives in its own module
and only translates its arguments into library calls."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import list_presets
from ..errors import DPInpaintError
from ..version import __version__
from .common import positive_int
from .evaluate import add_evaluate
from .inpaint import add_explain, add_inpaint
from .models import add_convert, add_hub_commands, cmd_info, cmd_presets
from .train import add_train
from .ui import add_ui


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dpinpaint", description="Dual-path image inpainting (CVPR 2022).")
    parser.add_argument("--version", action="version", version=f"dpinpaint {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="parameter counts and GFLOPs of a preset or config.json")
    info.add_argument("model", help="preset name (" + ", ".join(list_presets()) + ") or a config.json path")
    info.add_argument(
        "--batch-size", type=positive_int, default=1, help="batch size of the counted forward (default 1)"
    )
    info.add_argument("--paths", choices=["dual", "feedforward", "inversion"], help="override the config's paths")
    info.add_argument("--fusion", choices=["deformable", "concat"], help="override the config's fusion")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")
    info.set_defaults(func=cmd_info)

    presets = sub.add_parser("presets", help="list the model presets")
    presets.set_defaults(func=cmd_presets)

    add_convert(sub)
    add_inpaint(sub)
    add_explain(sub)
    add_evaluate(sub)
    add_train(sub)
    add_hub_commands(sub)
    add_ui(sub)
    return parser


def refuse_unpublished(model: Any) -> None:
    """Fail before anything heavy is loaded when ``--model`` names a model that is not published yet."""
    from ..registry import require_published

    if not isinstance(model, str):
        return
    try:
        folder = Path(model).is_dir()  # a checkpoint folder of that name wins
    except (OSError, ValueError):  # not a usable path (too long, a NUL byte): Inpainter says so
        return
    if not folder:
        require_published(model)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        refuse_unpublished(getattr(args, "model", None))
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
    except OSError as exc:  # the file system refused a path given on the command line (too long, ...)
        where = f": {exc.filename}" if exc.filename else ""
        name = where if len(where) < 120 else where[:117] + "..."
        print(f"dpinpaint: error: {exc.strerror or exc}{name}", file=sys.stderr)
        return 2
