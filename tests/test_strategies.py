"""Windows (resize / crop / native / auto) and the scaling between image windows and the network's input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpinpaint.errors import InvalidInputError
from dpinpaint.strategies import (
    NATIVE_MAX_SIDE,
    NATIVE_SCALE,
    TILE_BUDGET,
    TILE_CONTEXT,
    TILE_SCALE,
    Plan,
    Window,
    hole_thickness,
    model_to_window,
    plan_windows,
    resolve_native_max_side,
    window_to_model,
    window_to_native,
)


def _hole(h: int, w: int, *boxes: tuple[int, int, int, int]) -> torch.Tensor:
    """An ``(h, w)`` hole map with ``(top, left, height, width)`` boxes set."""
    hole = torch.zeros(h, w, dtype=torch.bool)
    for top, left, bh, bw in boxes:
        hole[top : top + bh, left : left + bw] = True
    return hole


def _coverage(plan: Plan, h: int, w: int) -> np.ndarray:
    count = np.zeros((h, w), np.int64)
    for win in plan.windows:
        count[win.top : win.bottom, win.left : win.right] += 1
    return count


def _check_plan(plan: Plan, hole: torch.Tensor, resolution: int) -> None:
    """Windows inside the image, not overlapping, every hole pixel in exactly one window."""
    h, w = hole.shape
    assert plan.windows
    for win in plan.windows:
        assert 0 <= win.top and 0 <= win.left and win.height >= 1 and win.width >= 1
        assert win.bottom <= h and win.right <= w
        if plan.strategy == "crop":  # small holes keep the image's resolution: windows are at least R
            assert win.height >= min(resolution, h) and win.width >= min(resolution, w)
    count = _coverage(plan, h, w)
    assert count.max() <= 1  # no overlap
    assert (count[hole.numpy()] == 1).all()
    for a in plan.windows:
        for b in plan.windows:
            assert a is b or not a.overlaps(b)


# -- window bookkeeping -----------------------------------------------------------------------------
def test_window_geometry() -> None:
    a, b = Window(2, 3, 4, 5), Window(6, 3, 1, 1)
    assert (a.bottom, a.right) == (6, 8)
    assert not a.overlaps(b) and not b.overlaps(a)  # touching is not overlapping
    assert a.overlaps(Window(5, 7, 10, 10))
    assert a.union(b) == Window(2, 3, 5, 5)


# -- plan_windows -----------------------------------------------------------------------------------
def test_resize_is_one_window_over_the_whole_image() -> None:
    hole = _hole(300, 500, (10, 10, 5, 5))
    assert plan_windows(hole, 64, "resize") == Plan("resize", (Window(0, 0, 300, 500),))


def test_empty_hole_plans_the_whole_image() -> None:
    for strategy in ("auto", "crop", "resize"):
        assert plan_windows(_hole(30, 40), 16, strategy).windows == (Window(0, 0, 30, 40),)


def test_crop_window_is_centred_square_of_resolution_for_a_small_hole() -> None:
    plan = plan_windows(_hole(1000, 1000, (500, 600, 10, 10)), 64, "crop")
    assert plan == Plan("crop", (Window(473, 573, 64, 64),))


def test_crop_window_grows_with_the_margin_and_is_clamped_to_the_image() -> None:
    plan = plan_windows(_hole(1000, 1000, (0, 0, 100, 50)), 64, "crop", margin=0.5)
    assert plan.windows == (Window(0, 0, 200, 200),)  # 100 * (1 + 2 * 0.5), pushed inside at the corner
    plan = plan_windows(_hole(1000, 1000, (450, 450, 100, 100)), 64, "crop", margin=0.0)
    assert plan.windows == (Window(450, 450, 100, 100),)
    plan = plan_windows(_hole(100, 1000, (40, 900, 10, 99)), 64, "crop", margin=0.5)
    assert plan.windows == (Window(0, 802, 100, 198),)  # 99 * 2 = 198 wide, all 100 rows


def test_nearby_holes_merge_and_distant_holes_do_not() -> None:
    near = plan_windows(_hole(1000, 1000, (100, 100, 5, 5), (100, 130, 5, 5)), 64, "crop")
    assert len(near.windows) == 1
    far = plan_windows(_hole(1000, 1000, (100, 100, 5, 5), (800, 800, 5, 5)), 64, "crop")
    assert len(far.windows) == 2
    # a chain: each window overlaps the next, so everything ends up in one window
    chain = _hole(200, 2000, *[(100, x, 3, 3) for x in range(100, 1900, 60)])
    plan = plan_windows(chain, 64, "crop")
    _check_plan(plan, chain, 64)
    assert len(plan.windows) == 1


def test_merging_that_reaches_an_earlier_window_merges_it_too() -> None:
    """Two windows that do not overlap each other, then a hole whose window overlaps one, and once grown, both.

    Components come in raster order: the holes on row 100 first, then the one on row 110.
    """
    hole = _hole(400, 400, (100, 10, 4, 4), (100, 150, 4, 4), (110, 80, 4, 4))
    assert len(plan_windows(_hole(400, 400, (100, 10, 4, 4), (100, 150, 4, 4)), 64, "crop").windows) == 2
    plan = plan_windows(hole, 64, "crop")
    _check_plan(plan, hole, 64)
    assert len(plan.windows) == 1


@pytest.mark.parametrize(
    ("shape", "boxes", "expected"),
    [
        ((64, 64), [(10, 10, 5, 5)], "resize"),  # not larger than R
        ((60, 2000), [(10, 10, 5, 5)], "crop"),  # larger, and the window covers 3%
        ((1000, 1000), [(100, 100, 5, 5), (900, 20, 3, 3)], "crop"),
        ((100, 100), [(10, 10, 5, 5)], "crop"),  # one 64x64 window covers 41%
        ((90, 90), [(0, 0, 3, 3)], "resize"),  # one 64x64 window covers 50.6%
        ((1000, 1000), [(0, 0, 900, 900)], "resize"),  # the crop window would cover all of it
    ],
)
def test_auto_rule(shape: tuple[int, int], boxes: list[tuple[int, int, int, int]], expected: str) -> None:
    """ "crop" when the image is larger than R and the crop windows cover less than half of it."""
    hole = _hole(*shape, *boxes)
    crop = plan_windows(hole, 64, "crop")
    covered = _coverage(crop, *shape).astype(bool).mean()
    rule = "crop" if max(shape) > 64 and covered < 0.5 else "resize"
    plan = plan_windows(hole, 64, "auto")
    assert plan.strategy == rule == expected
    assert plan == (crop if rule == "crop" else plan_windows(hole, 64, "resize"))


def test_auto_rule_examples() -> None:
    assert plan_windows(_hole(64, 64, (1, 1, 2, 2)), 64).strategy == "resize"  # fits the network
    assert plan_windows(_hole(65, 2000, (1, 1, 2, 2)), 64).strategy == "crop"
    assert plan_windows(_hole(90, 90, (1, 1, 2, 2)), 64).strategy == "resize"  # 64*64/90/90 = 50.6% covered
    assert plan_windows(_hole(91, 91, (1, 1, 2, 2)), 64).strategy == "crop"  # 49.5%
    assert plan_windows(_hole(1000, 1000, (0, 0, 400, 400)), 64).strategy == "resize"  # 800x800 window


@pytest.mark.parametrize(("strategy", "margin"), [("bogus", 0.5), ("Crop", 0.5), ("crop", -0.1), ("crop", math.nan)])
def test_bad_arguments(strategy: str, margin: float) -> None:
    with pytest.raises(InvalidInputError, match=r"strategy|margin"):
        plan_windows(_hole(10, 10, (1, 1, 1, 1)), 64, strategy, margin=margin)


def test_infinite_margin_is_refused_cleanly() -> None:
    with pytest.raises(InvalidInputError, match="finite"):
        plan_windows(_hole(10, 10, (1, 1, 1, 1)), 64, "crop", margin=math.inf)


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (1, 500), (500, 1), (3, 2), (2, 5000), (5000, 3), (64, 64), (65, 63), (257, 1000)],
)
@pytest.mark.parametrize("strategy", ["auto", "crop", "resize"])
def test_tiny_and_extreme_images(shape: tuple[int, int], strategy: str) -> None:
    h, w = shape
    hole = _hole(h, w, (h // 2, w // 2, 1, 1), (0, 0, 1, 1), (h - 1, w - 1, 1, 1))
    plan = plan_windows(hole, 64, strategy)
    _check_plan(plan, hole, 64)
    rgb = torch.rand(3, h, w)
    for win in plan.windows:
        image, known, geometry = window_to_model(rgb, hole, win, 64)
        assert image.shape == (3, 64, 64) and known.shape == (1, 64, 64)
        assert set(known.unique().tolist()) <= {0.0, 1.0}
        assert image.abs().max() <= 1.0
        assert (known == 0).any()  # every window holds a hole, and the network must see it
        back = model_to_window(torch.rand(3, 64, 64) * 2 - 1, geometry)
        assert back.shape == (3, win.height, win.width)
        assert back.min() >= 0.0 and back.max() <= 1.0


@st.composite
def hole_maps(draw: st.DrawFn) -> tuple[torch.Tensor, int, float]:
    h, w = draw(st.integers(1, 300)), draw(st.integers(1, 300))
    hole = torch.zeros(h, w, dtype=torch.bool)
    for _ in range(draw(st.integers(0, 6))):
        top, left = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
        hole[top : top + draw(st.integers(1, 80)), left : left + draw(st.integers(1, 80))] = True
    seed = draw(st.integers(0, 2**16))
    dots = torch.rand(h, w, generator=torch.Generator().manual_seed(seed)) < draw(st.sampled_from([0.0, 1e-4, 1e-3]))
    return hole | dots, draw(st.sampled_from([8, 16, 64])), draw(st.sampled_from([0.0, 0.25, 0.5, 2.0]))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hole_maps())
def test_plans_cover_every_hole_exactly_once(case: tuple[torch.Tensor, int, float]) -> None:
    hole, resolution, margin = case
    for strategy in ("auto", "crop", "resize"):
        plan = plan_windows(hole, resolution, strategy, margin=margin)
        _check_plan(plan, hole, resolution)
        if strategy == "resize":
            assert plan.windows == (Window(0, 0, *hole.shape),)


# -- window_to_model / model_to_window --------------------------------------------------------------
WINDOW_CASES = [
    (64, 64, 64),
    (640, 480, 64),
    (427, 641, 64),
    (5000, 40, 64),  # one hole pixel weighs ~1/3000 of a scaled pixel
    (2000, 3000, 256),
    (100, 7, 64),
    (3, 2, 64),  # upscaling
    (1, 500, 64),
    (1, 1, 16),
]


@pytest.mark.parametrize(("h", "w", "resolution"), WINDOW_CASES)
def test_hole_content_never_reaches_the_network(h: int, w: int, resolution: int) -> None:
    gen = torch.Generator().manual_seed(h * w)
    hole = torch.rand(h, w, generator=gen) < 0.001
    hole[h // 2, w // 2] = True
    # sentinel: hole pixels bright, the rest black -> known inputs are exactly -1 and holes exactly 0
    image, known, _ = window_to_model(hole.float().expand(3, -1, -1), hole, Window(0, 0, h, w), resolution)
    k = known[0] == 1
    assert torch.equal(image[:, k], torch.full_like(image[:, k], -1.0))
    assert torch.equal(image[:, ~k], torch.zeros_like(image[:, ~k]))


@pytest.mark.parametrize(("h", "w", "resolution"), WINDOW_CASES)
def test_no_hole_pixel_contributes_to_a_known_pixel(h: int, w: int, resolution: int) -> None:
    """Known pixels white, holes anything: a known network pixel is pure white, so no hole weight leaked in.

    (Hole pixels are zeroed before scaling; a hole's weight in a pixel marked known would darken it.)
    """
    gen = torch.Generator().manual_seed(h + w)
    hole = torch.zeros(h, w, dtype=torch.bool)
    hole[h // 2, w // 2] = hole[h // 5, w // 3] = hole[-1, -1] = True
    rgb = torch.where(hole, torch.rand(h, w, generator=gen), torch.ones(h, w)).expand(3, -1, -1)
    image, known, _ = window_to_model(rgb, hole, Window(0, 0, h, w), resolution)
    k = known[0] == 1
    assert (k.float().mean() < 1.0).item()  # the holes did not vanish
    if k.any():
        assert (image[:, k] - 1.0).abs().max().item() < 1e-5


def test_a_single_hole_pixel_survives_heavy_downscaling() -> None:
    hole = _hole(4000, 4000, (1234, 2345, 1, 1))
    _, known, _ = window_to_model(torch.rand(3, 4000, 4000), hole, Window(0, 0, 4000, 4000), 64)
    assert (known == 0).sum() >= 1


def test_pixels_outside_the_window_do_not_matter() -> None:
    gen = torch.Generator().manual_seed(0)
    rgb = torch.rand(3, 120, 150, generator=gen)
    hole = _hole(120, 150, (40, 50, 10, 10))
    win = Window(20, 30, 64, 64)
    other = rgb.clone()
    other[:, :20] = 0.0
    other[:, :, 94:] = 1.0
    a, ka, _ = window_to_model(rgb, hole, win, 64)
    b, kb, _ = window_to_model(other, hole, win, 64)
    assert torch.equal(a, b) and torch.equal(ka, kb)


def test_identity_window_round_trips() -> None:
    """A window of exactly R x R is neither scaled nor padded."""
    rgb = torch.rand(3, 80, 90)
    hole = _hole(80, 90, (30, 40, 5, 5))
    win = Window(10, 20, 64, 64)
    image, known, geometry = window_to_model(rgb, hole, win, 64)
    crop = rgb[:, 10:74, 20:84]
    k = known[0] == 1
    assert torch.allclose(image[:, k], crop[:, k] * 2 - 1, atol=1e-6)
    assert torch.equal(known[0] == 0, hole[10:74, 20:84])
    assert torch.allclose(model_to_window(image, geometry)[:, k], crop[:, k], atol=1e-6)


@pytest.mark.parametrize(("h", "w"), [(40, 30), (30, 40), (200, 90), (64, 10), (10, 64)])
def test_non_square_windows_are_scaled_to_r_and_reflect_padded(h: int, w: int) -> None:
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    rgb = torch.stack([ys, xs, (ys + xs) / 2])  # smooth, so scaling there and back is close
    hole = torch.zeros(h, w, dtype=torch.bool)
    image, known, geometry = window_to_model(rgb, hole, Window(0, 0, h, w), 64)
    sh, sw = geometry.scaled
    assert max(sh, sw) == 64 and abs(sh / sw - h / w) < 0.1
    assert torch.equal(known, torch.ones_like(known))
    top, left = geometry.pad
    assert (top, left) == ((64 - sh) // 2, (64 - sw) // 2)
    # reflect padding (the column left of the content mirrors the one after its first column), or
    # replicate padding when the padding is wider than the content
    if 0 < left < sw:
        assert torch.equal(image[:, :, left - 1], image[:, :, left + 1])
    elif left:
        assert torch.equal(image[:, :, 0], image[:, :, left])
    if 0 < top < sh:
        assert torch.equal(image[:, top - 1], image[:, top + 1])
    elif top:
        assert torch.equal(image[:, 0], image[:, top])
    back = model_to_window(image, geometry)
    assert back.shape == (3, h, w)
    assert (back - rgb).abs().max().item() < 0.03


def test_model_to_window_maps_range_and_clamps() -> None:
    geometry = window_to_model(torch.rand(3, 64, 64), _hole(64, 64), Window(0, 0, 64, 64), 64)[2]
    out = model_to_window(torch.tensor([-3.0, 0.0, 3.0]).view(3, 1, 1).expand(3, 64, 64), geometry)
    assert torch.equal(out[:, 0, 0], torch.tensor([0.0, 0.5, 1.0]))
    half = model_to_window(torch.zeros(3, 64, 64, dtype=torch.float16), geometry)
    assert half.dtype == torch.float32


@pytest.mark.parametrize(("h", "w", "resolution"), [(500, 1, 64), (100, 1, 64), (5000, 40, 64), (3, 1, 64), (2, 7, 64)])
def test_one_column_windows_keep_their_rows(h: int, w: int, resolution: int) -> None:
    """A window (or its scaled size) one column wide: rows must not collapse onto the first one.

    torch's antialiased bilinear resize returns every row equal to the first for such shapes.
    """
    rgb = torch.linspace(0, 1, h).view(1, h, 1).expand(3, h, w)
    image, known, geometry = window_to_model(rgb, torch.zeros(h, w, dtype=torch.bool), Window(0, 0, h, w), resolution)
    sh, (top, left) = geometry.scaled[0], geometry.pad
    column = (image[0, top : top + sh, left] + 1) / 2
    expected = (torch.arange(sh) + 0.5) / sh  # the mean of the gradient over each output row's span
    assert (column - expected).abs().max().item() < 1.5 / min(h, sh)
    assert torch.equal(known, torch.ones_like(known))
    back = model_to_window(image, geometry)
    assert back.shape == (3, h, w)
    assert (back[0, :, 0] - rgb[0, :, 0]).abs().max().item() < 2.0 / min(h, sh) + 1e-6


# -- native resolution (feed-forward-only models) ------------------------------------------------------
@pytest.mark.parametrize(
    ("shape", "boxes"),
    [((64, 64), [(10, 10, 5, 5)]), ((90, 90), [(0, 0, 3, 3)]), ((1000, 1000), [(0, 0, 900, 900)]), ((300, 450), [])],
)
def test_auto_runs_whole_images_natively_when_the_model_can(
    shape: tuple[int, int], boxes: list[tuple[int, int, int, int]]
) -> None:
    hole = _hole(*shape, *boxes)
    assert plan_windows(hole, 64, "auto").strategy == "resize"
    plan = plan_windows(hole, 64, "auto", native=True)
    assert plan == Plan("native", (Window(0, 0, *shape),), native=True)
    assert plan_windows(hole, 64, "native", native=True) == plan
    assert plan_windows(hole, 64, "resize", native=True) == plan_windows(hole, 64, "resize")


def test_crop_keeps_small_holes_local_and_native() -> None:
    hole = _hole(1000, 1000, (100, 100, 5, 5), (900, 20, 3, 3))
    plan = plan_windows(hole, 64, "auto", native=True)
    assert plan.strategy == "crop" and plan.native
    assert plan.windows == plan_windows(hole, 64, "crop").windows
    assert plan_windows(hole, 64, "crop", native=True).native
    assert not plan_windows(hole, 64, "crop").native


def test_native_needs_a_model_that_runs_at_any_size() -> None:
    with pytest.raises(InvalidInputError, match="feed-forward-only"):
        plan_windows(_hole(64, 64, (1, 1, 2, 2)), 64, "native")


@pytest.mark.parametrize(("h", "w", "multiple"), [(300, 450, 16), (37, 20, 8), (64, 64, 16), (5, 200, 16), (1, 1, 8)])
def test_native_windows_keep_their_resolution_and_are_reflect_padded(h: int, w: int, multiple: int) -> None:
    rgb = torch.rand(3, h, w)
    hole = torch.rand(h, w) < 0.3
    image, known, geometry = window_to_native(rgb, hole, Window(0, 0, h, w), multiple)
    ph, pw = image.shape[-2:]
    assert ph % multiple == 0 == pw % multiple and ph >= max(h, 2 * multiple) and pw >= max(w, 2 * multiple)
    assert ph - h < max(multiple, 2 * multiple - h + 1) and pw - w < max(multiple, 2 * multiple - w + 1)
    assert geometry.scaled == (h, w)
    top, left = geometry.pad
    inner = known[0, top : top + h, left : left + w] == 0
    assert torch.equal(inner, hole)  # the window's own pixels: no scaling, holes exactly the holes
    assert set(known.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(image * (1 - known), torch.zeros_like(image))  # nothing under any hole, padding included
    k = ~hole
    assert torch.allclose(image[:, top : top + h, left : left + w][:, k], rgb[:, k] * 2 - 1, atol=1e-6)
    if 0 < left and ph - h < h and pw - w < w:  # reflect padding: image and hole map mirrored together
        assert torch.equal(image[:, :, left - 1], image[:, :, left + 1])
        assert torch.equal(known[:, :, left - 1], known[:, :, left + 1])
    back = model_to_window(image, geometry)
    assert back.shape == (3, h, w)
    assert torch.allclose(back[:, k], rgb[:, k], atol=1e-6)  # no resampling on the way back


def test_native_hole_content_never_reaches_the_network() -> None:
    rgb, hole = torch.rand(3, 70, 50), _hole(70, 50, (0, 0, 10, 50), (30, 20, 5, 5))
    other = rgb.clone()
    other[:, hole] = torch.rand(3, int(hole.sum()))
    a, b = (
        window_to_native(rgb, hole, Window(0, 0, 70, 50), 16),
        window_to_native(other, hole, Window(0, 0, 70, 50), 16),
    )
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_native_windows_larger_than_max_side_are_scaled_down() -> None:
    h, w = 300, 500
    rgb, hole = torch.rand(3, h, w), _hole(h, w, (100, 100, 1, 1))
    image, known, geometry = window_to_native(rgb, hole, Window(0, 0, h, w), 16, max_side=200)
    assert geometry.scaled == (120, 200)
    assert image.shape[-2:] == (128, 208)
    assert (known == 0).any()  # a one-pixel hole survives the shrinking
    assert model_to_window(image, geometry).shape == (3, h, w)


def test_native_max_side_defaults_to_native_scale_times_the_training_size() -> None:
    assert resolve_native_max_side(128) == NATIVE_SCALE * 128
    assert resolve_native_max_side(4096) == NATIVE_MAX_SIDE  # capped
    assert resolve_native_max_side(128, 777) == 777
    for bad in (0, -5, 1.5, True, "big"):
        with pytest.raises(InvalidInputError, match="native_max_side"):
            resolve_native_max_side(128, bad)  # type: ignore[arg-type]


# -- working scale from the holes' thickness; tiles for thin damage on large images ---------------------
def _lines(h: int, w: int, rows: list[int], width: int = 2) -> torch.Tensor:
    """Thin horizontal scratches ``width`` pixels wide across the whole image."""
    hole = torch.zeros(h, w, dtype=torch.bool)
    for row in rows:
        hole[row : row + width] = True
    return hole


def _check_tiles(plan: Plan, hole: torch.Tensor) -> None:
    """Cores inside the image, not overlapping, each holding a hole, every hole pixel in exactly one."""
    h, w = hole.shape
    for win in plan.windows:
        assert 0 <= win.top and 0 <= win.left and win.bottom <= h and win.right <= w
        assert hole[win.top : win.bottom, win.left : win.right].any()
    count = _coverage(plan, h, w)
    assert count.max() <= 1 and (count[hole.numpy()] == 1).all()


def test_hole_thickness_is_about_the_stroke_width() -> None:
    def thickness(hole: torch.Tensor) -> float:
        return hole_thickness(hole.numpy())

    assert thickness(_lines(50, 80, [10], width=1)) == 2.0
    assert 7.0 <= thickness(_lines(50, 80, [10], width=8)) <= 9.0
    assert thickness(_hole(300, 300, (50, 50, 200, 200))) > 150
    assert thickness(_lines(50, 80, [])) == 0.0


def test_thin_holes_run_at_full_resolution_and_thick_ones_at_the_default() -> None:
    thin, thick = _lines(600, 900, [100, 300, 500]), _hole(600, 900, (100, 100, 300, 400))
    plan = plan_windows(thin, 128, "auto", native=True)  # 2-px scratches: thin under the default THIN_SIDE
    assert plan == Plan("native", (Window(0, 0, 600, 900, scale=1.0),), native=True)
    assert plan_windows(thick, 128, "auto", native=True) == Plan("native", (Window(0, 0, 600, 900),), native=True)
    # between the two: thin_side pixels of hole thickness at the working scale
    side = 16.0  # a line far from the pixel grid's rounding, whatever THIN_SIDE is
    width = round(1.8 * side)
    lines = _lines(600, 900, [100, 300], width=width)
    (window,) = plan_windows(lines, 128, "auto", native=True, thin_side=side).windows
    assert window.scale is not None and resolve_native_max_side(128) / 900 < window.scale < 1.0
    assert window.scale == pytest.approx(side / width, rel=0.1)
    assert plan_windows(thin, 128, "auto", native=True, max_side=1000).windows == (Window(0, 0, 600, 900),)
    # thin_side moves the line between the two: twice as thick holes at the same scale
    wider = _lines(600, 900, [100, 300], width=2 * width)
    (window2,) = plan_windows(wider, 128, "auto", native=True, thin_side=2 * side).windows
    assert window2.scale == pytest.approx(window.scale, rel=0.1)
    (window3,) = plan_windows(lines, 128, "auto", native=True, thin_side=1).windows
    assert window3.scale is None  # 1 px: only hairlines get more than the default
    assert plan_windows(thin, 128, "auto") == Plan("resize", (Window(0, 0, 600, 900),))  # inversion path: as before


def test_thin_damage_on_a_large_image_runs_in_tiles_where_the_holes_are() -> None:
    hole = _lines(3000, 4000, [700], width=3)  # a scratch across a 12-megapixel photo
    plan = plan_windows(hole, 128, "auto", native=True)
    assert plan.strategy == "native" and plan.native
    _check_tiles(plan, hole)
    core, context = TILE_SCALE * 128, math.ceil(TILE_CONTEXT * 128)
    for win in plan.windows:
        assert win.scale == 1.0 and win.context == context and max(win.height, win.width) <= core
    assert len(plan.windows) == math.ceil(4000 / core)  # one row of tiles, only where the hole is


def test_dense_thin_damage_lowers_the_scale_to_stay_within_the_budget() -> None:
    hole = _lines(6000, 8000, list(range(10, 6000, 40)), width=2)
    plan = plan_windows(hole, 128, "auto", native=True)
    _check_tiles(plan, hole)
    scales = {win.scale for win in plan.windows}
    assert len(scales) == 1
    (scale,) = scales
    assert scale is not None and 256 / 8000 < scale < 1.0
    work = 0.0
    for win in plan.windows:
        top, left = max(0, win.top - win.context), max(0, win.left - win.context)
        bottom, right = min(6000, win.bottom + win.context), min(8000, win.right + win.context)
        work += (bottom - top) * (right - left) * scale**2
    assert work <= TILE_BUDGET


def test_crop_windows_of_thin_holes_get_their_scale_too() -> None:
    hole = _lines(3000, 3000, [], width=1)
    hole[100:102, 100:900] = True  # a scratch in one corner: a crop window of 1200 px
    plan = plan_windows(hole, 128, "auto", native=True)
    assert plan.strategy == "crop" and plan.windows[0].scale == 1.0
    _check_tiles(plan, hole)


@pytest.mark.parametrize(("scale", "context"), [(1.0, 16), (0.5, 10), (0.7, 0)])
def test_native_tiles_cut_their_context_and_paste_only_their_core(scale: float, context: int) -> None:
    h, w = 200, 300
    rgb, hole = torch.rand(3, h, w), _hole(h, w, (90, 0, 2, 300))
    win = Window(60, 100, 64, 64, scale=scale, context=context)
    image, known, geometry = window_to_native(rgb, hole, win, 16)
    outer = (64 + 2 * context) * scale
    assert geometry.scaled == (round(outer), round(outer))
    assert image.shape[-2] % 16 == 0 and image.shape[-2] >= outer
    assert torch.equal(image * (1 - known), torch.zeros_like(image))
    back = model_to_window(image, geometry)
    assert back.shape == (3, 64, 64)
    if scale == 1.0:
        k = ~hole[60:124, 100:164]
        assert torch.allclose(back[:, k], rgb[:, 60:124, 100:164][:, k], atol=1e-6)  # the core, not the context
    edge = window_to_native(rgb, hole, Window(0, 0, 64, 64, scale=1.0, context=20), 16)[2]
    assert edge.window == Window(0, 0, 84, 84)  # the context is clamped to the image
    assert model_to_window(torch.zeros(3, 96, 96), edge).shape == (3, 64, 64)
