"""Score a demo model ONCE on the held-out test photos, against issue 21's bars; it chooses nothing.

The snapshot is chosen on the validation photos (``choose_snapshot.py``); this script then
measures the chosen one, as users meet it (the public ``inpaint`` path, default settings):

- irregular holes of 10-20% ... 40-50% on the held-out photos (``gather_photos.py heldout``) at
  long side 256 and 768, against the best of OpenCV Telea, OpenCV NS and scikit-image biharmonic on
  hole PSNR, PSNR, SSIM and relative l1, per group and on average (20 comparisons per size), and
  the time per image at 768;
- thin scratches and text strokes at the photos' own size, one mask per photo, on the full-size
  photos (``gather_photos.py wallpapers``: up to 1920x1080) and on the held-out photos: the photos
  where the model's hole PSNR beats Telea's.

It writes ``OUTPUT/test.md`` (the tables and the bars, passed or not), ``OUTPUT/test.json``,
``OUTPUT/thin.png`` (a scratch and text strokes on the first full-size photo: the holes, Telea's
fill, the model's, the photo; ``thin_picture.py``) and each run's report folder (the thin runs keep
their worst images, to look for ghosts of strokes)::

    python examples/demo/retrain/score_test.py dpinpaint/pretrained/demo --heldout demo-data/heldout \\
        --full demo-data/test-full --output test/

A second test set scores every part on one folder of full-size photos (``--heldout`` and ``--full``
the same: its thin masks then run once)::

    python examples/demo/retrain/score_test.py dpinpaint/pretrained/demo --heldout demo-data/test-lomiri \\
        --full demo-data/test-lomiri --output test-lomiri/
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scoring.py, beside this script
from scoring import Comparison, against_best, irregular, median, model_name, per_photo, thin
from thin_picture import thin_picture

SIZES = (256, 768)
#: Issue 21's bars: every irregular comparison won; thin masks better than Telea on this share of
#: the full-size photos (8 of 10); at most this many ms per image at long side 768.
THIN_SHARE = 0.8
MAX_MS_768 = 1000.0
_NAMES = {"hole_psnr": "hole PSNR", "psnr": "PSNR", "ssim": "SSIM", "l1": "rel. l1"}
_SHORT = {"opencv-telea": "Telea", "opencv-ns": "NS", "skimage-biharmonic": "biharmonic"}


def _value(metric: str, v: float) -> str:
    return f"{100 * v:.2f}%" if metric == "l1" else f"{v:.4f}" if metric == "ssim" else f"{v:.2f}"


def irregular_table(comparisons: list[Comparison]) -> list[str]:
    """One row per column: the model's value (bold when it wins) and the best baseline's."""
    columns = list(dict.fromkeys(c.column for c in comparisons))
    lines = ["| holes | " + " | ".join(_NAMES.values()) + " |", "|---" * (1 + len(_NAMES)) + "|"]
    for column in columns:
        cells = []
        for metric in _NAMES:
            c = next((c for c in comparisons if c.column == column and c.metric == metric), None)
            if c is None:
                cells.append("n/a")
                continue
            ours = _value(metric, c.ours)
            cells.append(f"{f'**{ours}**' if c.win else ours} vs {_value(metric, c.best)} ({_SHORT[c.best_method]})")
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    return lines


def thin_table(pairs: list[tuple[str, float, float]], ns: dict[str, float]) -> list[str]:
    lines = ["| photo | model | Telea | NS |", "|---|---:|---:|---:|"]
    for photo, ours, telea in sorted(pairs):
        mark = f"**{ours:.2f}**" if ours > telea else f"{ours:.2f}"
        lines.append(f"| {photo} | {mark} | {telea:.2f} | {ns.get(photo, float('nan')):.2f} |")
    lines.append(
        f"| median | {median([p[1] for p in pairs]):.2f} | {median([p[2] for p in pairs]):.2f} | "
        f"{median(list(ns.values())):.2f} |"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the chosen checkpoint folder (or model name)")
    parser.add_argument(
        "--heldout",
        type=Path,
        required=True,
        help="the held-out TEST photos (irregular holes; thin ones too unless --full)",
    )
    parser.add_argument("--full", type=Path, required=True, help="the full-size TEST photos (thin masks)")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--num", type=int, default=100, help="photos used per set (the first N; default 100)")
    args = parser.parse_args(argv)
    out: Path = args.output
    lines = [f"# `{args.model}` on the test photos", ""]
    bars: list[tuple[str, bool]] = []
    record: dict[str, object] = {"model": args.model}
    for size in SIZES:
        result = irregular(out / f"irregular-{size}", args.heldout, args.model, size, args.num)
        comparisons = against_best(result)
        wins = sum(c.win for c in comparisons)
        times = {m: result.table[m]["average"].get("time_ms") for m in result.table}
        model = model_name(result)
        lines += [
            f"## Irregular holes, long side {size} ({args.heldout}, {len(result.scores) // len(result.table)} "
            f"masks per method): {wins} of {len(comparisons)} won",
            "",
            *irregular_table(comparisons),
            "",
            "Time per image (ms): " + ", ".join(f"{_SHORT.get(m, m)} {t:.0f}" for m, t in times.items() if t),
            "",
        ]
        bars.append(
            (
                f"irregular 10-50% at long side {size}: every comparison won ({wins}/{len(comparisons)})",
                wins == len(comparisons),
            )
        )
        if size == 768:
            ms = float(times[model] or float("nan"))
            bars.append(
                (f"time at long side 768: at most {MAX_MS_768:.0f} ms per image ({ms:.0f} ms)", ms <= MAX_MS_768)
            )
        record[f"irregular-{size}"] = [c.__dict__ | {"win": c.win} for c in comparisons]
        record[f"time-{size}"] = times
    same = args.heldout.resolve() == args.full.resolve()
    sets = [(args.full, "full-size")] + ([] if same else [(args.heldout, "held-out")])
    for data, label in sets:
        for masks in ("scratch", "text"):
            result = thin(out / f"{masks}-{label}", data, args.model, masks, args.num, worst=4)
            pairs = per_photo(result, "opencv-telea")
            ns = {photo: theirs for photo, _, theirs in per_photo(result, "opencv-ns")}
            won = sum(ours > telea for _, ours, telea in pairs)
            lines += [
                f"## {masks.capitalize()} masks, {label} photos at their own size: better than Telea on {won} of {len(pairs)}",
                "",
            ]
            lines += [*thin_table(pairs, ns), ""]
            if label == "full-size":
                bars.append(
                    (
                        f"{masks} on full-size photos: better than Telea on {THIN_SHARE:.0%} ({won}/{len(pairs)})",
                        won >= THIN_SHARE * len(pairs) and bool(pairs),
                    )
                )
            record[f"{masks}-{label}"] = pairs
    picture = thin_picture(args.model, args.full, out / "thin.png")
    lines += [f"![A scratch and text strokes on the first full-size photo]({picture.name})", ""]
    lines[2:2] = ["## Bars", "", *[f"- [{'x' if ok else ' '}] {text}" for text, ok in bars], ""]
    out.mkdir(parents=True, exist_ok=True)
    (out / "test.md").write_text("\n".join(lines), encoding="utf-8")
    (out / "test.json").write_text(json.dumps(record | {"bars": bars}, indent=1), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
