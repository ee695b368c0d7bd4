"""Running the network on images of any size: the resize, crop and native strategies.

The network works at ``R x R`` (256 for the pretrained models). An image of any size is
cut into *windows*; each window is scaled so its longer side is ``R``, padded to a square by
reflection, inpainted, scaled back, and only its hole pixels are pasted into the result:

- ``"resize"``: one window, the whole image.
- ``"crop"``: one window per group of holes: the holes' bounding box grown by ``margin``
  times its size on each side, at least ``R`` wide (small holes are inpainted at the
  image's own resolution, not upsampled), clamped to the image; windows that overlap are
  merged.
- ``"native"``: one window, the whole image, at its own resolution (no scaling): only for
  feed-forward-only models (no fixed-size StyleGAN2 in them). The window is padded by
  reflection to a multiple of the network's total stride (:attr:`DualPathNet.size_multiple`),
  the hole map padded the same way (mirrored holes stay holes, mirrored observed pixels count as
  observed: the network sees what looks like a larger photo with holes, as in training), and
  the padding is cut off again. The working scale follows the holes: a window whose longer side
  exceeds ``native_max_side`` (default ``NATIVE_SCALE * R``, 128 for the 128x128 demo, at most
  ``NATIVE_MAX_SIDE``) is scaled down to it first when its holes are thick (large holes want the
  training scale), but thin holes (scratches, strokes: :func:`hole_thickness` up to
  ``THIN_SIDE`` px) run at up to the image's own resolution; on a large image such a window is cut
  into tiles (``TILE_SCALE * R`` working pixels, run with ``TILE_CONTEXT * R`` of context around
  them, only their own hole pixels pasted) covering only where the holes are, within
  ``TILE_BUDGET`` working pixels, so time and memory grow with the damaged area and stay bounded.
- ``"auto"`` (default): ``"crop"`` when the image is larger than ``R`` and the crop windows
  cover less than half of it, else ``"native"`` for a feed-forward-only model and ``"resize"``
  for a model with the inversion path.

With a feed-forward-only model, ``"crop"`` windows (and ``"auto"``'s) also run at their own
resolution; with the inversion path every window is scaled to ``R x R``.

Hole masks are scaled conservatively: a pixel of the network's input counts as observed only
if no hole pixel contributes to it, and hole pixels are zeroed before scaling, so the
content under the holes never reaches the network.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from .errors import InvalidInputError
from .options import STRATEGIES

__all__ = [
    "Strategy",
    "Window",
    "WindowGeometry",
    "Plan",
    "check_strategy",
    "plan_windows",
    "window_to_model",
    "window_to_native",
    "model_to_window",
    "resize",
    "scale_with_holes",
    "NATIVE_MAX_SIDE",
    "NATIVE_SCALE",
    "resolve_native_max_side",
    "STRATEGIES",
]

Strategy = Literal["auto", "resize", "crop", "native"]
#: The longest side a window runs at natively by default, in multiples of the training size ``R``;
#: larger windows are scaled down to it first (and their fill Poisson-blended again at the image's
#: resolution, :func:`dpinpaint.blending.window_fill`). Chosen on the demo's 23 validation photos at
#: long side 768, irregular holes of 10-50%, hole-PSNR margin over the best of Telea, NS and
#: biharmonic: with the blend at both resolutions (and ``THIN_SIDE`` 16, the default then), 1R /
#: 1.25R / 1.5R / 2R / 3R gave +1.20 / +1.19 / +1.14 / +1.01 / +0.61 dB (20 / 20 / 20 / 20 / 19 of
#: 20 comparisons won); with 1R and ``THIN_SIDE`` 4, +1.22 dB. Without the second
#: blend 2R was best (hole PSNR 17.76 dB; 1R 17.29, 1.5R 17.61, 3R 17.60, 4R 17.41, 6R 17.22).
NATIVE_SCALE = 1
#: Thin holes run at a larger working scale than ``native_max_side`` allows: ``min(1, max(default,
#: THIN_SIDE / thickness))``, the holes' thickness (:func:`hole_thickness`) in image pixels; a hole
#: ``THIN_SIDE`` pixels thick or thinner is filled at the image's own resolution. Chosen on the
#: demo's validation photos (23 photos at their own size, against Telea), with ``NATIVE_SCALE`` 1
#: and the blend at both resolutions: 2 / 4 / 8 made scratches better on 23 / 23 / 22 (median
#: hole PSNR 28.85 / 28.99 / 29.57 dB) and text strokes on 23 / 23 / 22 (21.36 / 21.32 / 21.27);
#: 4 has the higher scratch median of the two that win on every photo. (With ``NATIVE_SCALE`` 2 and
#: the blend at the working resolution only, 16 was chosen: text strokes better on 19 of 23.)
THIN_SIDE = 4.0
#: Percentile of the distance transform inside a window's holes that measures their thickness
#: (robust to the few thicker pixels where strokes cross).
THICKNESS_PERCENTILE = 99.0
#: A window run above the default scale is cut into tiles when that is cheaper (or when it would be
#: larger than ``NATIVE_MAX_SIDE``): cores of ``TILE_SCALE * R`` working pixels that hold holes,
#: each run with ``TILE_CONTEXT * R`` working pixels of context around it, pasting only its core.
#: On the validation photos (scratches, 800 px photos forced into tiles) tiles score as well as the
#: whole window (26.24 vs 25.98 dB); context 0.25R / 1R: 26.16 / 26.24; 2R tiles 26.39 at 2.7x the time.
TILE_SCALE = 4
TILE_CONTEXT = 0.5
#: At most this many working pixels (context included) per window above the default scale; past
#: it the scale is lowered, down to the default: time and memory grow with the damaged area, bounded.
TILE_BUDGET = 2048 * 2048
#: The default never exceeds this side (time and memory grow linearly with the pixels: 2048 px of
#: the 128x128 demo model take about 2 GB on the CPU).
NATIVE_MAX_SIDE = 2048


def resolve_native_max_side(resolution: int, max_side: int | None = None) -> int:
    """The longest side a native window runs at: ``max_side``, or by default ``NATIVE_SCALE * R`` (at most ``NATIVE_MAX_SIDE``).

    Raises:
        InvalidInputError: ``max_side`` is not a positive integer.
    """
    if max_side is None:
        return min(NATIVE_SCALE * resolution, NATIVE_MAX_SIDE)
    if isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1:
        raise InvalidInputError(f"native_max_side must be a positive number of pixels or None, got {max_side!r}")
    return max_side


#: Weight above which a hole pixel's contribution makes a scaled pixel a hole. Zero: the resize
#: weights are non-negative and the hole map is exactly 0 away from holes, so any positive value
#: means a hole pixel contributed (a tolerance would let small holes vanish when shrinking a lot).
_LEAK_TOLERANCE = 0.0


@dataclass(frozen=True)
class Window:
    """A rectangle of the image: rows ``top:top + height``, columns ``left:left + width``.

    Windows of a native plan may carry how they run (:func:`window_to_native`): ``scale``, the
    working scale (None: the ``max_side`` rule), and ``context``, image pixels added around the
    window on each side (clamped to the image) as the network's context; only the window's own
    hole pixels are pasted.
    """

    top: int
    left: int
    height: int
    width: int
    scale: float | None = None
    context: int = 0

    @property
    def bottom(self) -> int:
        return self.top + self.height

    @property
    def right(self) -> int:
        return self.left + self.width

    def overlaps(self, other: Window) -> bool:
        return not (
            self.right <= other.left or other.right <= self.left or self.bottom <= other.top or other.bottom <= self.top
        )

    def union(self, other: Window) -> Window:
        top, left = min(self.top, other.top), min(self.left, other.left)
        return Window(top, left, max(self.bottom, other.bottom) - top, max(self.right, other.right) - left)


@dataclass(frozen=True)
class Plan:
    """The strategy actually used and its windows (``(top, left, height, width)`` in image pixels).

    ``native``: the windows run at their own resolution (:func:`window_to_native`), not scaled to
    ``R x R`` (:func:`window_to_model`).
    """

    strategy: Literal["resize", "crop", "native"]
    windows: tuple[Window, ...]
    native: bool = False


def _square_around(box: Window, side: int, height: int, width: int) -> Window:
    """A ``side``-sized square centred on ``box``, clamped (and shrunk) to the image."""
    h, w = min(side, height), min(side, width)
    cy, cx = box.top + box.height / 2, box.left + box.width / 2
    top = int(min(max(round(cy - h / 2), 0), height - h))
    left = int(min(max(round(cx - w / 2), 0), width - w))
    return Window(top, left, h, w)


def _crop_windows(hole: np.ndarray, resolution: int, margin: float) -> list[Window]:
    height, width = hole.shape
    count, _, stats, _ = cv2.connectedComponentsWithStats(hole.astype(np.uint8), connectivity=8)
    boxes = [Window(int(y), int(x), int(h), int(w)) for x, y, w, h, _ in stats[1:count]]
    windows: list[tuple[Window, Window]] = []  # (holes' bounding box, window)
    for box in boxes:
        item = (box, _square_around(box, _window_side(box, resolution, margin), height, width))
        merged = True
        while merged:  # merge with every window it overlaps, until none does
            merged = False
            for other in windows:
                if other[1].overlaps(item[1]):
                    windows.remove(other)
                    union = other[0].union(item[0])
                    item = (union, _square_around(union, _window_side(union, resolution, margin), height, width))
                    merged = True
                    break
        windows.append(item)
    # A window is at least as large as its holes' box and centred on it, so it always covers it.
    return sorted((window for _, window in windows), key=lambda w: (w.top, w.left))


def _window_side(box: Window, resolution: int, margin: float) -> int:
    return max(resolution, math.ceil(max(box.height, box.width) * (1.0 + 2.0 * margin)))


def hole_thickness(hole: np.ndarray) -> float:
    """The thickness in pixels of the holes of an ``(h, w)`` bool hole map: twice the
    ``THICKNESS_PERCENTILE``-th percentile of their distance transform (each hole pixel's distance
    to the nearest observed pixel): 2 for a 1-px line, about 8 for an 8-px stroke, 0 without holes."""
    if not hole.any():
        return 0.0
    distance = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    return 2.0 * float(np.percentile(distance[hole], THICKNESS_PERCENTILE))


def _outer(window: Window, height: int, width: int) -> Window:
    """``window`` grown by its ``context`` on each side, clamped to the image."""
    m = window.context
    top, left = max(0, window.top - m), max(0, window.left - m)
    return Window(top, left, min(height, window.bottom + m) - top, min(width, window.right + m) - left)


def _tiles(hole: np.ndarray, window: Window, scale: float, resolution: int) -> tuple[list[Window], float]:
    """The cores of ``window`` at working ``scale`` that hold holes (with their context), and the
    working pixels they take; or ``window`` alone at ``scale`` when that is cheaper and small enough."""
    height, width = hole.shape
    core = max(1, math.ceil(TILE_SCALE * resolution / scale))
    context = math.ceil(TILE_CONTEXT * resolution / scale)
    tiles: list[Window] = []
    for top in range(window.top, window.bottom, core):
        for left in range(window.left, window.right, core):
            h, w = min(core, window.bottom - top), min(core, window.right - left)
            if hole[top : top + h, left : left + w].any():
                tiles.append(Window(top, left, h, w, scale, context))
    area = sum(o.height * o.width for o in (_outer(t, height, width) for t in tiles)) * scale**2
    whole = window.height * window.width * scale**2
    if max(window.height, window.width) * scale <= NATIVE_MAX_SIDE and whole <= area:
        return [Window(window.top, window.left, window.height, window.width, scale)], whole
    return tiles, area


def _native_windows(
    hole: np.ndarray, windows: list[Window], resolution: int, max_side: int, thin_side: float
) -> list[Window]:
    """Each window at the working scale its holes' thickness asks for, tiled when that is cheaper.

    A window whose holes are thick enough for the default scale (``max_side`` over its longer side,
    at most 1) is kept as it is; thinner holes run at up to the image's own resolution, within
    ``TILE_BUDGET`` working pixels per window.
    """
    out: list[Window] = []
    for window in windows:
        default = min(1.0, max_side / max(window.height, window.width))
        thickness = hole_thickness(hole[window.top : window.bottom, window.left : window.right])
        scale = min(1.0, max(default, thin_side / thickness)) if thickness > 0 else default
        while scale > default:
            tiles, area = _tiles(hole, window, scale, resolution)
            if area <= TILE_BUDGET:
                out.extend(tiles)
                break
            scale = max(default, scale * min(0.9, math.sqrt(TILE_BUDGET / area)))
        else:
            out.append(window)
    return out


def check_strategy(strategy: str, margin: float, *, native: bool = True) -> None:
    """Raise :class:`InvalidInputError` for an unknown ``strategy``, a margin that is not a finite
    number >= 0, or ``"native"`` when the model cannot run at any size (``native=False``)."""
    if not isinstance(strategy, str) or strategy not in STRATEGIES:
        raise InvalidInputError(f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {strategy!r}")
    if isinstance(margin, bool) or not isinstance(margin, int | float) or not (margin >= 0 and math.isfinite(margin)):
        raise InvalidInputError(f"crop margin must be a finite number >= 0, got {margin!r}")
    if strategy == "native" and not native:
        raise InvalidInputError(
            'strategy="native" needs a feed-forward-only model (paths="feedforward"); a model with the inversion '
            'path has a fixed-size StyleGAN2: use "auto", "resize" or "crop"'
        )


def plan_windows(
    hole: torch.Tensor,
    resolution: int,
    strategy: str = "auto",
    margin: float = 0.5,
    *,
    native: bool = False,
    max_side: int | None = None,
    thin_side: float | None = None,
) -> Plan:
    """Choose the windows for one ``(H, W)`` bool hole map (True = fill).

    Args:
        native: the model runs at any size (feed-forward only): ``"auto"`` then prefers
            ``"native"`` to ``"resize"``, and crop windows run at their own resolution. Each
            native window then runs at the scale its holes' thickness asks for: thick holes at
            ``max_side`` (the window as planned), thin ones at up to full resolution, cut into
            tiles (``Window.scale`` / ``Window.context``) where that is cheaper or the window too large.
        max_side: the native windows' default longest side (None: :func:`resolve_native_max_side`).
        thin_side: holes this many pixels thick or thinner run at full resolution (None: :data:`THIN_SIDE`).

    Raises:
        InvalidInputError: unknown ``strategy``, a negative ``margin``, or ``"native"`` for a
            model that cannot run at any size.
    """
    check_strategy(strategy, margin, native=native)
    plan = _plan(hole, resolution, strategy, margin, native)
    if not plan.native or not bool(hole.any()):
        return plan
    side = resolve_native_max_side(resolution, max_side)
    thin = THIN_SIDE if thin_side is None else float(thin_side)
    windows = _native_windows(hole.cpu().numpy(), list(plan.windows), resolution, side, thin)
    return replace(plan, windows=tuple(windows))


def _plan(hole: torch.Tensor, resolution: int, strategy: str, margin: float, native: bool) -> Plan:
    height, width = int(hole.shape[-2]), int(hole.shape[-1])
    full = (Window(0, 0, height, width),)
    whole = Plan("native", full, native=True) if native and strategy != "resize" else Plan("resize", full)
    if strategy in ("resize", "native") or not bool(hole.any()):
        return whole
    windows = _crop_windows(hole.cpu().numpy(), resolution, margin)
    if strategy == "crop":
        return Plan("crop", tuple(windows), native=native)
    covered = np.zeros((height, width), dtype=bool)
    for w in windows:
        covered[w.top : w.bottom, w.left : w.right] = True
    if max(height, width) > resolution and covered.mean() < 0.5:
        return Plan("crop", tuple(windows), native=native)
    return whole


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``(N, C, h, w)`` float to ``size`` ``(h', w')``, antialiased when
    shrinking (non-negative weights)."""
    if tuple(x.shape[-2:]) == size:
        return x
    if 1 in (x.shape[-1], size[1]) and x.shape[-2] != size[0]:
        # torch's antialiased bilinear (CPU) gets the rows wrong when the input or output is one column
        # wide (every row comes out equal to the first). Resize the columns, then the rows as columns.
        x = F.interpolate(x, size=(x.shape[-2], size[1]), mode="bilinear", align_corners=False, antialias=True)
        x = F.interpolate(x.transpose(-1, -2), size=size[::-1], mode="bilinear", align_corners=False, antialias=True)
        return x.transpose(-1, -2)
    return F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)


