"""What the ``dpinpaint`` commands share: argument types, the model and inpainting options, messages."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..config import ModelConfig, get_preset, list_presets
from ..options import BLENDS, DEFAULT_OPTIONS, LOSSES, METHODS, STRATEGIES, InpaintOptions
from ..version import __version__

if TYPE_CHECKING:
    from ..inpainter import Inpainter


def load_config(name_or_path: str) -> ModelConfig:
    if name_or_path in list_presets():
        return get_preset(name_or_path)
    if name_or_path.endswith(".json"):
        return ModelConfig.from_json(name_or_path)
    return get_preset(name_or_path)  # raises with the list of presets


def int_at_least(minimum: int, what: str) -> Callable[[str], int]:
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


positive_int = int_at_least(1, "a positive integer")


def finite_float(*, zero: bool, what: str) -> Callable[[str], float]:
    """An argparse ``type=`` for finite numbers > 0 (or >= 0 with ``zero``; ``what`` names them in the error)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not (0 <= value if zero else 0 < value) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    return parse


positive_float = finite_float(zero=False, what="a positive number")
non_negative_float = finite_float(zero=True, what="a number >= 0")

non_negative_int = int_at_least(0, "an integer >= 0")


def log(args: argparse.Namespace, message: str) -> None:
    if not args.quiet:
        print(f"dpinpaint: {message}", file=sys.stderr)


def model_label(inp: Inpainter) -> str:
    """``model demo (dpinpaint 0.1.0)`` / ``model org/name@<commit> (dpinpaint 0.1.0)``."""
    revision = f"@{inp.revision[:12]}" if inp.revision else ""
    return f"model {inp.name}{revision} (dpinpaint {__version__})"


def warn_unused_seed(args: argparse.Namespace, inp: Inpainter) -> None:
    """``--seed`` re-draws the StyleGAN2 noise; a model without the inversion path has none."""
    if args.seed is not None and not inp.model.config.uses_inversion and not args.quiet:
        print(
            f"dpinpaint: warning: --seed {args.seed} has no effect: {inp.name} has no StyleGAN2 (paths="
            f"{inp.model.config.paths!r}), so its output is deterministic without it",
            file=sys.stderr,
        )


def add_model_arguments(p: argparse.ArgumentParser) -> None:
    """The options shared by ``inpaint`` and ``explain``: the model, the mask convention, the strategies.

    Every default is :data:`~dpinpaint.options.DEFAULT_OPTIONS`'s (see :func:`inpaint_options`).
    """
    d, inv = DEFAULT_OPTIONS, DEFAULT_OPTIONS.inversion
    p.add_argument(
        "--model",
        default="demo",
        help="model name, org/repo[@revision] or checkpoint folder (default: demo, bundled, works offline)",
    )
    p.add_argument("--revision", help="Hub revision (branch, tag or commit)")
    p.add_argument("--device", default="auto", help="auto (CUDA, MPS, CPU), cpu, cuda, cuda:N, mps")
    p.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")
    p.add_argument("--strategy", default=d.strategy, choices=list(STRATEGIES), help="see docs/api.md")
    p.add_argument(
        "--crop-margin",
        type=float,
        default=d.crop_margin,
        help=f"crop strategy: context kept around each group of holes, as a fraction of its size (default {d.crop_margin})",
    )
    add_native_arguments(p)
    p.add_argument(
        "--mask-threshold",
        type=float,
        default=d.mask_threshold,
        help=f"a mask pixel is a hole when its value, scaled to [0, 1], is greater (default {d.mask_threshold})",
    )
    p.add_argument("--invert-mask", action="store_true", help="fill the black pixels of the masks instead")
    p.add_argument("--mask-from-alpha", action="store_true", help="read masks from their alpha channel")
    p.add_argument(
        "--seed", type=int, default=d.seed, help="re-draw the StyleGAN2 noise from this seed (default: deterministic)"
    )
    add_inversion_arguments(p)
    p.add_argument(
        "--inversion-lr", type=float, default=inv.lr, help=f"Adam learning rate of optimize/hybrid ({inv.lr})"
    )
    p.add_argument(
        "--inversion-loss", default=inv.loss, choices=list(LOSSES), help=f"loss on the known pixels ({inv.loss})"
    )


def add_native_arguments(p: argparse.ArgumentParser) -> None:
    """``--native-max-side``, ``--thin-side``, ``--blend`` and ``--flat-contrast``, with :data:`~dpinpaint.options.DEFAULT_OPTIONS`'s
    defaults."""
    p.add_argument(
        "--native-max-side",
        type=positive_int,
        default=DEFAULT_OPTIONS.native_max_side,
        help="longest side a window with thick holes runs at natively (feed-forward models; thin ones run at up to "
        "full resolution; default: the model's resolution times dpinpaint.strategies.NATIVE_SCALE)",
    )
    p.add_argument(
        "--thin-side",
        type=positive_float,
        default=DEFAULT_OPTIONS.thin_side,
        help="holes about this many pixels thick or thinner run at full resolution, thicker ones at a scale of "
        "THIN_SIDE/thickness (feed-forward models; default: dpinpaint.strategies.THIN_SIDE)",
    )
    p.add_argument(
        "--blend",
        default=DEFAULT_OPTIONS.blend,
        choices=list(BLENDS),
        help="poisson: blend each fill into the pixels around its holes (its offset from them at their edge is "
        "spread over the holes, leaving no seam); none: the "
        f"paper's plain composite, the network's own pixels (default {DEFAULT_OPTIONS.blend})",
    )
    p.add_argument(
        "--flat-contrast",
        type=non_negative_float,
        default=DEFAULT_OPTIONS.flat_contrast,
        help="with --blend poisson, where the pixels around a hole have less fine detail than this (0-1 scale), "
        "the fill's own detail fades and the hole is filled smoothly; 0: keep all of it "
        f"(default {DEFAULT_OPTIONS.flat_contrast})",
    )


def add_inversion_arguments(p: argparse.ArgumentParser) -> None:
    """``--inversion`` and ``--steps``, with :data:`~dpinpaint.options.DEFAULT_OPTIONS`'s defaults."""
    inv = DEFAULT_OPTIONS.inversion
    p.add_argument(
        "--inversion",
        default=inv.method,
        choices=list(METHODS),
        help="GAN inversion: the encoder (default), Adam on the latent from w_avg, or Adam from the encoder's code",
    )
    p.add_argument(
        "--steps", type=non_negative_int, default=inv.steps, help=f"Adam steps of optimize/hybrid ({inv.steps})"
    )


def inpaint_options(args: argparse.Namespace, *, exclude: tuple[str, ...] = ()) -> InpaintOptions:
    r"""The :class:`~dpinpaint.options.InpaintOptions` of the parsed arguments (those a command has,
    except the ``exclude``\ d ones: ``evaluate``'s ``--seed`` seeds its masks, not the noise)."""
    names = [f.name for f in dataclasses.fields(InpaintOptions) if f.name != "inversion"]
    names += ["inversion", "steps", "inversion_lr", "inversion_loss"]  # inpaint's flat names of the inversion
    given = {name: getattr(args, name) for name in names if hasattr(args, name) and name not in exclude}
    return InpaintOptions.build(**given)


def load_inpainter(args: argparse.Namespace) -> tuple[Inpainter, InpaintOptions]:
    """The model of ``--model`` and the inpainting options of the arguments, checked against it."""
    from ..inpainter import Inpainter

    options = inpaint_options(args)  # bad values fail before the model loads
    inp = Inpainter.from_pretrained(args.model, revision=args.revision, device=args.device, dtype=args.dtype)
    return inp, inp.options(options)
