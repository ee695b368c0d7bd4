"""Evaluation like the paper's Table 1: metrics per hole-ratio group, for a model and baselines.

:func:`evaluate` takes a folder of ground-truth images, prepares them the StyleGAN2 way
(centre crop to a square, Lanczos resize to the model's resolution), pairs them with masks
(a fixed, seeded set per hole-ratio group from :func:`dpinpaint.masks.mask_set`, or a folder of
masks grouped by their measured hole ratio), inpaints every pair with each method (the model,
and the classical ``cv2.inpaint`` baselines ``opencv-telea`` and ``opencv-ns``, which need no
weights), and writes a report:

- ``report.md``: one block per method, rows relative l1 (%), SSIM, PSNR, FID, one column per
  group and the average (over all images of all groups), as in Table 1;
- ``report.csv``: the per-image metrics; ``report.json``: everything, with the model, revision,
  data folder, mask kind and seed, and the package version;
- ``worst/<method>.png``: the worst-K images of each method by relative l1, as rows of masked
  input | output | ground truth.
"""

from __future__ import annotations

import csv
import datetime
import json
import logging
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from PIL import Image

from .batch import find_images
from .errors import BackendUnavailableError, InvalidInputError
from .files import atomic_write
from .masks import HOLE_GROUPS, group_label, group_of, hole_ratio, mask_set
from .metrics import psnr, relative_l1, ssim
from .train.data import prepare_image  # one implementation, shared with training

__all__ = ["BASELINES", "EvalResult", "evaluate", "prepare_image", "load_images", "format_table"]

logger = logging.getLogger(__name__)

#: Classical baselines: name -> cv2.inpaint flag.
BASELINES: dict[str, int] = {"opencv-telea": cv2.INPAINT_TELEA, "opencv-ns": cv2.INPAINT_NS}
_BASELINE_RADIUS = 3
_METRICS = ("l1", "ssim", "psnr", "fid")


def load_images(data: str | os.PathLike[str], size: int, num: int | None = None) -> tuple[list[str], list[np.ndarray]]:
    """The first ``num`` readable images of ``data`` (recursive, sorted), prepared with :func:`prepare_image`.

    Raises:
        InvalidInputError: the folder does not exist or holds no readable image.
    """
    folder = Path(data)
    if not folder.is_dir():
        raise InvalidInputError(f"--data {folder} is not a folder of images")
    files = [f for f, _ in find_images([folder], recursive=True)]
    names: list[str] = []
    images: list[np.ndarray] = []
    for f in files:  # the first ``num`` readable images; unreadable ones are skipped with a warning
        if num is not None and len(images) == num:
            break
        try:
            images.append(prepare_image(f, size))
            names.append(f.relative_to(folder).as_posix())
        except (InvalidInputError, OSError) as exc:
            logger.warning("skipping %s: %s", f, exc)
    if not images:
        raise InvalidInputError(f"no readable images in {folder}")
    return names, images


def _folder_masks(folder: Path, size: int, groups: Sequence[tuple[float, float]]) -> dict[tuple[float, float], list]:
    """Masks of a folder (white = hole), resized to ``size`` (nearest), grouped by measured hole ratio."""
    from .masks import read_mask

    grouped: dict[tuple[float, float], list[np.ndarray]] = {g: [] for g in groups}
    for f, _ in find_images([folder], recursive=True):
        hole, _ = read_mask(f)
        m: np.ndarray = hole[0].numpy().astype(np.uint8)
        if m.shape != (size, size):
            m = np.asarray(cv2.resize(m, (size, size), interpolation=cv2.INTER_NEAREST))
        group = group_of(hole_ratio(m.astype(bool)), groups)
        if group is not None:
            grouped[group].append(m.astype(bool))
    return grouped


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


