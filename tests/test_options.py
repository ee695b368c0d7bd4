"""InpaintOptions: one place for every inference default, shared by the API, the CLI, batches and evaluate."""

from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys

import pytest

from dpinpaint.cli import build_parser
from dpinpaint.errors import InvalidInputError
from dpinpaint.options import DEFAULT_OPTIONS, InpaintOptions, InversionConfig


def _subcommand_defaults(argv: list[str]) -> dict[str, object]:
    return vars(build_parser().parse_args(argv))


@pytest.mark.parametrize(
    "argv",
    [
        ["inpaint", "in.png", "--mask", "m.png", "--output", "out/"],
        ["explain", "in.png", "--mask", "m.png", "--output", "fig.png"],
    ],
)
def test_cli_defaults_are_the_options_defaults(argv: list[str]) -> None:
    args = _subcommand_defaults(argv)
    for field in dataclasses.fields(InpaintOptions):
        if field.name == "inversion":
            continue
        assert args[field.name] == getattr(DEFAULT_OPTIONS, field.name), field.name
    inv = DEFAULT_OPTIONS.inversion
    assert (args["inversion"], args["steps"], args["inversion_lr"], args["inversion_loss"]) == (
        inv.method,
        inv.steps,
        inv.lr,
        inv.loss,
    )


def test_evaluate_cli_defaults_are_the_options_defaults() -> None:
    args = _subcommand_defaults(["evaluate", "--data", "d", "--output", "o"])
    inv = DEFAULT_OPTIONS.inversion
    assert args["strategy"] == DEFAULT_OPTIONS.strategy
    assert args["native_max_side"] == DEFAULT_OPTIONS.native_max_side
    assert args["thin_side"] == DEFAULT_OPTIONS.thin_side
    assert args["flat_contrast"] == DEFAULT_OPTIONS.flat_contrast
    assert (args["inversion"], args["steps"]) == (inv.method, inv.steps)


def test_cli_options_object_equals_the_defaults_and_leaves_out_evaluates_mask_seed() -> None:
    from dpinpaint.cli.common import inpaint_options

    args = build_parser().parse_args(["inpaint", "in.png", "--mask", "m.png", "--output", "o/"])
    assert inpaint_options(args) == DEFAULT_OPTIONS
    args = build_parser().parse_args(["evaluate", "--data", "d", "--output", "o", "--seed", "5"])
    assert inpaint_options(args, exclude=("seed",)) == DEFAULT_OPTIONS
    args = build_parser().parse_args(
        ["inpaint", "i.png", "-m", "m.png", "-o", "o/", "--strategy", "crop", "--steps", "7", "--inversion", "hybrid"]
    )
    assert inpaint_options(args) == InpaintOptions(strategy="crop", inversion=InversionConfig("hybrid", 7))
    args = build_parser().parse_args(["evaluate", "--data", "d", "--output", "o", "--thin-side", "12.5"])
    assert inpaint_options(args, exclude=("seed",)) == InpaintOptions(thin_side=12.5)
    import numpy as np

    numpy_side = InpaintOptions(thin_side=np.float32(12.5))
    assert type(numpy_side.thin_side) is float and numpy_side == InpaintOptions(thin_side=12.5)
    json.dumps(numpy_side.to_dict())  # reports hold plain numbers
    for bad in ("0", "-2", "inf", "nan", "wide"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["inpaint", "i.png", "-m", "m.png", "-o", "o/", "--thin-side", bad])
    args = build_parser().parse_args(["inpaint", "i.png", "-m", "m.png", "-o", "o/", "--flat-contrast", "0"])
    assert inpaint_options(args) == InpaintOptions(flat_contrast=0.0)
    assert type(InpaintOptions(flat_contrast=np.float32(0.5)).flat_contrast) is float
    for bad in ("-0.1", "inf", "nan", "flat"):
        with pytest.raises(SystemExit):
            build_parser().parse_args(["inpaint", "i.png", "-m", "m.png", "-o", "o/", "--flat-contrast", bad])


