"""Seeded evaluation masks for photos of any size: hole-ratio groups, thin scratches, text strokes.

- :func:`group_mask`: an ``"irregular"`` / ``"regular"`` mask (:func:`dpinpaint.mask_generation.generate_mask`)
  of one image's size whose hole ratio falls in a group, drawn from ``(seed, kind, group, index)``;
- :func:`scratch_mask`: a few thin scratches across the photo (lines 1-3 px wide at 256-1080 px,
  about 1% of the image, the damage of an old print or a lens);
- :func:`text_mask`: lines of overlaid text ("SAMPLE", "(c) 2024", ...), 6-9% of the image, the
  watermark or caption a user wants gone.

All are ``(H, W)`` bool, True = hole, and depend only on their arguments.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .errors import InvalidInputError
from .mask_generation import generate_mask
from .options import DAMAGE_KINDS, EVAL_MASK_KINDS, MASK_KINDS

__all__ = ["EVAL_MASK_KINDS", "DAMAGE_KINDS", "group_mask", "scratch_mask", "text_mask", "damage_mask"]

#: Kinds with one mask per hole-ratio group, and kinds with their own natural ratio.
SCRATCH_RATIO = (0.008, 0.012)
TEXT_RATIO = (0.06, 0.09)
_WORDS = ("SAMPLE", "(c) 2024", "PROOF", "DRAFT", "COPYRIGHT", "PREVIEW", "Photo 2019", "DO NOT COPY", "studio")
_ATTEMPTS = 50


def _rng(seed: int, kind: str, index: int, key: tuple[int, ...] = ()) -> np.random.Generator:
    return np.random.default_rng([int(seed), EVAL_MASK_KINDS.index(kind), *key, int(index)])


def group_mask(
    height: int, width: int, kind: str, group: tuple[float, float], seed: int = 0, index: int = 0
) -> np.ndarray:
    """Mask ``index`` of ``kind`` (``"irregular"`` or ``"regular"``) with a hole ratio in ``group``."""
    if kind not in MASK_KINDS:
        raise InvalidInputError(f"group masks are {' or '.join(MASK_KINDS)}, got {kind!r}")
    key = (round(group[0] * 1_000_000), round(group[1] * 1_000_000))
    return generate_mask(height, width, kind=kind, ratio=group, rng=_rng(seed, kind, index, key))


def _until(height: int, width: int, ratio: tuple[float, float], rng: np.random.Generator, draw: object) -> np.ndarray:
    """Draw with ``draw(canvas, rng, pixels still wanted)`` until the hole ratio reaches a target in
    ``ratio``; retry on overshoot (the last try is kept if none lands in the range)."""
    total = height * width
    best: np.ndarray | None = None
    for _ in range(_ATTEMPTS):
        target = rng.uniform(*ratio)
        canvas = np.zeros((height, width), np.uint8)
        for _ in range(200):
            wanted = target * total - np.count_nonzero(canvas)
            if wanted <= 0:
                break
            draw(canvas, rng, wanted)  # type: ignore[operator]
        best = canvas
        if np.count_nonzero(canvas) <= ratio[1] * total:
            break
    assert best is not None
    return best.astype(bool)


def _scratch(canvas: np.ndarray, rng: np.random.Generator, wanted: float) -> None:
    h, w = canvas.shape
    width = max(1, round(min(h, w) / 360))  # 1 px at 256-540, 2 at 720, 3 at 1080
    length = min(rng.uniform(0.4, 1.0) * math.hypot(h, w), 8 + wanted / width)
    x, y = rng.uniform(0, w), rng.uniform(0, h)
    angle = rng.uniform(0, 2 * math.pi)
    bend = rng.uniform(-0.6, 0.6) / max(length, 1.0)  # a gentle curve
    steps = max(2, int(length / 4))
    points = []
    for _ in range(steps):
        points.append((x, y))
        x, y = x + 4 * math.cos(angle), y + 4 * math.sin(angle)
        angle += bend * 4 + rng.normal(0, 0.01)
    pts = np.round(np.array(points)).astype(np.int32).reshape(-1, 1, 2)
    cv2.polylines(canvas, [pts], False, 1, thickness=width, lineType=cv2.LINE_8)


def _text(canvas: np.ndarray, rng: np.random.Generator, wanted: float) -> None:
    h, w = canvas.shape
    word = _WORDS[int(rng.integers(len(_WORDS)))]
    font = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_TRIPLEX)[int(rng.integers(3))]
    (tw, _), _ = cv2.getTextSize(word, font, 1.0, 1)
    scale = rng.uniform(0.3, 0.7) * w / max(tw, 1)
    thickness = max(1, round(scale * rng.uniform(1.5, 3.0)))
    (tw, th), base = cv2.getTextSize(word, font, scale, thickness)
    x = int(rng.integers(0, max(1, w - tw)))
    y = int(rng.integers(min(th, h - 1), max(th + 1, h - base)))
    cv2.putText(canvas, word, (x, y), font, scale, 1, thickness, cv2.LINE_8)


def scratch_mask(height: int, width: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """Thin scratches, about 1% of the image (0.8-1.2% when the image allows it)."""
    return _until(height, width, SCRATCH_RATIO, _rng(seed, "scratch", index), _scratch)


def text_mask(height: int, width: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """Overlaid text strokes, 6-9% of the image."""
    return _until(height, width, TEXT_RATIO, _rng(seed, "text", index), _text)


def damage_mask(kind: str, height: int, width: int, seed: int = 0, index: int = 0) -> np.ndarray:
    """:func:`scratch_mask` or :func:`text_mask` by name."""
    if kind == "scratch":
        return scratch_mask(height, width, seed, index)
    if kind == "text":
        return text_mask(height, width, seed, index)
    raise InvalidInputError(f"damage masks are {' or '.join(DAMAGE_KINDS)}, got {kind!r}")
