"""Choose a demo model's inference settings on the validation photos only: ``native_max_side``
(thick holes) and ``thin_side`` (thin ones). The test photos are never used.

The defaults (:data:`dpinpaint.strategies.NATIVE_SCALE` times the model's resolution, and
:data:`dpinpaint.strategies.THIN_SIDE`) were chosen this way for the current weights; a model
trained on other crops may prefer others. Each setting is scored as users meet it, through the
public ``inpaint`` path:

- ``native_max_side``: irregular holes of 10-50% at long side 768 against the best of Telea, NS
  and biharmonic (20 comparisons), then the mean hole-PSNR margin;
- ``thin_side``: thin scratches and text strokes at the photos' own size against Telea (photos
  won, then the median hole PSNR).

The baselines run once; the model once per setting. ``OUTPUT/tune.md`` holds the tables::

    python examples/demo/retrain/tune_inference.py choose/step-00006000 demo-data/validation --output tune/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scoring.py, beside this script
from scoring import BASELINES, THIN_BASELINES, against_best, irregular, median, per_photo, thin

NATIVE_MAX_SIDES = (128, 192, 256, 384, 512)
THIN_SIDES = (4.0, 8.0, 16.0, 32.0, 64.0)
LONG_SIDE = 768


def _sides(text: str) -> list[int]:
    """``--native-max-sides``: positive whole numbers of pixels."""
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(not (v >= 1 and v == int(v)) for v in values):
        raise argparse.ArgumentTypeError(f"expected whole numbers of pixels, e.g. 128,256, got {text!r}")
    return [int(v) for v in values]


def _thicknesses(text: str) -> list[float]:
    """``--thin-sides``: positive numbers of pixels."""
    values = [float(v) for v in text.split(",") if v.strip()]
    if not values or any(not 0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected positive numbers of pixels, e.g. 4,8,16, got {text!r}")
    return values


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the chosen checkpoint folder")
    parser.add_argument("data", type=Path, help="the VALIDATION photos (never the test photos)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--num", type=int, default=100, help="photos used (the first N; default 100)")
    parser.add_argument("--native-max-sides", type=_sides, default=list(NATIVE_MAX_SIDES))
    parser.add_argument("--thin-sides", type=_thicknesses, default=list(THIN_SIDES))
    args = parser.parse_args(argv)
    out: Path = args.output
    lines = [f"# Inference settings of `{args.model}` on {args.data} (validation)", ""]

    reference = irregular(out / "baselines-768", args.data, None, LONG_SIDE, args.num)
    rows = []
    for side in args.native_max_sides:
        result = irregular(out / f"native-{side}", args.data, args.model, LONG_SIDE, args.num, (), native_max_side=side)
        comparisons = against_best(result, BASELINES, reference)
        margin = next(c.margin for c in comparisons if c.metric == "hole_psnr" and c.column == "average")
        rows.append((sum(c.win for c in comparisons), margin, side, len(comparisons)))
    best_side = max(rows)[2]
    lines += [
        f"## native_max_side: irregular 10-50% at long side {LONG_SIDE} against the best of {', '.join(BASELINES)}",
        "",
        "| native_max_side | wins | hole PSNR margin (average) |",
        "|---:|---:|---:|",
        *[f"| {s}{' **chosen**' if s == best_side else ''} | {w}/{n} | {m:+.2f} dB |" for w, m, s, n in rows],
        "",
    ]

    kinds = ("scratch", "text")
    bases = {m: thin(out / f"{m}-baselines", args.data, None, m, args.num, THIN_BASELINES) for m in kinds}
    scored = []  # (total wins, sum of medians, value, {kind: (wins, photos, median)})
    for value in args.thin_sides:
        per_kind = {}
        for m in kinds:
            result = thin(
                out / f"{m}-thin-{value:g}", args.data, args.model, m, args.num, (), thin_side=value,
                native_max_side=best_side,
            )  # fmt: skip
            pairs = per_photo(result, "opencv-telea", bases[m])
            per_kind[m] = (sum(o > t for _, o, t in pairs), len(pairs), median([o for _, o, _ in pairs]))
        scored.append(
            (sum(w for w, _, _ in per_kind.values()), sum(md for _, _, md in per_kind.values()), value, per_kind)
        )
    best = max(scored, key=lambda r: (r[0], r[1]))[2]
    telea = {m: median([s.hole_psnr for s in bases[m].scores if s.method == "opencv-telea"]) for m in kinds}
    lines += [
        f"## thin_side (with native_max_side {best_side}): scratches and text strokes at the photos' own size "
        "against Telea",
        "",
        f"Telea's median hole PSNR: scratches {telea['scratch']:.2f} dB, text {telea['text']:.2f} dB.",
        "",
        "| thin_side | scratches: better than Telea | median | text: better than Telea | median |",
        "|---:|---:|---:|---:|---:|",
    ]
    for _, _, value, k in scored:
        mark = " **chosen**" if value == best else ""
        cells = " | ".join(f"{k[m][0]}/{k[m][1]} | {k[m][2]:.2f}" for m in kinds)
        lines.append(f"| {value:g}{mark} | {cells} |")
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
