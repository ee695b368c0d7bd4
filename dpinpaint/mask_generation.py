"""Generated hole masks for evaluation, like the paper's Table 1.

:func:`generate_mask` draws free-form brush strokes plus boxes (``"irregular"``, in the spirit
of the DeepFill v2 and CoModGAN generators) or an axis-aligned rectangle (``"regular"``),
optionally with a hole ratio inside a group such as :data:`HOLE_GROUPS`; :func:`mask_set`
makes a reproducible, seeded set of them. Every mask is ``(H, W)`` bool, True = hole (the public
white = fill convention of :mod:`dpinpaint.masks`, which also re-exports these names).
"""

from __future__ import annotations

import itertools
import math
import numbers
import re
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from .errors import InvalidInputError
from .options import MASK_KINDS

__all__ = [
    "HOLE_GROUPS",
    "MASK_KINDS",
    "parse_groups",
    "group_label",
    "generate_mask",
    "thin_mask",
    "THIN_RATIO",
    "mask_set",
    "hole_ratio",
    "group_of",
]

HOLE_GROUPS: tuple[tuple[float, float], ...] = ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
"""The hole-ratio groups of the paper's Table 1 (fractions, ``[lo, hi)``; the first is ``(0, hi)``)."""


_DEFAULT_RATIO = (HOLE_GROUPS[0][0], HOLE_GROUPS[-1][1])  # ratio=None: anywhere in Table 1's range
_GROUP_RE = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*-\s*(\d+(?:\.\d*)?|\.\d+)\s*%?$")
_MAX_RESTARTS = 50  # fresh canvases per mask before giving up
_MAX_ELEMENTS = 1000  # strokes / boxes per canvas
_MAX_SHRINKS = 10  # an element that overshoots is redrawn at half the size this many times
_STROKE_PROBABILITY = 0.8  # irregular masks: each element after the first is a stroke or a box


def parse_groups(text: str) -> list[tuple[float, float]]:
    """``"0-10,10-20,50-60"`` (percent, ``%`` optional) -> ``[(0.0, 0.1), (0.1, 0.2), (0.5, 0.6)]``.

    Raises:
        InvalidInputError: unparsable text, ``lo >= hi``, a bound outside 0..100 or a repeated group.
    """
    if not isinstance(text, str) or not text.strip():
        raise InvalidInputError(f"hole-ratio groups must be text like '0-10,10-20' (percent), got {text!r}")
    groups: list[tuple[float, float]] = []
    for part in text.split(","):
        match = _GROUP_RE.match(part.strip())
        if match is None:
            raise InvalidInputError(
                f"bad hole-ratio group {part.strip()!r} in {text!r}: use LO-HI in percent, e.g. 10-20"
            )
        lo, hi = float(match.group(1)), float(match.group(2))
        if not 0.0 <= lo < hi <= 100.0:
            raise InvalidInputError(f"bad hole-ratio group {part.strip()!r}: need 0 <= LO < HI <= 100 (percent)")
        group = (lo / 100.0, hi / 100.0)
        if group in groups:
            raise InvalidInputError(f"hole-ratio group {part.strip()!r} is given twice in {text!r}")
        groups.append(group)
    return groups


def _percent(value: float) -> str:
    return format(round(value * 100.0, 6), "g")


def group_label(group: tuple[float, float]) -> str:
    """``(0.1, 0.2)`` -> ``"10-20%"``."""
    lo, hi = group
    return f"{_percent(lo)}-{_percent(hi)}%"


def hole_ratio(mask: np.ndarray) -> float:
    """Fraction of hole pixels of a ``(H, W)`` mask (True / nonzero = hole); 0.0 for an empty array.

    For mask images (white = fill, thresholds, alpha) use :func:`dpinpaint.masks.read_mask` first.
    """
    arr = np.asarray(mask)
    return np.count_nonzero(arr) / arr.size if arr.size else 0.0


