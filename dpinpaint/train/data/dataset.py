"""Masked training samples whose randomness is a function of ``(seed, epoch, image index)`` only."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from ...errors import InvalidInputError
from ...image_io import prepare_image, too_small
from ...mask_generation import thin_mask
from ...masks import MASK_KINDS, generate_mask
from .augment import random_blur, random_color_change
from .checks import check_indices, check_positive, check_probability, is_int
from .sources import ImageSource

__all__ = ["DEFAULT_HOLE_RATIO", "DEFAULT_REGULAR_PROBABILITY", "InpaintingDataset"]

#: Hole ratios of the training masks: Table 1's range, 0-60%.
DEFAULT_HOLE_RATIO = (0.0, 0.6)
#: Share of rectangular holes when both mask kinds are used (the paper shows both kinds equally).
DEFAULT_REGULAR_PROBABILITY = 0.5


class InpaintingDataset(Dataset[dict[str, Any]]):
    """Masked training samples of the images ``indices`` of ``source``, prepared at ``resolution``.

    Sample ``i`` (``dataset[i]``, or ``dataset[(epoch, i)]`` as :func:`make_loader` asks) is
    ``{"image": (3, R, R) float32 in [-1, 1], "known": (1, R, R) float32 (1 = observed,
    0 = hole), "index": int}`` where ``index`` is the image's index in ``source``. The flip, the
    mask, the colour change and the blur are drawn, in that order, from
    ``np.random.default_rng([seed, epoch, index])``: they depend on nothing else (not the
    worker, the batch or the rank), and change every epoch.

    Args:
        mask_kinds: kinds of :func:`dpinpaint.masks.generate_mask` to draw (``"irregular"``
            free-form strokes + boxes, ``"regular"`` one rectangle at a random position).
        regular_probability: with both kinds, the probability of a rectangle (default 0.5: the
            paper evaluates both kinds alike and states no mixture).
        hole_ratio: ``(lo, hi)``: every mask's hole fraction is in ``[lo, hi)`` (``(0, hi)`` when
            ``lo == 0``), target uniform in the range; default Table 1's 0-60%.
        flip: a horizontal flip with probability 1/2 (StyleGAN2's ``--mirror``).
        color_probability: the probability of a :func:`random_color_change` (default 0: never;
            the flips and masks do not depend on it).
        blur_probability: the probability of a :func:`random_blur` (default 0: never; the flips,
            masks and colour changes do not depend on it).
        thin_probability: the probability that the mask is thin damage
            (:func:`dpinpaint.mask_generation.thin_mask`: thin strokes, 0.5-12% of the image,
            whatever ``hole_ratio`` says) instead of a ``mask_kinds`` mask (default 0: never; with
            0 no random number is drawn for it, so the other draws are unchanged).

    Raises:
        InvalidInputError: bad arguments (checked here, not at the first sample).
    """

    def __init__(
        self,
        source: ImageSource,
        indices: Sequence[int],
        resolution: int,
        *,
        seed: int,
        mask_kinds: Sequence[str] = MASK_KINDS,
        regular_probability: float = DEFAULT_REGULAR_PROBABILITY,
        hole_ratio: tuple[float, float] = DEFAULT_HOLE_RATIO,
        flip: bool = True,
        color_probability: float = 0.0,
        blur_probability: float = 0.0,
        thin_probability: float = 0.0,
    ) -> None:
        self.source = source
        self.indices = check_indices("dataset", indices, len(source))
        self.resolution = check_positive("resolution", resolution)
        self.seed = check_positive("seed", seed, minimum=0)
        kinds = tuple(mask_kinds)
        if not kinds or any(k not in MASK_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
            raise InvalidInputError(f"mask_kinds must be distinct kinds among {MASK_KINDS}, got {mask_kinds!r}")
        self.mask_kinds = kinds
        self.regular_probability = check_probability("regular_probability", regular_probability)
        try:
            lo, hi = (float(v) for v in hole_ratio)
        except (TypeError, ValueError):
            raise InvalidInputError(f"hole_ratio must be a pair (lo, hi), got {hole_ratio!r}") from None
        if not 0.0 <= lo < hi <= 1.0:
            raise InvalidInputError(f"hole_ratio must satisfy 0 <= lo < hi <= 1, got {hole_ratio!r}")
        self.hole_ratio: tuple[float, float] = (lo, hi)
        self.flip: bool = bool(flip)
        self.color_probability = check_probability("color_probability", color_probability)
        self.blur_probability = check_probability("blur_probability", blur_probability)
        self.thin_probability = check_probability("thin_probability", thin_probability)
        self.epoch: int = 0

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """The epoch used by ``dataset[i]`` (keys ``(epoch, i)`` carry their own)."""
        self.epoch = check_positive("epoch", epoch, minimum=0)

    def _kind(self, rng: np.random.Generator) -> str:
        if len(self.mask_kinds) == 1:
            return self.mask_kinds[0]
        return "regular" if rng.random() < self.regular_probability else "irregular"

    def sample(self, i: int, epoch: int) -> dict[str, Any]:
        """Sample ``i`` (a position in :attr:`indices`) of ``epoch``; see the class docstring."""
        if not is_int(i) or not -len(self) <= i < len(self):
            raise IndexError(f"sample {i!r} is out of range for {len(self)} samples")
        index = self.indices[i]
        r = self.resolution
        im = self.source.open(index)
        problem = too_small(self.source.label(index), im.width, im.height, r)
        if problem:
            raise InvalidInputError(problem)
        pixels = prepare_image(im, r)  # (R, R, 3) uint8
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.flip and rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        if self.thin_probability and rng.random() < self.thin_probability:
            hole = thin_mask(r, r, rng=rng)  # (R, R) bool
        else:
            hole = generate_mask(r, r, kind=self._kind(rng), ratio=self.hole_ratio, rng=rng)
        if self.color_probability and rng.random() < self.color_probability:
            pixels = random_color_change(pixels, rng)
        if self.blur_probability and rng.random() < self.blur_probability:
            pixels = random_blur(pixels, rng)
        image = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)
        known = torch.from_numpy(~hole).float()[None]
        return {"image": image, "known": known, "index": index}

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            epoch, i = key
            return self.sample(i, epoch)
        return self.sample(key, self.epoch)
