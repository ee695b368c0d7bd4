"""Evaluation like the paper's Table 1: metrics per hole-ratio group, for a model and baselines.

:func:`evaluate` takes a folder of ground-truth images and prepares them either the StyleGAN2
way (centre crop to a square, Lanczos resize to the model's resolution; the default) or as
users meet them (``long_side``: scaled to a given long side, or ``"native"``: their own size).
It pairs each with masks (per hole-ratio group: a seeded irregular or regular mask; or a thin
scratch / text-strokes mask, see :mod:`dpinpaint.eval_masks`; or a folder of masks grouped by
their measured hole ratio), inpaints every pair with each method (the model through the public
:meth:`dpinpaint.Inpainter.inpaint_batch`, and the classical baselines of
:mod:`dpinpaint.baselines`, which need no weights), and writes a report (:mod:`dpinpaint.eval_report`):

- ``report.md``: one block per method, rows relative l1 (%), SSIM, PSNR, hole PSNR, FID and time
  per image, one column per group and the average (over all images of all groups), as in Table 1;
- ``report.csv``: the per-image metrics; ``report.json``: everything, with the model, revision,
  data folder, mask kind and seed, and the package version;
- ``worst/<method>.png``: the worst-K images of each method by relative l1, as rows of masked
  input | output | ground truth.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
from PIL import Image

from .baselines import BASELINES, check_baselines, inpaint_baseline
from .errors import BackendUnavailableError, InvalidInputError
from .eval_masks import DAMAGE_KINDS, EVAL_MASK_KINDS, damage_mask, group_mask
from .eval_report import EvalResult, ImageScore, format_table, write_report
from .files import find_images
from .image_io import open_image_file, prepare_image, too_small  # one implementation each, shared with training
from .masks import HOLE_GROUPS, group_label, group_of, hole_ratio, mask_set
from .metrics import hole_psnr, psnr, relative_l1, ssim
from .options import InpaintOptions

__all__ = [
    "BASELINES",
    "EvalResult",
    "ImageScore",
    "evaluate",
    "prepare_image",
    "prepare_photo",
    "load_images",
    "format_table",
]

logger = logging.getLogger(__name__)

LongSide = int | Literal["native"] | None
Runner = Callable[[list[np.ndarray], list[np.ndarray]], Iterator[np.ndarray]]


def prepare_photo(image: str | os.PathLike[str] | Image.Image, long_side: int | Literal["native"]) -> np.ndarray:
    """A photo as users meet it: ``(H, W, 3)`` uint8 RGB (EXIF orientation applied), Lanczos-scaled
    so its longer side is ``long_side`` when it is longer (never enlarged); ``"native"``: unchanged."""
    if not isinstance(image, Image.Image):
        image, _ = open_image_file(image)
    im = image.convert("RGB")
    if long_side != "native" and max(im.size) > long_side:
        scale = long_side / max(im.size)
        size = (max(1, round(im.width * scale)), max(1, round(im.height * scale)))
        im = im.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(im).copy()


def load_images(
    data: str | os.PathLike[str],
    size: int,
    num: int | None = None,
    long_side: LongSide = None,
    skipped: list[str] | None = None,
) -> tuple[list[str], list[np.ndarray]]:
    """The first ``num`` readable images of ``data`` (recursive, sorted), prepared with
    :func:`prepare_image` at ``size`` or, given ``long_side``, with :func:`prepare_photo`. In the
    square protocol, images smaller than ``size`` on their short side are skipped with a warning
    (never enlarged, as training refuses them: :func:`~dpinpaint.image_io.too_small`); their names
    are appended to ``skipped`` when given (the report counts them).

    Raises:
        InvalidInputError: the folder does not exist or holds no readable image; or every image is
            smaller than ``size`` (the message names them and the minimum size).
    """
    folder = Path(data)
    if not folder.is_dir():
        raise InvalidInputError(f"--data {folder} is not a folder of images")
    files = [f for f, _ in find_images([folder], recursive=True)]
    names: list[str] = []
    images: list[np.ndarray] = []
    small: list[str] = []
    for f in files:  # the first ``num`` readable images; unreadable ones are skipped with a warning
        if num is not None and len(images) == num:
            break
        try:
            if long_side is None:
                im, _ = open_image_file(f)
                problem = too_small(f.relative_to(folder).as_posix(), im.width, im.height, size)
                if problem:  # as training refuses them: enlarging would score upsampling blur
                    logger.warning(
                        "skipped: %s; the square protocol never enlarges images (score them with --long-side native)",
                        problem,
                    )
                    small.append(f.relative_to(folder).as_posix())
                    continue
                images.append(prepare_image(im, size))
            else:
                images.append(prepare_photo(f, long_side))
            names.append(f.relative_to(folder).as_posix())
        except (InvalidInputError, OSError) as exc:
            logger.warning("skipping %s: %s", f, exc)
    if skipped is not None:
        skipped.extend(small)
    if not images and small:
        listed = ", ".join(small[:5]) + (f" and {len(small) - 5} more" if len(small) > 5 else "")
        raise InvalidInputError(
            f"every image in {folder} is smaller than the square protocol's {size} px on its short side "
            f"({listed}); images are never enlarged for scoring: give a smaller --size, or score them at "
            "their own size with --long-side native"
        )
    if not images:
        raise InvalidInputError(f"no readable images in {folder}")
    return names, images


def _fit(mask: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``mask`` resized (nearest) to ``shape[:2]`` if it differs."""
    if mask.shape == shape[:2]:
        return mask
    return np.asarray(cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST)) > 0