def _in_group(ratio: float, lo: float, hi: float) -> bool:
    return (ratio > 0.0 if lo <= 0.0 else ratio >= lo) and ratio < hi


def group_of(ratio: float, groups: Sequence[tuple[float, float]] = HOLE_GROUPS) -> tuple[float, float] | None:
    """The first group ``(lo, hi)`` with ``lo <= ratio < hi`` (``0 < ratio < hi`` when ``lo == 0``), or None."""
    for lo, hi in groups:
        if _in_group(ratio, lo, hi):
            return (lo, hi)
    return None


def _check_size(height: Any, width: Any) -> tuple[int, int]:
    for name, value in (("height", height), ("width", width)):
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral) or value < 1:
            raise InvalidInputError(f"mask {name} must be a positive integer, got {value!r}")
    return int(height), int(width)


def _check_kind(kind: Any) -> str:
    if kind not in MASK_KINDS:
        raise InvalidInputError(f"unknown mask kind {kind!r}; use one of {', '.join(MASK_KINDS)}")
    return str(kind)


def _check_ratio(ratio: Any) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in ratio)
    except (TypeError, ValueError):
        raise InvalidInputError(f"ratio must be a pair (lo, hi) of fractions, got {ratio!r}") from None
    if not 0.0 <= lo < hi <= 1.0:
        raise InvalidInputError(f"ratio must satisfy 0 <= lo < hi <= 1, got {ratio!r}")
    return lo, hi


def _pixel_range(lo: float, hi: float, total: int) -> tuple[int, int]:
    """Smallest and largest hole pixel counts ``c`` with ``c / total`` in the group (exact float tests)."""
    first = max(1, math.ceil(lo * total))
    while first > 1 and _in_group((first - 1) / total, lo, hi):
        first -= 1
    while first <= total and not _in_group(first / total, lo, hi):
        first += 1
    last = min(total, math.ceil(hi * total))
    while last >= first and not _in_group(last / total, lo, hi):
        last -= 1
    return first, last


def _random_walk(
    rng: np.random.Generator,
    height: int,
    width: int,
    segments: tuple[int, int],
    turn: float,
    lengths: tuple[float, float],
    unit: float,
) -> list[tuple[int, int]]:
    """The points of a random walk on a ``height x width`` canvas: a random start and heading, then
    ``segments[0]..segments[1] - 1`` segments, each turning by up to ``turn`` radians either way and
    ``lengths`` (uniform) times ``unit`` pixels long, clamped to the canvas."""
    x, y = rng.uniform(0, width), rng.uniform(0, height)
    angle = rng.uniform(0.0, 2.0 * math.pi)
    points = [(round(x), round(y))]
    for _ in range(int(rng.integers(*segments))):
        angle += rng.uniform(-turn, turn)
        length = rng.uniform(*lengths) * unit
        x = float(np.clip(x + length * math.cos(angle), 0, width - 1))
        y = float(np.clip(y + length * math.sin(angle), 0, height - 1))
        points.append((round(x), round(y)))
    return points


def _draw_polyline(canvas: np.ndarray, points: list[tuple[int, int]], width: int) -> None:
    for start, end in itertools.pairwise(points):
        cv2.line(canvas, start, end, 1, thickness=width, lineType=cv2.LINE_8)


