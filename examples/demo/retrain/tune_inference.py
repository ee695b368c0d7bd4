"""Choose a demo model's inference settings on the validation photos only: ``blend`` (Poisson
blending or the plain composite), ``native_max_side`` (thick holes) and ``thin_side`` (thin ones).
The test photos are never used.

The defaults (:data:`dpinpaint.strategies.NATIVE_SCALE` times the model's resolution, and
:data:`dpinpaint.strategies.THIN_SIDE`) were chosen this way for the current weights; a model
trained on other crops may prefer others. Each setting is scored as users meet it, through the
public ``inpaint`` path:

- ``blend``: both measures below, at the default sides; the blend with more wins in all (irregular
  comparisons, scratch and text photos) is kept for the other two;
- ``native_max_side``: irregular holes of 10-50% at long side 768 against the best of Telea, NS
  and biharmonic (20 comparisons), then the mean hole-PSNR margin;
- ``thin_side``: thin scratches and text strokes at the photos' own size against Telea (photos
  won, then the median hole PSNR), among the values that keep the irregular comparisons at long
  side 768 won with the chosen ``native_max_side`` (a larger ``thin_side`` also raises the working
  scale of thinner irregular holes).

The baselines run once; the model once per setting. ``OUTPUT/tune.md`` holds the tables::

    python examples/demo/retrain/tune_inference.py choose/step-00006000 demo-data/validation --output tune/
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scoring.py, beside this script
from scoring import (
    BASELINES,
    THIN_BASELINES,
    against_best,
    irregular,
    irregular_score,
    median,
    per_photo,
    thin,
    thin_score,
)

from dpinpaint.eval_report import EvalResult
from dpinpaint.options import BLENDS

NATIVE_MAX_SIDES = (128, 192, 256, 384, 512)
THIN_SIDES = (4.0, 8.0, 16.0, 32.0, 64.0)
KINDS = ("scratch", "text")
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


def _blends(text: str) -> list[str]:
    """``--blends``: names from :data:`dpinpaint.options.BLENDS`."""
    values = [v.strip() for v in text.split(",") if v.strip()]
    if not values or any(v not in BLENDS for v in values):
        raise argparse.ArgumentTypeError(f"expected some of {','.join(BLENDS)}, got {text!r}")
    return values


def _thin_score(result: EvalResult, reference: EvalResult) -> tuple[int, int, float]:
    """``(photos better than Telea, photos, the model's median hole PSNR)`` of a thin-mask run."""
    return thin_score(per_photo(result, "opencv-telea", reference))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the chosen checkpoint folder")
    parser.add_argument("data", type=Path, help="the VALIDATION photos (never the test photos)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--num", type=int, default=100, help="photos used (the first N; default 100)")
    parser.add_argument("--native-max-sides", type=_sides, default=list(NATIVE_MAX_SIDES))
    parser.add_argument("--thin-sides", type=_thicknesses, default=list(THIN_SIDES))
    parser.add_argument("--blends", type=_blends, default=list(BLENDS), help="blends to compare (default: all)")
    args = parser.parse_args(argv)
    out: Path = args.output
    lines = [f"# Inference settings of `{args.model}` on {args.data} (validation)", ""]
    reference = irregular(out / "baselines-768", args.data, None, LONG_SIDE, args.num)
    bases = {m: thin(out / f"{m}-baselines", args.data, None, m, args.num, THIN_BASELINES) for m in KINDS}

    blend_rows = []  # (total wins, margin, blend, irregular wins, comparisons, {kind: (wins, photos, median)})
    for blend in args.blends:
        result = irregular(out / f"blend-{blend}", args.data, args.model, LONG_SIDE, args.num, (), blend=blend)
        wins, n, margin = irregular_score(against_best(result, BASELINES, reference))
        kinds = {m: _thin_score(thin(out / f"{m}-blend-{blend}", args.data, args.model, m, args.num, (), blend=blend),
                                bases[m]) for m in KINDS}  # fmt: skip
        blend_rows.append((wins + sum(k[0] for k in kinds.values()), margin, blend, wins, n, kinds))
    best_blend = max(blend_rows, key=lambda r: (r[0], r[1]))[2]
    lines += [
        f"## blend: irregular 10-50% at long side {LONG_SIDE} against the best of {', '.join(BASELINES)}; scratches "
        "and text strokes at the photos' own size against Telea",
        "",
        "| blend | irregular wins | hole PSNR margin (average) | scratches: better than Telea | median "
        "| text: better than Telea | median |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for _, margin, blend, wins, n, k in blend_rows:
        cells = " | ".join(f"{k[m][0]}/{k[m][1]} | {k[m][2]:.2f}" for m in KINDS)
        lines.append(
            f"| {blend}{' **chosen**' if blend == best_blend else ''} | {wins}/{n} | {margin:+.2f} dB | {cells} |"
        )
    lines.append("")

    rows = []
    for side in args.native_max_sides:
        result = irregular(
            out / f"native-{side}", args.data, args.model, LONG_SIDE, args.num, (), native_max_side=side,
            blend=best_blend,
        )  # fmt: skip
        wins, n, margin = irregular_score(against_best(result, BASELINES, reference))
        rows.append((wins, margin, side, n))
    best_side = max(rows)[2]
    lines += [
        f"## native_max_side (blend {best_blend}): irregular 10-50% at long side {LONG_SIDE} against the best of "
        f"{', '.join(BASELINES)}",
        "",
        "| native_max_side | wins | hole PSNR margin (average) |",
        "|---:|---:|---:|",
        *[f"| {s}{' **chosen**' if s == best_side else ''} | {w}/{n} | {m:+.2f} dB |" for w, m, s, n in rows],
        "",
    ]

    kept = max(rows)[0]  # the irregular wins of the chosen native_max_side
    scored = []  # (keeps them, thin wins, sum of medians, value, irregular wins, {kind: (wins, photos, median)})
    for value in args.thin_sides:
        result = irregular(
            out / f"irregular-thin-{value:g}", args.data, args.model, LONG_SIDE, args.num, (), thin_side=value,
            native_max_side=best_side, blend=best_blend,
        )  # fmt: skip
        wins, total, _ = irregular_score(against_best(result, BASELINES, reference))
        per_kind = {}
        for m in KINDS:
            result = thin(
                out / f"{m}-thin-{value:g}", args.data, args.model, m, args.num, (), thin_side=value,
                native_max_side=best_side, blend=best_blend,
            )  # fmt: skip
            per_kind[m] = _thin_score(result, bases[m])
        thin_wins = sum(w for w, _, _ in per_kind.values())
        medians = sum(md for _, _, md in per_kind.values())
        scored.append((wins >= kept, thin_wins, medians, value, f"{wins}/{total}", per_kind))
    best = max(scored, key=lambda r: (r[0], r[1], r[2]))[3]
    telea = {m: median([s.hole_psnr for s in bases[m].scores if s.method == "opencv-telea"]) for m in KINDS}
    lines += [
        f"## thin_side (blend {best_blend}, native_max_side {best_side}): scratches and text strokes at the photos' own size "
        "against Telea",
        "",
        f"Telea's median hole PSNR: scratches {telea['scratch']:.2f} dB, text {telea['text']:.2f} dB.",
        "",
        f"Irregular 10-50% at long side {LONG_SIDE}: comparisons won with each value ({kept} with native_max_side "
        f"{best_side} alone); the chosen value keeps them.",
        "",
        "| thin_side | irregular wins | scratches: better than Telea | median | text: better than Telea | median |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for _, _, _, value, wins, k in scored:
        mark = " **chosen**" if value == best else ""
        cells = " | ".join(f"{k[m][0]}/{k[m][1]} | {k[m][2]:.2f}" for m in KINDS)
        lines.append(f"| {value:g}{mark} | {wins} | {cells} |")
    lines.append("")
    out.mkdir(parents=True, exist_ok=True)
    (out / "tune.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