def _folder_masks(
    folder: Path, size: int | None, groups: Sequence[tuple[float, float]]
) -> dict[tuple[float, float], list[np.ndarray]]:
    """Masks of a folder (white = hole), resized to ``size`` (nearest) unless None, grouped by measured hole ratio."""
    from .masks import read_mask

    grouped: dict[tuple[float, float], list[np.ndarray]] = {g: [] for g in groups}
    for f, _ in find_images([folder], recursive=True):
        hole, _ = read_mask(f)
        m = hole[0].numpy()
        if size is not None:
            m = _fit(m, (size, size))
        group = group_of(hole_ratio(m), groups)
        if group is not None:
            grouped[group].append(m)
    return grouped


def _mask_plan(
    masks: str, groups: Sequence[tuple[float, float]], images: list[np.ndarray], seed: int, square: int | None
) -> tuple[dict[str, list[np.ndarray]], bool]:
    """Column label -> one mask per image, and whether the masks were generated (seeded)."""
    if masks in DAMAGE_KINDS:
        return {masks: [damage_mask(masks, im.shape[0], im.shape[1], seed, i) for i, im in enumerate(images)]}, True
    if masks in EVAL_MASK_KINDS:
        if square is not None:  # the square protocol: one seeded set per group (as in earlier reports)
            return {group_label(g): mask_set(len(images), square, kind=masks, group=g, seed=seed) for g in groups}, True
        return {
            group_label(g): [group_mask(im.shape[0], im.shape[1], masks, g, seed, i) for i, im in enumerate(images)]
            for g in groups
        }, True
    folder = Path(masks)
    if not folder.is_dir():
        raise InvalidInputError(
            f"--masks must be one of {', '.join(EVAL_MASK_KINDS)} or a folder of masks, got {masks!r}"
        )
    by_group = _folder_masks(folder, square, groups)
    empty = [group_label(g) for g, ms in by_group.items() if not ms]
    if len(empty) == len(groups):
        raise InvalidInputError(f"no mask in {folder} falls in the groups {', '.join(map(group_label, groups))}")
    if empty:
        logger.warning("no masks in group(s) %s", ", ".join(empty))
    return {
        group_label(g): [_fit(ms[i % len(ms)], im.shape) for i, im in enumerate(images)]
        for g, ms in by_group.items()
        if ms
    }, False


