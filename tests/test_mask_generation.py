"""dpinpaint.mask_generation: Table-1 hole-ratio groups hit on every mask, deterministic seeded sets, strokes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpinpaint import mask_generation, masks
from dpinpaint.errors import InvalidInputError
from dpinpaint.mask_generation import (
    HOLE_GROUPS,
    MASK_KINDS,
    generate_mask,
    group_label,
    group_of,
    hole_ratio,
    mask_set,
    parse_groups,
)

SIZES: list[int | tuple[int, int]] = [64, 97, 128, 256, 512, (64, 300), (300, 80)]


def _in(ratio: float, group: tuple[float, float]) -> bool:
    lo, hi = group
    return (ratio > 0.0 if lo == 0.0 else ratio >= lo) and ratio < hi


def _is_rectangle(hole: np.ndarray) -> bool:
    ys, xs = np.nonzero(hole)
    return bool(hole[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].all())


def test_masks_still_exports_the_generation_names() -> None:
    """``from dpinpaint.masks import generate_mask`` (and the other names) keeps working."""
    for name in mask_generation.__all__:
        assert getattr(masks, name) is getattr(mask_generation, name)
        assert name in masks.__all__


# -- groups -----------------------------------------------------------------------------------------
def test_hole_groups_are_table_1() -> None:
    assert HOLE_GROUPS == ((0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.4), (0.4, 0.5), (0.5, 0.6))
    assert [group_label(g) for g in HOLE_GROUPS] == ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%"]
    assert group_label((0.125, 0.5)) == "12.5-50%"


def test_parse_groups() -> None:
    assert parse_groups("0-10,10-20,20-30,30-40,40-50,50-60") == list(HOLE_GROUPS)
    assert parse_groups("0-10,10-20,50-60") == [(0.0, 0.1), (0.1, 0.2), (0.5, 0.6)]
    assert parse_groups(" 10 - 20% , 12.5-100 ") == [(0.1, 0.2), (0.125, 1.0)]
    for group in parse_groups("0-10,30-40"):
        assert group in HOLE_GROUPS  # exact floats: usable as keys next to HOLE_GROUPS


@pytest.mark.parametrize(
    "text", ["", " ", "10", "10-", "a-b", "20-10", "10-10", "0-101", "-5-10", "0-10,,10-20", "0-10,0-10"]
)
def test_parse_groups_rejects_bad_text(text: str) -> None:
    with pytest.raises(InvalidInputError):
        parse_groups(text)


def test_group_of_and_hole_ratio() -> None:
    assert group_of(0.0) is None  # an empty mask is in no group
    assert group_of(1e-9) == (0.0, 0.1)
    assert group_of(0.1) == (0.1, 0.2)  # [lo, hi)
    assert group_of(0.0999) == (0.0, 0.1)
    assert group_of(0.6) is None
    assert group_of(0.35, [(0.5, 0.6), (0.3, 0.4)]) == (0.3, 0.4)
    hole = np.zeros((4, 5), bool)
    hole[0, :2] = True
    assert hole_ratio(hole) == 0.1
    assert hole_ratio(hole.astype(np.uint8) * 255) == 0.1
    assert hole_ratio(np.zeros((0, 3), bool)) == 0.0


# -- every mask in its group ------------------------------------------------------------------------
@pytest.mark.parametrize("kind", MASK_KINDS)
@pytest.mark.parametrize("size", SIZES)
def test_every_mask_hits_its_group(kind: str, size: int | tuple[int, int]) -> None:
    height, width = (size, size) if isinstance(size, int) else size
    for index, group in enumerate(HOLE_GROUPS):
        for hole in mask_set(8, size, kind=kind, group=group, seed=index):
            assert hole.dtype == np.bool_ and hole.shape == (height, width)
            assert _in(hole_ratio(hole), group), (kind, size, group, hole_ratio(hole))
            assert group_of(hole_ratio(hole)) == group


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(64, 512),
    width=st.integers(64, 512),
    group=st.sampled_from(HOLE_GROUPS),
    kind=st.sampled_from(MASK_KINDS),
    seed=st.integers(0, 2**32 - 1),
)
def test_generate_mask_hits_any_group(
    height: int, width: int, group: tuple[float, float], kind: str, seed: int
) -> None:
    hole = generate_mask(height, width, kind=kind, ratio=group, rng=np.random.default_rng(seed))
    assert hole.shape == (height, width) and hole.dtype == np.bool_
    assert _in(hole_ratio(hole), group)


@pytest.mark.parametrize("ratio", [(0.0, 0.05), (0.3, 0.32), (0.25, 0.75), (0.0, 1.0), (0.9, 1.0)])
def test_custom_ratios(ratio: tuple[float, float]) -> None:
    for seed in range(5):
        for kind in MASK_KINDS:
            hole = generate_mask(128, 96, kind=kind, ratio=ratio, rng=np.random.default_rng(seed))
            assert _in(hole_ratio(hole), ratio)


def test_small_images_still_hit_the_group() -> None:
    for size in (8, 16, 31):
        for group in HOLE_GROUPS:
            for kind in MASK_KINDS:
                for hole in mask_set(3, size, kind=kind, group=group):
                    assert _in(hole_ratio(hole), group)


def test_default_ratio_is_table_1_range() -> None:
    for kind in MASK_KINDS:
        for hole in mask_set(20, 96, kind=kind, seed=5):
            assert 0.0 < hole_ratio(hole) < 0.6


def test_targets_spread_over_the_group() -> None:
    ratios = [hole_ratio(h) for h in mask_set(40, 128, group=(0.2, 0.3), seed=1)]
    assert min(ratios) < 0.23 and max(ratios) > 0.27


# -- determinism --------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", MASK_KINDS)
def test_mask_set_is_deterministic_and_independent_of_count(kind: str) -> None:
    group = (0.3, 0.4)
    first = mask_set(6, 128, kind=kind, group=group, seed=3)
    again = mask_set(6, 128, kind=kind, group=group, seed=3)
    longer = mask_set(11, 128, kind=kind, group=group, seed=3)
    shorter = mask_set(2, 128, kind=kind, group=group, seed=3)
    for a, b, c in zip(first, again, longer):
        assert np.array_equal(a, b) and np.array_equal(a, c)
    for a, b in zip(shorter, first):
        assert np.array_equal(a, b)
    assert len({m.tobytes() for m in longer}) == 11  # masks of a set differ
    assert mask_set(0, 128, kind=kind, group=group) == []


def test_mask_set_streams_differ_by_seed_group_kind_and_size() -> None:
    base = mask_set(1, 128, group=(0.2, 0.3), seed=0)[0]
    assert not np.array_equal(base, mask_set(1, 128, group=(0.2, 0.3), seed=1)[0])
    assert not np.array_equal(base, mask_set(1, 128, group=(0.3, 0.4), seed=0)[0])
    assert not np.array_equal(base, mask_set(1, 128, kind="regular", group=(0.2, 0.3), seed=0)[0])
    assert mask_set(1, (128, 128), group=(0.2, 0.3), seed=0)[0].tobytes() == base.tobytes()
    assert mask_set(1, (128, 130), group=(0.2, 0.3), seed=0)[0].shape == (128, 130)


def test_generate_mask_depends_only_on_rng_state() -> None:
    a = generate_mask(100, 120, ratio=(0.1, 0.2), rng=np.random.default_rng(42))
    b = generate_mask(100, 120, ratio=(0.1, 0.2), rng=np.random.default_rng(42))
    assert np.array_equal(a, b)
    np.random.seed(0)  # the global RNG plays no part
    c = generate_mask(100, 120, ratio=(0.1, 0.2), rng=np.random.default_rng(42))
    assert np.array_equal(a, c)


# -- what they look like ------------------------------------------------------------------------------
def test_irregular_masks_are_strokes_not_rectangles() -> None:
    holes = [h for g in HOLE_GROUPS for h in mask_set(10, 256, kind="irregular", group=g, seed=7)]
    rectangles = sum(_is_rectangle(h) for h in holes)
    assert rectangles <= len(holes) // 20
    # strokes are thin: most hole pixels have a non-hole pixel within a few pixels
    for hole in holes[:10]:  # the 0-10% group: a few strokes
        ys, xs = np.nonzero(hole)
        spans = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
        assert hole.sum() < 0.8 * spans


def test_regular_masks_are_one_rectangle() -> None:
    for group in HOLE_GROUPS:
        for hole in mask_set(10, (128, 200), kind="regular", group=group, seed=2):
            assert _is_rectangle(hole)


def test_positions_vary() -> None:
    centres = {
        tuple(np.argwhere(h).mean(axis=0).round(-1)) for h in mask_set(10, 256, kind="regular", group=(0.1, 0.2))
    }
    assert len(centres) > 3


# -- errors -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"kind": "blobs"},
        {"ratio": (0.3, 0.2)},
        {"ratio": (0.2, 0.2)},
        {"ratio": (-0.1, 0.2)},
        {"ratio": (0.5, 1.5)},
        {"ratio": "0-10"},
        {"ratio": (0.1,)},
    ],
)
def test_generate_mask_rejects_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        generate_mask(64, 64, rng=np.random.default_rng(0), **kwargs)


@pytest.mark.parametrize("size", [(0, 5), (5, -1), (2.5, 4), (True, 4)])
def test_generate_mask_rejects_bad_sizes(size: tuple) -> None:
    with pytest.raises(InvalidInputError):
        generate_mask(*size, rng=np.random.default_rng(0))


def test_generate_mask_needs_a_generator() -> None:
    with pytest.raises(InvalidInputError):
        generate_mask(64, 64, rng=0)  # type: ignore[arg-type]


def test_impossible_ratio_for_tiny_image() -> None:
    # 2x2 = 4 pixels: ratios 0, .25, .5, .75, 1: none in [0.3, 0.4)
    with pytest.raises(InvalidInputError, match="30-40%"):
        generate_mask(2, 2, ratio=(0.3, 0.4), rng=np.random.default_rng(0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"count": -1},
        {"count": 1.5},
        {"seed": -1},
        {"seed": 0.5},
        {"size": (64,)},
        {"size": "64"},
        {"group": (0.5, 0.1)},
    ],
)
def test_mask_set_rejects_bad_arguments(kwargs: dict) -> None:
    args = {"count": 1, "size": 64, **kwargs}
    with pytest.raises(InvalidInputError):
        mask_set(args.pop("count"), args.pop("size"), **args)


def test_gives_up_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mask_generation, "_MAX_RESTARTS", 0)
    with pytest.raises(RuntimeError, match=r"could not generate an? irregular 64x64 mask"):
        generate_mask(64, 64, ratio=(0.5, 0.6), rng=np.random.default_rng(0))


def test_thin_masks_are_thin_in_range_and_seeded() -> None:
    from dpinpaint.mask_generation import THIN_RATIO, thin_mask
    from dpinpaint.strategies import hole_thickness

    for seed in range(20):
        hole = thin_mask(128, 96, rng=np.random.default_rng(seed))
        assert hole.shape == (128, 96) and hole.dtype == bool
        assert THIN_RATIO[0] <= hole.mean() < THIN_RATIO[1] + 0.05, hole.mean()
        assert hole_thickness(hole) <= 4 * round(0.025 * math.sqrt(128 * 96))  # strokes of 1-3 px, crossings
        assert np.array_equal(hole, thin_mask(128, 96, rng=np.random.default_rng(seed)))
