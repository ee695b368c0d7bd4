"""Choose among a run's snapshots on the validation photos only (issue 21's rule), never on the test photos.

Each snapshot (``RUN/snapshots/step-N/``, the averaged model as ``final/`` would be) is scored as
users meet it, through ``dpinpaint.evaluate`` and so the public ``inpaint`` path, beside OpenCV's
Telea and Navier-Stokes and scikit-image's biharmonic inpainting:

- irregular holes of 10-20% ... 40-50% at long side 256 (seeded masks, seed 0);
- thin scratches at the photos' own size (one mask per photo).

A snapshot's score is the number of its wins against the best baseline (hole PSNR, PSNR, SSIM,
relative l1, per group and on average: 20 comparisons), then the number of photos where its
scratch hole PSNR beats Telea's, then its mean hole-PSNR margin. The table is written to
``OUTPUT/choice.md`` and the chosen folder printed. Scores already in ``OUTPUT`` (the same
snapshot files, photos and protocol) are read back, so snapshots can be scored as a run makes
them and again at its end for the price of the new ones::

    python examples/demo/retrain/choose_snapshot.py runs/demo/snapshots demo-data/validation --output choose/
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scoring.py, beside this script
from scoring import BASELINES, against_best, irregular, irregular_score, median, per_photo, thin, thin_score


@dataclass
class Score:
    name: str
    wins: int
    comparisons: int
    scratch_wins: int
    scratch_photos: int
    hole_margin: float
    scratch_median: float
    telea_median: float

    def key(self) -> tuple[int, int, float]:
        return (self.wins, self.scratch_wins, self.hole_margin)


def score_snapshot(folder: Path, data: Path, output: Path, num: int) -> Score:
    """Evaluate one checkpoint folder on ``data`` (validation photos) and count its wins."""
    wins, comparisons, margin = irregular_score(
        against_best(irregular(output / "irregular", data, str(folder), 256, num))
    )
    pairs = per_photo(thin(output / "scratch", data, str(folder), "scratch", num))
    scratch_wins, photos, scratch_median = thin_score(pairs)
    return Score(
        folder.name,
        wins,
        comparisons,
        scratch_wins,
        photos,
        margin,
        scratch_median,
        median([telea for _, _, telea in pairs]),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshots", type=Path, help="a run's snapshots/ folder (or any folder of checkpoint folders)")
    parser.add_argument("data", type=Path, help="the VALIDATION photos (never the test photos)")
    parser.add_argument("--output", type=Path, required=True, help="where the reports and choice.md go")
    parser.add_argument("--num", type=int, default=100, help="photos used (the first N; default 100)")
    parser.add_argument("--also", type=Path, action="append", default=[], help="another checkpoint to compare")
    parser.add_argument("--last", type=int, default=0, help="only the last N snapshots (by step; default all)")
    args = parser.parse_args(argv)
    folders = sorted(
        (p for p in args.snapshots.iterdir() if (p / "config.json").is_file()),
        key=lambda p: int(p.name.rsplit("-", 1)[-1]) if p.name.rsplit("-", 1)[-1].isdigit() else -1,
    )
    folders = folders[-args.last :] if args.last > 0 else folders
    folders += args.also
    if not folders:
        print(f"no checkpoint folders in {args.snapshots}", file=sys.stderr)
        return 2
    scores = [score_snapshot(f, args.data, args.output / f.name, args.num) for f in folders]
    best = max(scores, key=Score.key)
    lines = [
        f"Validation photos: {args.data} (irregular 10-50% at long side 256 against the best of "
        f"{', '.join(BASELINES)}; thin scratches at full size against opencv-telea)",
        "",
        "| snapshot | wins | scratch: better than Telea | scratch median hole PSNR (Telea) | hole PSNR margin (average) |",
        "|---|---:|---:|---:|---:|",
    ]
    for s in scores:
        mark = " **chosen**" if s is best else ""
        lines.append(
            f"| {s.name}{mark} | {s.wins}/{s.comparisons} | {s.scratch_wins}/{s.scratch_photos} | "
            f"{s.scratch_median:.2f} ({s.telea_median:.2f}) | {s.hole_margin:+.2f} dB |"
        )
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "choice.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (args.output / "choice.json").write_text(json.dumps([s.__dict__ for s in scores], indent=2), encoding="utf-8")
    print("\n".join(lines))
    print(next(f for f in folders if f.name == best.name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