def test_library_entry_points_take_their_defaults_from_the_options() -> None:
    from dpinpaint.batch import BatchRunner
    from dpinpaint.evaluate import evaluate
    from dpinpaint.inpainter import Inpainter

    # inpaint and inpaint_batch have no default of their own: options=None means DEFAULT_OPTIONS.
    for method in (Inpainter.inpaint, Inpainter.inpaint_batch):
        params = inspect.signature(method).parameters
        assert params["options"].default is None
        assert not set(params) & {f.name for f in dataclasses.fields(InpaintOptions)}
    assert inspect.signature(BatchRunner).parameters["options"].default is None
    params = inspect.signature(evaluate).parameters
    assert params["options"].default is None
    for name in ("strategy", "native_max_side", "inversion", "steps"):  # overrides only
        assert params[name].default is None
    assert InpaintOptions.build() is DEFAULT_OPTIONS == InpaintOptions()


def test_flat_keywords_set_the_inversion_and_unknown_names_fail() -> None:
    opts = InpaintOptions.build(None, inversion="optimize", steps=3, inversion_lr=0.5, inversion_loss="l2", seed=4)
    assert opts.inversion == InversionConfig("optimize", 3, 0.5, "l2")
    assert opts.seed == 4
    assert opts.replace(steps=9).inversion == InversionConfig("optimize", 9, 0.5, "l2")  # the rest is kept
    assert opts.replace(inversion=InversionConfig()).inversion == InversionConfig()
    with pytest.raises(InvalidInputError, match=r"unknown inpainting option.*'stratgy'.*known: .*strategy"):
        InpaintOptions.build(stratgy="crop")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": "tile"}, "strategy must be one of"),
        ({"mask_threshold": 1.0}, "mask_threshold must be a number in"),
        ({"mask_threshold": True}, "mask_threshold"),
        ({"invert_mask": 1}, "invert_mask must be True or False"),
        ({"crop_margin": -0.1}, "crop margin"),
        ({"crop_margin": float("nan")}, "crop margin"),
        ({"native_max_side": 0}, "native_max_side"),
        ({"thin_side": 0}, "thin_side must be a positive number"),
        ({"thin_side": float("inf")}, "thin_side"),
        ({"thin_side": float("nan")}, "thin_side"),
        ({"thin_side": True}, "thin_side"),
        ({"flat_contrast": -0.01}, "flat_contrast must be a number >= 0"),
        ({"flat_contrast": float("inf")}, "flat_contrast"),
        ({"flat_contrast": float("nan")}, "flat_contrast"),
        ({"flat_contrast": True}, "flat_contrast"),
        ({"flat_contrast": "0.1"}, "flat_contrast"),
        ({"seed": 1.5}, "seed must be None or an integer"),
        ({"inversion": "gradient"}, "inversion must be one of"),
        ({"steps": -1}, "inversion steps"),
        ({"inversion_lr": 0}, "inversion lr"),
        ({"inversion_loss": "l3"}, "inversion loss"),
    ],
)
def test_bad_values_fail_with_the_option_named(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        InpaintOptions.build(**changes)


def test_options_are_frozen_and_serialisable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_OPTIONS.strategy = "crop"  # type: ignore[misc]
    data = InpaintOptions(seed=2).to_dict()
    assert data["seed"] == 2 and data["inversion"] == {"method": "learned", "steps": 1000, "lr": 0.01, "loss": "l1"}


def test_importing_the_options_does_not_load_torch() -> None:
    code = "import sys, dpinpaint.options; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


@pytest.mark.parametrize("seed", [2**64, -(2**63) - 1, 2**70])
def test_seeds_outside_torchs_range_are_refused(seed: int) -> None:
    with pytest.raises(InvalidInputError, match=r"seed must be None or an integer in -2\*\*63\.\.2\*\*64-1"):
        InpaintOptions(seed=seed)
    assert InpaintOptions(seed=2**64 - 1).seed == 2**64 - 1
