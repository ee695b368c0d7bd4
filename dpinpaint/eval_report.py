"""The files an evaluation writes: ``report.md`` (Table-1 blocks), ``report.csv``, ``report.json``, ``worst/``.

Used by :mod:`dpinpaint.evaluate`; the table is ``method -> column -> metric -> value``.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import InvalidInputError
from .files import atomic_write

__all__ = ["ImageScore", "EvalResult", "format_table", "write_report", "METRICS"]

#: Rows of a method's block, in order.
METRICS = ("l1", "ssim", "psnr", "hole_psnr", "fid", "time_ms")
_NAMES = {
    "l1": "l1 (%) ↓",
    "ssim": "SSIM ↑",
    "psnr": "PSNR ↑",
    "hole_psnr": "hole PSNR ↑",
    "fid": "FID ↓",
    "time_ms": "time (ms/image)",
}


@dataclass
class ImageScore:
    method: str
    group: str
    image: str
    mask_index: int
    hole_ratio: float
    l1: float
    ssim: float
    psnr: float
    hole_psnr: float = math.nan
    time_ms: float = math.nan
    size: str = ""


@dataclass
class EvalResult:
    """Per-method, per-group metrics and the per-image scores."""

    table: dict[str, dict[str, dict[str, float | None]]]  # method -> column -> metric -> value
    scores: list[ImageScore]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"meta": self.meta, "table": self.table, "scores": [asdict(s) for s in self.scores]},
            indent=2,
            default=lambda v: None if isinstance(v, float) and not math.isfinite(v) else v,
        )

    @classmethod
    def from_json(cls, text: str) -> EvalResult:
        """The result :meth:`to_json` wrote (an evaluation's ``report.json``), read back.

        Raises:
            InvalidInputError: ``text`` is not such a report.
        """
        try:
            data = json.loads(text)
            rows: list[dict[str, Any]] = [
                {k: math.nan if v is None and k in _FLOAT_SCORES else v for k, v in s.items()} for s in data["scores"]
            ]
            scores = [ImageScore(**row) for row in rows]
            table, meta = data["table"], data.get("meta", {})
            if not isinstance(table, dict) or not isinstance(meta, dict):
                raise TypeError("its table and meta must be objects")
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"not a dpinpaint evaluation report (report.json): {exc}") from exc
        return cls(table, scores, meta)


#: The float fields of :class:`ImageScore` (a missing value is NaN; read back from null too).
_FLOAT_SCORES = {f.name for f in fields(ImageScore) if f.type in (float, "float")}


def _cell(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric == "l1":
        return f"{100 * value:.2f}"
    if metric == "ssim":
        return f"{value:.4f}"
    if metric == "time_ms":
        return f"{value:.0f}"
    return f"{value:.2f}"


def format_table(table: dict[str, dict[str, dict[str, float | None]]], columns: list[str]) -> str:
    """The Table-1-shaped markdown: one block per method, rows l1 (%) / SSIM / PSNR / hole PSNR / FID / time.

    A row that no column of a method has (e.g. a table from an older version) is left out.
    """
    lines = []
    for method, cols in table.items():
        lines.append(f"**{method}**\n")
        lines.append("| metric | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for metric in METRICS:
            if metric not in ("l1", "ssim", "psnr", "fid") and not any(metric in cols.get(c, {}) for c in columns):
                continue
            cells = [_cell(metric, cols.get(col, {}).get(metric)) for col in columns]
            lines.append(f"| {_NAMES[metric]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _save_png(path: Path, pixels: np.ndarray) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))


def _grid(rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """Rows of masked | output | ground truth; rows of different sizes are scaled to the smallest height."""
    height = min(r[0].shape[0] for r in rows)
    strips = []
    for row in rows:
        strip = np.concatenate(row, axis=1)
        if strip.shape[0] != height:
            width = max(1, round(strip.shape[1] * height / strip.shape[0]))
            strip = np.asarray(Image.fromarray(strip).resize((width, height), Image.Resampling.BILINEAR))
        strips.append(strip)
    width = max(s.shape[1] for s in strips)
    padded = [np.pad(s, ((0, 0), (0, width - s.shape[1]), (0, 0)), constant_values=255) for s in strips]
    return np.concatenate(padded, axis=0)


def _blend_note(meta: dict[str, Any]) -> str:
    """``", blend poisson, flat_contrast 0.02"`` from the run's options (nothing for reports written
    before the options)."""
    options = meta.get("options") or {}
    blend, flat = options.get("blend"), options.get("flat_contrast")
    note = f", blend {blend}" if blend else ""
    return note + (f", flat_contrast {flat:g}" if blend == "poisson" and flat is not None else "")


def _data_line(meta: dict[str, Any]) -> str:
    n = f"{meta['images']} images"
    if meta.get("long_side") == "native":
        return f"- data: {meta['data']} ({n} at their own size)"
    if meta.get("long_side"):
        return f"- data: {meta['data']} ({n}, scaled to a long side of {meta['long_side']} px; smaller ones kept)"
    small = meta.get("skipped_smaller_than_size") or []
    skipped = (
        f"; {len(small)} skipped as smaller than {meta['size']} px on their short side (never enlarged; "
        "--long-side native scores them)"
        if small
        else ""
    )
    return f"- data: {meta['data']} ({n}, centre-cropped and resized to {meta['size']}x{meta['size']}{skipped})"


def write_report(
    out_dir: Path,
    result: EvalResult,
    columns: list[str],
    worst_rows: dict[str, list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]],
) -> None:
    """Write ``report.md``, ``report.json``, ``report.csv`` and ``worst/<method>.png`` to ``out_dir``."""
    meta = result.meta
    inversion = []
    if meta["inversion"] == "none":
        inversion = ["- inversion: none (feed-forward path only)"]
    elif meta["inversion"]:
        inversion = [f"- inversion: {meta['inversion']}" + (f", {meta['steps']} steps" if meta["steps"] else "")]
    header = [
        "# Evaluation report",
        "",
        f"- model: {meta['model'] or '(baselines only)'}" + (f" @ {meta['revision']}" if meta["revision"] else ""),
        *inversion,
        *([f"- strategy: {meta['strategy']}" + _blend_note(meta)] if meta.get("model") else []),
        _data_line(meta),
        f"- masks: {meta['masks']}" + (f", seed {meta['mask_seed']}" if meta["mask_seed"] is not None else ""),
        f"- FID: {meta['fid']}; dpinpaint {meta['dpinpaint_version']}; {meta['date']}",
        "",
        "Relative l1 is sum|gt - out| / sum(gt + out) over the whole image, in percent; SSIM as "
        "scikit-image's structural_similarity (7x7 uniform window, RGB averaged); PSNR in dB over the whole "
        "image, hole PSNR over the hole pixels only; time is the wall time per image of the method's call "
        "(reading and writing excluded); the average column is over all images of all groups.",
        "",
    ]
    text = "\n".join(header) + "\n" + format_table(result.table, columns)
    atomic_write(out_dir / "report.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    atomic_write(out_dir / "report.json", lambda tmp: Path(tmp).write_text(result.to_json(), encoding="utf-8"))

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["method", "group", "image", "mask_index", "hole_ratio", "l1", "ssim", "psnr",
                             "hole_psnr", "time_ms", "size"])  # fmt: skip
            for s in result.scores:
                writer.writerow([s.method, s.group, s.image, s.mask_index, f"{s.hole_ratio:.4f}", f"{s.l1:.6f}",
                                 f"{s.ssim:.6f}", f"{s.psnr:.4f}", f"{s.hole_psnr:.4f}", f"{s.time_ms:.1f}",
                                 s.size])  # fmt: skip

    atomic_write(out_dir / "report.csv", write_csv)
    (out_dir / "worst").mkdir(exist_ok=True)
    for method, rows in worst_rows.items():
        if not rows:
            continue
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in method)
        _save_png(out_dir / "worst" / f"{name}.png", _grid([(a, b, c) for _, a, b, c in rows]))
