"""Seeded evaluation masks of any size: hole-ratio groups, thin scratches, text strokes."""

from __future__ import annotations

import numpy as np
import pytest

from dpinpaint.errors import InvalidInputError
from dpinpaint.eval_masks import (
    SCRATCH_RATIO,
    TEXT_RATIO,
    damage_mask,
    group_mask,
    scratch_mask,
    text_mask,
)


@pytest.mark.parametrize(("h", "w"), [(96, 128), (576, 768), (1080, 1920), (300, 200)])
@pytest.mark.parametrize(("make", "ratio"), [(scratch_mask, SCRATCH_RATIO), (text_mask, TEXT_RATIO)])
def test_damage_masks_cover_their_share_of_any_image(make: object, ratio: tuple[float, float], h: int, w: int) -> None:
    for index in range(3):
        mask = make(h, w, 0, index)  # type: ignore[operator]
        assert mask.shape == (h, w) and mask.dtype == bool
        assert ratio[0] <= mask.mean() <= ratio[1]


def test_scratches_are_thin_and_text_is_thicker() -> None:
    import cv2

    for make, thin in ((scratch_mask, True), (text_mask, False)):
        mask = make(576, 768, 0, 0).astype(np.uint8)
        eroded = cv2.erode(mask, np.ones((3, 3), np.uint8))  # lines of 1-2 px vanish under a 3x3 erosion
        assert (eroded.sum() < 0.2 * mask.sum()) == thin


def test_masks_are_seeded_by_seed_and_index() -> None:
    a = damage_mask("text", 200, 300, seed=1, index=2)
    assert np.array_equal(a, text_mask(200, 300, 1, 2))
    assert not np.array_equal(a, text_mask(200, 300, 1, 3))
    assert not np.array_equal(a, text_mask(200, 300, 2, 2))
    g = group_mask(120, 200, "irregular", (0.2, 0.3), seed=0, index=4)
    assert g.shape == (120, 200) and 0.2 <= g.mean() <= 0.3
    assert np.array_equal(g, group_mask(120, 200, "irregular", (0.2, 0.3), seed=0, index=4))
    assert not np.array_equal(g, group_mask(120, 200, "irregular", (0.2, 0.3), seed=0, index=5))
    r = group_mask(120, 200, "regular", (0.3, 0.4))
    assert 0.3 <= r.mean() <= 0.4


def test_unknown_kinds_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="scratch or text"):
        damage_mask("blob", 10, 10)
    with pytest.raises(InvalidInputError, match="irregular or regular"):
        group_mask(10, 10, "text", (0.1, 0.2))