def scale_with_holes(rgb: torch.Tensor, hole: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """An image and its holes scaled to ``size`` ``(h', w')`` conservatively: the hole pixels are
    zeroed first, so what is under them never reaches the result, and a scaled pixel is a hole
    where any hole pixel contributes to it (at the same size: the image with its holes zeroed).

    Args:
        rgb: ``(C, h, w)`` float; hole: ``(h, w)`` bool, True = hole.

    Returns:
        ``(rgb (C, h', w'), hole (h', w') bool)``.
    """
    hole_f = hole.to(rgb.dtype)[None]
    both = resize(torch.cat([rgb * (1.0 - hole_f), hole_f])[None], size)[0]
    return both[:-1], both[-1] > _LEAK_TOLERANCE


@dataclass(frozen=True)
class WindowGeometry:
    """Where a network input came from and goes back to: the region cut from the image (``window``,
    a native window's context included), its size once scaled (``scaled``, ``(h, w)``), the padding
    before it in the input (``pad``, ``(top, left)``) and the part of it that is pasted (``core``,
    relative to ``window``; None: all of it)."""

    window: Window  # the region cut from the image (a native window's context included)
    scaled: tuple[int, int]  # (h, w) after scaling the window, longer side = R
    pad: tuple[int, int]  # (top, left) padding inside the R x R input
    core: Window | None = None  # the part of ``window`` that is pasted, relative to it (None: all)

    @property
    def rescaled(self) -> bool:
        """Whether the network saw the window at another resolution than the image's."""
        return self.scaled != (self.window.height, self.window.width)

    def cut_core(self, x: torch.Tensor) -> torch.Tensor:
        """The pasted part of ``x`` ``(..., window.height, window.width)`` (all of it without a core)."""
        if self.core is None:
            return x
        c = self.core
        return x[..., c.top : c.bottom, c.left : c.right]


def window_to_model(
    rgb: torch.Tensor, hole: torch.Tensor, window: Window, resolution: int
) -> tuple[torch.Tensor, torch.Tensor, WindowGeometry]:
    """Cut ``window`` out of one image and make the network's input.

    Args:
        rgb: ``(3, H, W)`` float in [0, 1].
        hole: ``(H, W)`` bool, True = fill.

    Returns:
        ``(image (3, R, R) in [-1, 1], known (1, R, R) in {0, 1}, geometry)``.
    """
    w = window
    scale = resolution / max(w.height, w.width)
    size = (
        min(resolution, max(1, round(w.height * scale))),
        min(resolution, max(1, round(w.width * scale))),
    )
    crop, hole_crop = rgb[:, w.top : w.bottom, w.left : w.right], hole[w.top : w.bottom, w.left : w.right]
    image, scaled_hole = scale_with_holes(crop, hole_crop, size)  # the holes' content never reaches the network
    hole_small = scaled_hole.to(image.dtype)[None]
    pad_top, pad_left = (resolution - size[0]) // 2, (resolution - size[1]) // 2
    pads = (pad_left, resolution - size[1] - pad_left, pad_top, resolution - size[0] - pad_top)
    if any(pads):
        mode = "reflect" if max(pads[:2]) < size[1] and max(pads[2:]) < size[0] else "replicate"
        both = F.pad(torch.cat([image, hole_small])[None], pads, mode=mode)[0]
        image, hole_small = both[:3], both[3:]
    known = 1.0 - hole_small
    image = (image * 2.0 - 1.0) * known
    return image, known, WindowGeometry(window, size, (pad_top, pad_left))


def window_to_native(
    rgb: torch.Tensor, hole: torch.Tensor, window: Window, multiple: int, max_side: int = NATIVE_MAX_SIDE
) -> tuple[torch.Tensor, torch.Tensor, WindowGeometry]:
    """Cut ``window`` out of one image and make the network's input at the window's own resolution.

    The window (grown by its ``context``, clamped to the image; scaled by its ``scale``, or down
    to ``max_side`` if it has none and its longer side exceeds it) is padded by reflection
    (replication where it is too small to reflect) to sides that are multiples of ``multiple``,
    at least ``2 * multiple`` (see :attr:`DualPathNet.size_multiple`); the hole map is padded
    the same way. :func:`model_to_window` gives back the window itself, without the context.

    Args:
        rgb: ``(3, H, W)`` float in [0, 1].
        hole: ``(H, W)`` bool, True = fill.

    Returns:
        ``(image (3, h', w') in [-1, 1], known (1, h', w') in {0, 1}, geometry)``.
    """
    w = _outer(window, int(rgb.shape[-2]), int(rgb.shape[-1]))
    crop, hole_crop = rgb[:, w.top : w.bottom, w.left : w.right], hole[w.top : w.bottom, w.left : w.right]
    size = (w.height, w.width)
    limit = max_side if window.scale is None else max(size)
    scale = min(1.0, max_side / max(size)) if window.scale is None else min(1.0, window.scale)
    if scale < 1.0:
        size = (max(1, min(limit, round(w.height * scale))), max(1, min(limit, round(w.width * scale))))
    crop, hole_crop = scale_with_holes(crop, hole_crop, size)  # the holes' content never reaches the network
    both = torch.cat([crop, hole_crop.to(crop.dtype)[None]])[None]
    padded = [max(2 * multiple, math.ceil(side / multiple) * multiple) for side in size]
    pad_top, pad_left = (padded[0] - size[0]) // 2, (padded[1] - size[1]) // 2
    pads = (pad_left, padded[1] - size[1] - pad_left, pad_top, padded[0] - size[0] - pad_top)
    if any(pads):
        mode = "reflect" if max(pads[:2]) < size[1] and max(pads[2:]) < size[0] else "replicate"
        both = F.pad(both, pads, mode=mode)
    known = 1.0 - both[0, 3:]
    image = (both[0, :3] * 2.0 - 1.0) * known
    same = (w.top, w.left, w.height, w.width) == (window.top, window.left, window.height, window.width)
    core = None if same else Window(window.top - w.top, window.left - w.left, window.height, window.width)
    return image, known, WindowGeometry(w, size, (pad_top, pad_left), core)


def model_to_window(fill: torch.Tensor, geometry: WindowGeometry, *, core: bool = True) -> torch.Tensor:
    """The network's ``(3, R, R)`` (or padded native) output in [-1, 1] -> ``(3, height, width)`` in [0, 1] for its window
    (a native window's context cut off again, unless ``core=False``: then all of ``geometry.window``)."""
    (h, w), (top, left) = geometry.scaled, geometry.pad
    x = fill[None, :, top : top + h, left : left + w].float()
    x = resize(x, (geometry.window.height, geometry.window.width))[0]
    if core:
        x = geometry.cut_core(x)
    return ((x + 1.0) * 0.5).clamp_(0.0, 1.0)
