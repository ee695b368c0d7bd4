"""``dpinpaint ui``: serve the web page of :mod:`dpinpaint.ui` (an optional extra: Gradio)."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from ..errors import InvalidInputError
from ..ui.config import LOOPBACK, UIConfig
from .common import positive_int


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cmd_ui(args: argparse.Namespace) -> int:
    from ..ui.session import ModelCatalog

    if args.port is not None and args.port > 65535:
        raise InvalidInputError(f"--port must be in 1..65535, got {args.port}")
    config = UIConfig(
        models=tuple(args.model),
        include_cached=not args.no_cached,
        device=args.device,
        dtype=args.dtype,
        host=args.host,
        port=args.port,
        share=args.share,
        max_upload_mb=args.max_upload_mb,
        max_pixels=args.max_pixels,
        workdir=Path(args.workdir) if args.workdir else None,
    )
    from ..ui.page import serve  # Gradio loads here: a clear error if the extra is missing

    catalog = ModelCatalog.discover(config)
    catalog.load(catalog.labels[0])  # a bad --model fails now, not in the page
    if not _is_loopback(config.host):
        print(
            f"dpinpaint ui: listening on {config.host}: anyone who can reach this address can use the page "
            "and the models in it",
            file=sys.stderr,
        )
    print(f"dpinpaint ui: models {', '.join(catalog.labels)}; Ctrl+C stops the server", file=sys.stderr)
    serve(config, catalog, block=True)
    return 0


def add_ui(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "ui",
        help="a local web page to paint the holes and download the result (needs dpinpaint[ui])",
        description="Serve a web page: open a photo, brush over what should go (or upload a mask), choose the "
        "model and its settings, inpaint, compare before and after, download the result at the photo's size "
        'and format. Needs Gradio: pip install "dpinpaint[ui]". See docs/ui.md.',
    )
    p.add_argument(
        "--model",
        action="append",
        default=[],
        help="a model to offer (name, org/repo[@revision] or checkpoint folder); repeatable; the first is "
        "selected. The bundled models and the cached Hub checkpoints are always offered",
    )
    p.add_argument("--no-cached", action="store_true", help="do not offer the checkpoints of the Hugging Face cache")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    p.add_argument("--host", default=LOOPBACK, help=f"the address to listen on (default {LOOPBACK}: this machine only)")
    p.add_argument("--port", type=positive_int, help="the port (default: the first free one from 7860)")
    p.add_argument("--share", action="store_true", help="also ask Gradio for a public *.gradio.live link (off)")
    p.add_argument(
        "--max-upload-mb",
        type=float,
        default=UIConfig.max_upload_mb,
        help=f"the largest file the page accepts, in MB (default {UIConfig.max_upload_mb:g})",
    )
    p.add_argument(
        "--max-pixels",
        type=positive_int,
        default=UIConfig.max_pixels,
        help=f"the largest photo the page accepts, in pixels (default {UIConfig.max_pixels:,})",
    )
    p.add_argument("--workdir", help="where results are written for download (default: a new temporary folder)")
    p.set_defaults(func=cmd_ui)