def _draw_stroke(canvas: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """One free-form brush stroke: a random walk of 4..12 segments, random width, round joints."""
    h, w = canvas.shape
    size = math.sqrt(h * w) * scale
    width = max(1, round(rng.uniform(0.02, 0.09) * size))
    max_length = 0.2 * size
    points = _random_walk(rng, h, w, (4, 13), 0.4 * math.pi, (0.3, 1.0), max_length)
    _draw_polyline(canvas, points, width)
    if width > 2:
        for point in points:
            cv2.circle(canvas, point, width // 2, 1, thickness=-1, lineType=cv2.LINE_8)


def _draw_box(canvas: np.ndarray, rng: np.random.Generator, scale: float) -> None:
    """One axis-aligned box of 5..30% of each side (times ``scale``), possibly cut by the border."""
    h, w = canvas.shape
    bh = max(1, round(rng.uniform(0.05, 0.3) * h * scale))
    bw = max(1, round(rng.uniform(0.05, 0.3) * w * scale))
    top, left = int(rng.integers(0, h)), int(rng.integers(0, w))
    canvas[top : top + bh, left : left + bw] = 1


def _irregular(height: int, width: int, first: int, last: int, rng: np.random.Generator) -> np.ndarray | None:
    """Strokes and boxes until the hole count reaches a target in ``[first, last]``; None after restarts."""
    target = int(rng.integers(first, last + 1))
    for _ in range(_MAX_RESTARTS):
        canvas = np.zeros((height, width), np.uint8)
        count = 0
        for element in range(_MAX_ELEMENTS):
            scale, placed = 1.0, False
            for _ in range(_MAX_SHRINKS):
                candidate = canvas.copy()
                if element == 0 or rng.random() < _STROKE_PROBABILITY:
                    _draw_stroke(candidate, rng, scale)
                else:
                    _draw_box(candidate, rng, scale)
                new_count = int(np.count_nonzero(candidate))
                if new_count <= last:
                    canvas, count, placed = candidate, new_count, True
                    break
                scale *= 0.5
            if not placed:
                break  # keeps overshooting: start again on a fresh canvas
            if count >= target:
                return canvas.astype(bool)
    return None


def _regular(height: int, width: int, first: int, last: int, rng: np.random.Generator) -> np.ndarray | None:
    """One axis-aligned rectangle (aspect ratio 1:2..2:1 when it fits) with ``first <= area <= last``."""
    shape: tuple[int, int] | None = None
    for _ in range(100):
        target = rng.uniform(first, last + 1)
        aspect = math.exp(rng.uniform(-math.log(2.0), math.log(2.0)))  # height / width
        rh = min(height, max(1, round(math.sqrt(target * aspect))))
        rw = min(width, max(1, round(target / rh)))
        if first <= rh * rw <= last:
            shape = (rh, rw)
            break
    if shape is None:  # e.g. very elongated images: any rectangle that fits
        heights = rng.permutation(np.arange(1, height + 1))
        for rh in (int(v) for v in heights):
            rw = -(-first // rh)
            if rw <= width and rh * rw <= last:
                shape = (rh, rw)
                break
    if shape is None:
        return None
    rh, rw = shape
    top, left = int(rng.integers(0, height - rh + 1)), int(rng.integers(0, width - rw + 1))
    hole = np.zeros((height, width), bool)
    hole[top : top + rh, left : left + rw] = True
    return hole


#: Hole ratios of :func:`thin_mask` (thin damage covers little of an image).
THIN_RATIO = (0.005, 0.12)


def _draw_thin_stroke(canvas: np.ndarray, rng: np.random.Generator) -> None:
    """One thin free-form stroke: a random walk of 2..10 segments, 1 px to 2.5% of the image wide."""
    h, w = canvas.shape
    size = math.sqrt(h * w)
    width = int(rng.integers(1, max(2, round(0.025 * size)) + 1))
    _draw_polyline(canvas, _random_walk(rng, h, w, (2, 11), 0.3 * math.pi, (0.1, 0.6), size), width)


def thin_mask(
    height: int, width: int, *, rng: np.random.Generator, ratio: tuple[float, float] = THIN_RATIO
) -> np.ndarray:
    """Thin damage for training: strokes 1 px to 2.5% of the image wide (scratches, lines, pen
    marks) until the hole ratio reaches a target drawn in ``ratio``; ``(height, width)`` bool.

    A family of its own (random walks of thin lines), not the evaluation's scratch and text masks
    (:mod:`dpinpaint.eval_masks`: straight scratches across the photo, rendered words), so a model
    trained with it is not fitted to the generator it is scored with.
    """
    height, width = _check_size(height, width)
    lo, hi = _check_ratio(ratio)
    total = height * width
    target = rng.uniform(lo, hi) * total
    best = np.zeros((height, width), np.uint8)
    for _ in range(_MAX_RESTARTS):
        canvas = np.zeros((height, width), np.uint8)
        while np.count_nonzero(canvas) < target:
            _draw_thin_stroke(canvas, rng)
        best = canvas
        if np.count_nonzero(canvas) < hi * total:
            break
    return best.astype(bool)


def generate_mask(
    height: int,
    width: int,
    *,
    kind: str = "irregular",
    ratio: tuple[float, float] | None = None,
    rng: np.random.Generator,
) -> np.ndarray:
    """A random hole map ``(height, width)`` bool, True = hole (the public white = fill convention).

    Args:
        kind: ``"irregular"``: free-form brush strokes (random walks of 4..12 segments, random
            width, round joints) plus a few random boxes, sized relative to the image, in the
            spirit of the DeepFill v2 / CoModGAN generators; ``"regular"``: one axis-aligned
            rectangle (aspect ratio between 1:2 and 2:1 when it fits) at a random position.
        ratio: ``(lo, hi)``: the returned mask's :func:`hole_ratio` is guaranteed to be in
            ``[lo, hi)`` (``0 < ratio < hi`` when ``lo == 0``), with a target drawn uniformly in
            the range; None: the range of Table 1, ``(0, 0.6)``.
        rng: the only source of randomness (the result is a function of its state).

    Raises:
        InvalidInputError: a bad size, kind or ratio, or a ratio range no pixel count of this
            size falls in (tiny images).
        RuntimeError: no mask found within the bounded number of attempts (not expected for
            the Table-1 groups at sizes >= 64).
    """
    height, width = _check_size(height, width)
    kind = _check_kind(kind)
    lo, hi = _check_ratio(_DEFAULT_RATIO if ratio is None else ratio)
    if not isinstance(rng, np.random.Generator):
        raise InvalidInputError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    total = height * width
    first, last = _pixel_range(lo, hi, total)
    if first > last:
        raise InvalidInputError(f"no {height}x{width} mask has a hole ratio in {group_label((lo, hi))}")
    make = _irregular if kind == "irregular" else _regular
    hole = make(height, width, first, last, rng)
    if hole is None:
        raise RuntimeError(
            f"could not generate a {kind} {height}x{width} mask with a hole ratio in {group_label((lo, hi))}"
        )
    return hole


def mask_set(
    count: int,
    size: int | tuple[int, int],
    *,
    kind: str = "irregular",
    group: tuple[float, float] | None = None,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` masks of ``size`` (an int, or ``(height, width)``) from :func:`generate_mask`.

    Deterministic: mask ``i`` depends only on ``(seed, kind, group, size, i)``, so the first
    ``k`` masks of a set are the same whatever ``count`` is, and every group has its own stream.
    Each mask is ``(H, W)`` bool, True = hole.
    """
    if isinstance(count, bool | np.bool_) or not isinstance(count, numbers.Integral) or count < 0:
        raise InvalidInputError(f"mask count must be a non-negative integer, got {count!r}")
    if isinstance(seed, bool | np.bool_) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise InvalidInputError(f"mask seed must be a non-negative integer, got {seed!r}")
    if isinstance(size, numbers.Integral) and not isinstance(size, bool | np.bool_):
        height, width = _check_size(size, size)
    elif isinstance(size, tuple | list) and len(size) == 2:
        height, width = _check_size(*size)
    else:
        raise InvalidInputError(f"mask size must be an int or (height, width), got {size!r}")
    kind = _check_kind(kind)
    if group is None:
        group_key = [0, 0, 0]
    else:
        lo, hi = _check_ratio(group)
        group_key = [1, round(lo * 1_000_000), round(hi * 1_000_000)]
    key = [int(seed), MASK_KINDS.index(kind), *group_key, height, width]
    return [
        generate_mask(height, width, kind=kind, ratio=group, rng=np.random.default_rng([*key, i])) for i in range(count)
    ]
