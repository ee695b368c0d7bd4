"""Choose ``flat_contrast`` (how flat the surroundings of a hole must be for a smooth fill) on
validation photos only; the test photos are never used.

Each value is scored as users meet it, through the public ``inpaint`` path: one thin scratch and
one set of text strokes per photo at its own size, hole PSNR against OpenCV's Telea and NS, on
each validation folder given (the demo's: ``demo-data/validation`` and the 33 wildlife photos of
``gather_full_size.py wildlife``). The baselines run once per folder and kind; the model once per
value. ``OUTPUT/flat.md`` holds the table (photos better than Telea, the mean of the per-photo
margins, photos better than NS)::

    python examples/demo/retrain/tune_flat.py dpinpaint/pretrained/demo demo-data/validation \\
        demo-data/validation-wildlife --output tune-flat/

The default, :data:`dpinpaint.options.FLAT_CONTRAST`, was chosen this way (docs/api.md,
"Flat surroundings"): the best mean scratch margin on both folders, text strokes level.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scoring.py, beside this script
from scoring import THIN_BASELINES, per_photo, thin

from dpinpaint.files import IMAGE_EXTENSIONS

VALUES = (0.0, 0.005, 0.01, 0.02, 0.04, 0.08)
KINDS = ("scratch", "text")


def _values(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}") from None
    if not values or any(not 0 <= v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected numbers >= 0, got {text!r}")
    return values


def score(model: str, folder: Path, output: Path, kind: str, value: float) -> tuple[int, int, float, int]:
    """``(photos better than Telea, photos, mean margin over Telea in dB, photos better than NS)``."""
    num = sum(1 for p in folder.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS)
    reference = thin(output / folder.name / f"{kind}-baselines", folder, None, kind, num)
    result = thin(
        output / folder.name / f"{kind}-{value:g}", folder, model, kind, num, baselines=(), flat_contrast=value
    )
    telea = per_photo(result, THIN_BASELINES[0], reference)
    ns = per_photo(result, THIN_BASELINES[1], reference)
    margin = statistics.fmean(ours - theirs for _, ours, theirs in telea) if telea else float("nan")
    return sum(o > t for _, o, t in telea), len(telea), margin, sum(o > t for _, o, t in ns)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the model's checkpoint folder (or name)")
    parser.add_argument("folders", type=Path, nargs="+", help="VALIDATION photo folders")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--values", type=_values, default=list(VALUES), help="flat_contrast values, comma-separated")
    args = parser.parse_args(argv)
    header = "| flat_contrast | " + " | ".join(f"{f.name} {k}" for f in args.folders for k in KINDS) + " |"
    lines = [f"# `flat_contrast` for `{args.model}` (validation photos)", "", header]
    lines.append("|---|" + "---:|" * (len(args.folders) * len(KINDS)))
    for value in args.values:
        cells = []
        for folder in args.folders:
            for kind in KINDS:
                won, photos, margin, ns = score(args.model, folder, args.output, kind, value)
                cells.append(f"{won}/{photos}, {margin:+.2f} dB (NS {ns}/{photos})")
        lines.append(f"| {value:g} | " + " | ".join(cells) + " |")
        print(lines[-1], flush=True)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "flat.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