def _baseline(flag: int) -> Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]:
    def run(images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        out = []
        for image, mask in zip(images, masks, strict=True):
            bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
            filled = cv2.inpaint(bgr, mask.astype(np.uint8) * 255, _BASELINE_RADIUS, flag)
            out.append(cv2.cvtColor(filled, cv2.COLOR_BGR2RGB))
        return out

    return run


def format_table(table: dict[str, dict[str, dict[str, float | None]]], columns: list[str]) -> str:
    """The Table-1-shaped markdown: one block per method, rows l1 (%) / SSIM / PSNR / FID."""
    names = {"l1": "l1 (%) ↓", "ssim": "SSIM ↑", "psnr": "PSNR ↑", "fid": "FID ↓"}
    lines = []
    for method, cols in table.items():
        lines.append(f"**{method}**\n")
        lines.append("| metric | " + " | ".join(columns) + " |")
        lines.append("|---|" + "---:|" * len(columns))
        for metric in _METRICS:
            cells = []
            for col in columns:
                value = cols.get(col, {}).get(metric)
                if value is None:
                    cells.append("n/a")
                elif metric == "l1":
                    cells.append(f"{100 * value:.2f}")
                elif metric == "ssim":
                    cells.append(f"{value:.4f}")
                else:
                    cells.append(f"{value:.2f}")
            lines.append(f"| {names[metric]} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def evaluate(
    output: str | os.PathLike[str],
    data: str | os.PathLike[str],
    *,
    model: str | None = None,
    revision: str | None = None,
    masks: str = "irregular",
    groups: Sequence[tuple[float, float]] = HOLE_GROUPS,
    num: int = 100,
    seed: int = 0,
    baselines: Sequence[str] = (),
    inversion: str = "learned",
    steps: int = 1000,
    size: int | None = None,
    worst: int = 8,
    compute_fid: bool = True,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate ``model`` and ``baselines`` on ``data`` and write the report to ``output``.

    Args:
        masks: ``"irregular"`` / ``"regular"`` (generated, ``num`` per group from ``seed``) or a
            folder of masks (grouped by measured hole ratio; image ``i`` of a group gets mask
            ``i`` modulo the group's masks).
        num: images used (the first ``num`` of ``data``); with generated masks each image is
            evaluated once per group.
        size: the resolution (default: the model's; 256 without a model).
        compute_fid: FID per group (needs the ``eval`` extra); ``n/a`` without it.

    Raises:
        InvalidInputError: no method, an unknown baseline, bad data or masks.
    """
    from tqdm.auto import tqdm

    from . import __version__

    unknown = [b for b in baselines if b not in BASELINES]
    if unknown:
        raise InvalidInputError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    if model is None and not baselines:
        raise InvalidInputError("nothing to evaluate: give --model and/or --baseline")
    if num < 1:
        raise InvalidInputError(f"--num must be >= 1, got {num}")
    methods: dict[str, Callable[[list[np.ndarray], list[np.ndarray]], list[np.ndarray]]] = {}
    inp = None
    if model is not None:
        from .inpainter import Inpainter

        inp = Inpainter.from_pretrained(model, revision=revision, device=device)
        inversion_config = inp._inversion_config(inversion, steps, 0.01, "l1")
        size = size or inp.resolution

        def run_model(images: list[np.ndarray], ms: list[np.ndarray]) -> list[np.ndarray]:
            assert inp is not None
            return list(
                inp.inpaint_batch(
                    images,
                    ms,
                    batch_size=batch_size,
                    progress=False,
                    strategy="resize",
                    inversion=inversion_config.method,
                    steps=inversion_config.steps,
                )
            )

        methods[model] = run_model
    for name in baselines:
        methods[name] = _baseline(BASELINES[name])
    size = size or 256

    names, images = load_images(data, size, num)
    mask_folder = None if masks in ("irregular", "regular") else Path(masks)
    if mask_folder is not None and not mask_folder.is_dir():
        raise InvalidInputError(f"--masks must be 'irregular', 'regular' or a folder of masks, got {masks!r}")
    by_group: dict[tuple[float, float], list[np.ndarray]]
    if mask_folder is not None:
        by_group = _folder_masks(mask_folder, size, groups)
        empty = [group_label(g) for g, ms in by_group.items() if not ms]
        if len(empty) == len(groups):
            raise InvalidInputError(
                f"no mask in {mask_folder} falls in the groups {', '.join(map(group_label, groups))}"
            )
        if empty:
            logger.warning("no masks in group(s) %s", ", ".join(empty))
    else:
        by_group = {g: mask_set(len(images), size, kind=masks, group=g, seed=seed) for g in groups}

    fid_features = None
    if compute_fid:
        try:
            from .metrics import InceptionFeatures

            fid_features = InceptionFeatures(device="cpu")
        except BackendUnavailableError as exc:
            logger.warning("FID skipped: %s", exc)

    out_dir = Path(output)
    out_dir.mkdir(parents=True, exist_ok=True)
    scores: list[ImageScore] = []
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    worst_rows: dict[str, list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]] = {}
    gt_features: dict[str, np.ndarray] = {}
    total = len(methods) * len(images) * sum(1 for ms in by_group.values() if ms)
    with tqdm(total=total, disable=not progress, unit="image", desc="evaluating") as bar:
        for method, run in methods.items():
            table[method] = {}
            all_out: list[np.ndarray] = []
            all_gt: list[np.ndarray] = []
            rows: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
            for group, group_masks in by_group.items():
                if not group_masks:
                    continue
                label = group_label(group)
                ms = [group_masks[i % len(group_masks)] for i in range(len(images))]
                outs = run(images, ms)
                group_scores = []
                for i, (gt, out, m) in enumerate(zip(images, outs, ms, strict=True)):
                    s = ImageScore(method, label, names[i], i % len(group_masks), hole_ratio(m),
                                   relative_l1(gt, out), ssim(gt, out), psnr(gt, out))  # fmt: skip
                    group_scores.append(s)
                    rows.append((s.l1, _masked_view(gt, m), out, gt))
                    bar.update(1)
                scores.extend(group_scores)
                table[method][label] = _summarise(group_scores)
                table[method][label]["fid"] = _fid(fid_features, images, outs, gt_features, label)
                all_out.extend(outs)
                all_gt.extend(images)
            table[method]["average"] = _summarise([s for s in scores if s.method == method])
            table[method]["average"]["fid"] = _fid(fid_features, all_gt, all_out, gt_features, "average")
            worst_rows[method] = sorted(rows, key=lambda r: -r[0])[:worst]

    columns = [group_label(g) for g, ms in by_group.items() if ms] + ["average"]
    meta = {
        "dpinpaint_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "revision": revision,
        # None without a model, "none" for a model without an inversion path (feed-forward only).
        "inversion": None if inp is None else inversion if inp.config.uses_inversion else "none",
        "steps": steps if inp is not None and inp.config.uses_inversion and inversion != "learned" else None,
        "data": str(Path(data)),
        "images": len(images),
        "size": size,
        "masks": masks,
        "mask_seed": seed if mask_folder is None else None,
        "groups": columns[:-1],
        "baselines": list(baselines),
        "fid": "computed"
        if fid_features is not None
        else ("skipped (--no-fid)" if not compute_fid else "not computed (install dpinpaint[eval])"),
    }
    result = EvalResult(table, scores, meta)
    _write_report(out_dir, result, columns, worst_rows)
    return result


def _save_png(path: Path, pixels: np.ndarray) -> None:
    atomic_write(path, lambda tmp: Image.fromarray(pixels).save(tmp, format="PNG"))


def _masked_view(gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    view = gt.copy()
    view[mask] = 255
    return view


def _summarise(scores: list[ImageScore]) -> dict[str, float | None]:
    return {
        "l1": float(np.mean([s.l1 for s in scores])),
        "ssim": float(np.mean([s.ssim for s in scores])),
        "psnr": float(np.mean([s.psnr for s in scores if math.isfinite(s.psnr)] or [float("inf")])),
    }


def _fid(
    extractor: Any, gt: list[np.ndarray], out: list[np.ndarray], cache: dict[str, np.ndarray], key: str
) -> float | None:
    if extractor is None or len(gt) < 2:
        return None
    from .metrics import fid_from_features

    if key not in cache:
        cache[key] = extractor(gt)
    return float(fid_from_features(cache[key], extractor(out)))


def _write_report(
    out_dir: Path,
    result: EvalResult,
    columns: list[str],
    worst_rows: dict[str, list[tuple[float, np.ndarray, np.ndarray, np.ndarray]]],
) -> None:
    meta = result.meta
    header = [
        "# Evaluation report",
        "",
        f"- model: {meta['model'] or '(baselines only)'}" + (f" @ {meta['revision']}" if meta["revision"] else ""),
        *(
            [
                "- inversion: none (feed-forward path only)"
                if meta["inversion"] == "none"
                else f"- inversion: {meta['inversion']}" + (f", {meta['steps']} steps" if meta["steps"] else "")
            ]
            if meta["inversion"]
            else []
        ),
        f"- data: {meta['data']} ({meta['images']} images, centre-cropped and resized to {meta['size']}x{meta['size']})",
        f"- masks: {meta['masks']}" + (f", seed {meta['mask_seed']}" if meta["mask_seed"] is not None else ""),
        f"- FID: {meta['fid']}; dpinpaint {meta['dpinpaint_version']}; {meta['date']}",
        "",
        "Relative l1 is sum|gt - out| / sum(gt + out) over the whole image, in percent; SSIM as "
        "scikit-image's structural_similarity (7x7 uniform window, RGB averaged); PSNR in dB; the "
        "average column is over all images of all groups.",
        "",
    ]
    text = "\n".join(header) + "\n" + format_table(result.table, columns)
    atomic_write(out_dir / "report.md", lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    atomic_write(out_dir / "report.json", lambda tmp: Path(tmp).write_text(result.to_json(), encoding="utf-8"))

    def write_csv(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["method", "group", "image", "mask_index", "hole_ratio", "l1", "ssim", "psnr"])
            for s in result.scores:
                writer.writerow([s.method, s.group, s.image, s.mask_index, f"{s.hole_ratio:.4f}", f"{s.l1:.6f}",
                                 f"{s.ssim:.6f}", f"{s.psnr:.4f}"])  # fmt: skip

    atomic_write(out_dir / "report.csv", write_csv)
    (out_dir / "worst").mkdir(exist_ok=True)
    for method, rows in worst_rows.items():
        if not rows:
            continue
        grid = np.concatenate([np.concatenate([a, b, c], axis=1) for _, a, b, c in rows], axis=0)
        name = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in method)
        path = out_dir / "worst" / f"{name}.png"
        _save_png(path, grid)