def _baseline(name: str) -> Runner:
    def run(images: list[np.ndarray], masks: list[np.ndarray]) -> Iterator[np.ndarray]:
        for image, mask in zip(images, masks, strict=True):
            yield inpaint_baseline(name, image, mask)

    return run


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
    options: InpaintOptions | None = None,
    inversion: str | None = None,
    steps: int | None = None,
    size: int | None = None,
    long_side: LongSide = None,
    strategy: str | None = None,
    native_max_side: int | None = None,
    worst: int = 8,
    compute_fid: bool = True,
    device: str = "auto",
    batch_size: int | None = None,
    progress: bool = True,
) -> EvalResult:
    """Evaluate ``model`` and ``baselines`` on ``data`` and write the report to ``output``.

    Args:
        masks: ``"irregular"`` / ``"regular"`` (generated, one per image and group from ``seed``),
            ``"scratch"`` / ``"text"`` (one thin-scratch or text-strokes mask per image, one column),
            or a folder of masks (grouped by measured hole ratio; image ``i`` of a group gets mask
            ``i`` modulo the group's masks, resized to it).
        num: images used (the first ``num`` of ``data``); with generated masks each image is
            evaluated once per group.
        size: the square resolution of the default protocol (default: the model's; 256 without a model).
        long_side: evaluate the photos as users meet them instead: scaled to this long side (never
            enlarged), or ``"native"`` for their own size.
        options: the model's ``inpaint`` settings (:class:`~dpinpaint.options.InpaintOptions`;
            default: its defaults, as users get them). Its ``seed`` re-draws the StyleGAN2 noise;
            the masks' seed is ``seed``.
        strategy, native_max_side, inversion, steps: override those fields of ``options``
            (None: keep them).
        compute_fid: FID per group (needs the ``eval`` extra); ``n/a`` without it.

    Raises:
        InvalidInputError: no method, an unknown baseline, bad data or masks.
        BackendUnavailableError: ``skimage-biharmonic`` without scikit-image.
    """
    from tqdm.auto import tqdm

    from .version import __version__

    check_baselines(list(baselines))
    overrides = {"strategy": strategy, "native_max_side": native_max_side, "inversion": inversion, "steps": steps}
    opts = InpaintOptions.build(options, **{k: v for k, v in overrides.items() if v is not None})
    if model is None and not baselines:
        raise InvalidInputError("nothing to evaluate: give --model and/or --baseline")
    if num < 1:
        raise InvalidInputError(f"--num must be >= 1, got {num}")
    if long_side is not None and long_side != "native" and (not isinstance(long_side, int) or long_side < 1):
        raise InvalidInputError(f"long side must be a positive number of pixels or 'native', got {long_side!r}")
    methods: dict[str, Runner] = {}
    inp = None
    if model is not None:
        from .inpainter import Inpainter

        inp = Inpainter.from_pretrained(model, revision=revision, device=device)
        opts = inp.options(opts)
        size = size or inp.resolution

        def run_model(images: list[np.ndarray], ms: list[np.ndarray]) -> Iterator[np.ndarray]:
            assert inp is not None
            yield from inp.inpaint_batch(images, ms, opts, batch_size=batch_size, progress=False)

        methods[model] = run_model
    for name in baselines:
        methods[name] = _baseline(name)
    size = size or 256

    skipped: list[str] = []
    names, images = load_images(data, size, num, long_side, skipped)
    columns_masks, seeded = _mask_plan(masks, groups, images, seed, size if long_side is None else None)

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
    with tqdm(total=len(methods) * len(images) * len(columns_masks), disable=not progress, unit="image",
              desc="evaluating") as bar:  # fmt: skip
        for method, run in methods.items():
            table[method] = {}
            all_out: list[np.ndarray] = []
            rows: list[tuple[float, np.ndarray, np.ndarray, np.ndarray]] = []
            for label, ms in columns_masks.items():
                outs, group_scores = [], []
                results = run(images, ms)
                for i, (gt, m) in enumerate(zip(images, ms, strict=True)):
                    start = time.perf_counter()
                    out = np.asarray(next(results))
                    elapsed = 1000.0 * (time.perf_counter() - start)
                    s = ImageScore(method, label, names[i], i, hole_ratio(m), relative_l1(gt, out), ssim(gt, out),
                                   psnr(gt, out), hole_psnr(gt, out, m), elapsed, f"{gt.shape[1]}x{gt.shape[0]}")  # fmt: skip
                    outs.append(out)
                    group_scores.append(s)
                    rows.append((s.l1, _masked_view(gt, m), out, gt))
                    bar.update(1)
                scores.extend(group_scores)
                table[method][label] = _summarise(group_scores)
                table[method][label]["fid"] = _fid(fid_features, images, outs, gt_features, label)
                all_out.extend(outs)
            table[method]["average"] = _summarise([s for s in scores if s.method == method])
            all_gt = images * len(columns_masks)
            table[method]["average"]["fid"] = _fid(fid_features, all_gt, all_out, gt_features, "average")
            worst_rows[method] = sorted(rows, key=lambda r: -r[0])[:worst]

    columns = [*columns_masks, "average"]
    uses_inversion = inp is not None and inp.config.uses_inversion
    meta = {
        "dpinpaint_version": __version__,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": model,
        "revision": revision,
        # None without a model, "none" for a model without an inversion path (feed-forward only).
        "inversion": None if inp is None else opts.inversion.method if uses_inversion else "none",
        "steps": opts.inversion.steps if uses_inversion and opts.inversion.method != "learned" else None,
        "strategy": opts.strategy if inp is not None else None,
        "native_max_side": opts.native_max_side if inp is not None else None,
        "options": opts.to_dict() if inp is not None else None,
        "data": str(Path(data)),
        "images": len(images),
        # images of the square protocol smaller than its size: skipped (never enlarged), as training refuses them
        "skipped_smaller_than_size": skipped,
        "size": size if long_side is None else None,
        "long_side": long_side,
        "image_sizes": sorted({f"{im.shape[1]}x{im.shape[0]}" for im in images}),
        "masks": masks,
        "mask_seed": seed if seeded else None,
        "groups": columns[:-1],
        "baselines": list(baselines),
        "fid": "computed"
        if fid_features is not None
        else ("skipped (--no-fid)" if not compute_fid else "not computed (install dpinpaint[eval])"),
    }
    result = EvalResult(table, scores, meta)
    write_report(out_dir, result, columns, worst_rows)
    return result


def _masked_view(gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    view = gt.copy()
    view[mask] = 255
    return view


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.inf


def _summarise(scores: list[ImageScore]) -> dict[str, float | None]:
    return {
        "l1": float(np.mean([s.l1 for s in scores])),
        "ssim": float(np.mean([s.ssim for s in scores])),
        "psnr": _finite_mean([s.psnr for s in scores]),
        "hole_psnr": _finite_mean([s.hole_psnr for s in scores]),
        "time_ms": float(np.mean([s.time_ms for s in scores])),
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
