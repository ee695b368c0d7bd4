"""Tests for :func:`dpinpaint.ops.harmonic_fill`, :func:`dpinpaint.ops.poisson_blend` and the flat-surroundings weight.

The reference is a direct sparse solve (scipy, a test dependency) of the same 5-point system,
built pixel by pixel from its definition.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from dpinpaint.eval_masks import group_mask, scratch_mask
from dpinpaint.ops import flat_detail, harmonic, harmonic_fill, local_contrast, poisson_blend

sparse = pytest.importorskip("scipy.sparse")
linalg = pytest.importorskip("scipy.sparse.linalg")


def _direct(values: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Laplace's equation on the hole pixels, neighbours outside the array left out, solved exactly."""
    height, width = hole.shape
    pixels = list(zip(*np.nonzero(hole), strict=True))
    number = {p: i for i, p in enumerate(pixels)}
    matrix = sparse.lil_matrix((len(pixels), len(pixels)))
    rhs = np.zeros((len(pixels), values.shape[0]))
    for i, (r, c) in enumerate(pixels):
        for dr, dc in ((-1, 0), (1, 0), (0, -1), (0, 1)):
            rr, cc = r + dr, c + dc
            if not (0 <= rr < height and 0 <= cc < width):
                continue
            matrix[i, i] += 1.0
            if hole[rr, cc]:
                matrix[i, number[(rr, cc)]] -= 1.0
            else:
                rhs[i] += values[:, rr, cc]
    out = values.copy()
    solved = linalg.spsolve(matrix.tocsc(), rhs).reshape(len(pixels), -1)
    for i, (r, c) in enumerate(pixels):
        out[:, r, c] = solved[i]
    return out


def _field(rng: np.random.Generator, channels: int, height: int, width: int) -> np.ndarray:
    """A smooth field with pixel noise: what the offset between an image and a fill looks like."""
    coarse = torch.from_numpy(rng.normal(size=(1, channels, height // 8 + 2, width // 8 + 2)))
    smooth = torch.nn.functional.interpolate(coarse, size=(height, width), mode="bicubic")[0].numpy()
    return 0.2 * smooth + 0.02 * rng.normal(size=(channels, height, width))


@pytest.mark.parametrize(
    "hole",
    [
        scratch_mask(96, 128, seed=0, index=1) > 0,
        group_mask(64, 80, "irregular", (0.4, 0.5), seed=0, index=2) > 0,
        np.pad(np.ones((20, 30), bool), ((0, 44), (50, 0))),  # a block in the top-right corner
        group_mask(157, 203, "irregular", (0.3, 0.4), seed=0, index=3) > 0,  # odd sides, five grids
    ],
    ids=["scratch", "irregular", "corner", "odd-large"],
)
def test_matches_a_direct_solve(hole: np.ndarray) -> None:
    rng = np.random.default_rng(1)
    values = _field(rng, 3, *hole.shape)
    got = harmonic_fill(torch.from_numpy(values).float(), torch.from_numpy(hole)).double().numpy()
    expected = _direct(values, hole)
    assert np.abs(got - expected)[:, hole].max() < 1e-3  # a quarter of a grey level
    assert np.array_equal(got[:, ~hole], values[:, ~hole].astype(np.float32))


def test_linear_ramps_are_reproduced() -> None:
    """A linear function is harmonic: filling any hole in it gives it back."""
    rows, cols = np.mgrid[0:40, 0:50].astype(np.float64)
    ramp = np.stack([0.01 * rows + 0.02 * cols, -0.015 * cols + 0.3])
    hole = np.zeros((40, 50), bool)
    hole[5:30, 10:45] = True
    got = harmonic_fill(torch.from_numpy(ramp).float(), torch.from_numpy(hole)).numpy()
    assert np.abs(got - ramp).max() < 1e-3  # within the solver's tolerance: a quarter of a grey level


def test_degenerate_holes() -> None:
    values = torch.rand(3, 7, 9)
    none = torch.zeros(7, 9, dtype=torch.bool)
    assert torch.equal(harmonic_fill(values, none), values)
    every = torch.ones(7, 9, dtype=torch.bool)
    assert torch.equal(harmonic_fill(values, every), torch.zeros_like(values))
    one = none.clone()
    one[3, 4] = True  # a single pixel: the mean of its four neighbours
    got = harmonic_fill(values, one)
    neighbours = values[:, 2, 4] + values[:, 4, 4] + values[:, 3, 3] + values[:, 3, 5]
    assert torch.allclose(got[:, 3, 4], neighbours / 4, atol=1e-6)
    line = torch.zeros(1, 6, dtype=torch.bool)
    line[0, 2:5] = True  # a one-row image: a straight line between its observed ends
    got = harmonic_fill(torch.tensor([[[1.0, 2.0, 0.0, 0.0, 0.0, 7.0]]]), line)
    assert torch.allclose(got[0, 0], torch.tensor([1.0, 2.0, 3.25, 4.5, 5.75, 7.0]), atol=1e-5)


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        harmonic_fill(torch.zeros(4, 4), torch.zeros(4, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="hole"):
        harmonic_fill(torch.zeros(3, 4, 4), torch.zeros(4, 5, dtype=torch.bool))


def test_poisson_blend_removes_an_offset_and_keeps_the_texture() -> None:
    """A fill that is the truth plus a constant offset comes back as the truth; the observed pixels
    are the target's, bit for bit."""
    rng = np.random.default_rng(2)
    truth = torch.from_numpy(_field(rng, 3, 48, 64)).float()
    hole = torch.from_numpy(group_mask(48, 64, "irregular", (0.2, 0.3), seed=0, index=0) > 0)
    fill = truth + torch.tensor([0.3, -0.2, 0.1])[:, None, None]
    target = torch.where(hole, torch.full_like(truth, 9.0), truth)  # what lies under the hole is never read
    out = poisson_blend(fill, target, hole)
    assert torch.equal(out[:, ~hole], truth[:, ~hole])
    assert (out - truth)[:, hole].abs().max() < 1e-3


@settings(max_examples=25, deadline=None)
@given(
    height=st.integers(1, 24),
    width=st.integers(1, 24),
    density=st.floats(0.05, 0.95),
    seed=st.integers(0, 2**16),
)
def test_maximum_principle(height: int, width: int, density: float, seed: int) -> None:
    """Harmonic values lie between the smallest and largest observed values (per channel)."""
    rng = np.random.default_rng(seed)
    hole = rng.random((height, width)) < density
    if hole.all() or not hole.any():
        return
    values = torch.from_numpy(rng.normal(size=(2, height, width))).float()
    got = harmonic_fill(values, torch.from_numpy(hole))
    observed = values[:, torch.from_numpy(~hole)]
    low, high = observed.min(1).values[:, None], observed.max(1).values[:, None]
    inside = got[:, torch.from_numpy(hole)]
    assert bool((inside >= low - 1e-4).all()) and bool((inside <= high + 1e-4).all())


def test_only_observed_values_are_read() -> None:
    """NaN or inf under the holes (what is there is never read) leaves the fill finite."""
    values = torch.rand(3, 20, 24)
    hole = torch.zeros(20, 24, dtype=torch.bool)
    hole[5:12, 6:18] = True
    clean = harmonic_fill(values, hole)
    poisoned = values.clone()
    poisoned[:, 6, 7], poisoned[:, 9, 10] = float("nan"), float("inf")
    assert torch.equal(harmonic_fill(poisoned, hole)[:, hole], clean[:, hole])


def test_a_nearly_zero_offset_stops_early_and_stays_nearly_zero(caplog: pytest.LogCaptureFixture) -> None:
    """A relative tolerance alone would underflow here and run to MAX_ITERATIONS, which warns."""
    values = torch.rand(2, 30, 30) * 1e-20
    hole = torch.zeros(30, 30, dtype=torch.bool)
    hole[3:27, 3:27] = True
    with caplog.at_level(logging.WARNING, logger="dpinpaint.ops.harmonic"):
        got = harmonic_fill(values, hole)
    assert not caplog.records
    assert bool(torch.isfinite(got).all()) and float(got.abs().max()) <= 1e-19


def test_poisson_blend_refuses_mismatched_inputs() -> None:
    hole = torch.zeros(4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="same shape"):
        poisson_blend(torch.zeros(3, 4, 4), torch.zeros(1, 4, 4), hole)
    with pytest.raises(ValueError, match="floating-point"):
        harmonic_fill(torch.zeros(3, 4, 4, dtype=torch.uint8), hole)


@pytest.mark.parametrize("multigrid", [True, False])
def test_large_holes_converge_in_few_iterations(
    multigrid: bool, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The multigrid preconditioner keeps the iterations about constant as holes grow: a 300x400
    block of a ramp (its slowest, smoothest mode) converges within 40, which conjugate gradients
    without it (no coarse grids) are far from."""
    monkeypatch.setattr(harmonic, "MAX_ITERATIONS", 40)
    if not multigrid:
        monkeypatch.setattr(harmonic, "COARSE_SIDE", 10**6)
    rows, cols = np.mgrid[0:320, 0:420].astype(np.float64)
    ramp = np.stack([rows / 320 - cols / 420, 0.5 * cols / 420 + 0.1, np.full_like(rows, 0.3)])
    hole = np.zeros((320, 420), bool)
    hole[10:310, 10:410] = True
    with caplog.at_level(logging.WARNING, logger="dpinpaint.ops.harmonic"):
        got = harmonic_fill(torch.from_numpy(ramp).float(), torch.from_numpy(hole)).numpy()
    if multigrid:
        assert not caplog.records
        assert np.abs(got - ramp).max() < 2e-3  # half a grey level
    else:
        assert "short of its tolerance" in caplog.text


@pytest.mark.parametrize(("height", "width"), [(16, 16), (17, 23), (9, 8)])
def test_multigrid_transfers_are_bilinear_enlargement_and_its_transpose(height: int, width: int) -> None:
    """The V-cycle's transfers between the hole pixels of two grids: up is ``F.interpolate``'s
    bilinear enlargement by two (odd sides cut), down its exact transpose (which keeps the
    preconditioner symmetric, as conjugate gradients need)."""
    rng = np.random.default_rng(height * width)
    fine_hole = torch.from_numpy(rng.random((height, width)) < 0.7)
    coarse_hole = torch.from_numpy(rng.random(((height + 1) // 2, (width + 1) // 2)) < 0.7)
    fine = harmonic._Laplacian(fine_hole, torch.full(fine_hole.shape, 4.0))
    coarse = harmonic._Laplacian(coarse_hole, torch.full(coarse_hole.shape, 4.0))
    transfer = harmonic._Transfer(fine, coarse)
    values = torch.rand(2, *coarse_hole.shape) * coarse_hole
    enlarged = torch.nn.functional.interpolate(values[None], scale_factor=2.0, mode="bilinear", align_corners=False)
    got = transfer.up(torch.cat([values[:, coarse_hole].t(), torch.zeros(1, 2)]))
    assert torch.allclose(got[:-1], enlarged[0, :, :height, :width][:, fine_hole].t(), atol=1e-6)
    assert not bool(got[-1].any())  # the zero row stays zero
    x, y = torch.rand(coarse.size + 1, 2), torch.rand(fine.size + 1, 2)
    x[-1], y[-1] = 0.0, 0.0
    assert torch.allclose((transfer.up(x) * y).sum(0), (x * transfer.down(y)).sum(0), rtol=1e-5)


def test_a_thin_scratch_across_a_large_image_is_solved_exactly() -> None:
    """The work follows the hole pixels: a diagonal scratch three pixels wide across 1500x2000 (0.2%
    of its bounding box), against the direct solve."""
    rng = np.random.default_rng(5)
    hole = np.zeros((1500, 2000), bool)
    for shift in range(3):
        hole[np.arange(1500), np.minimum(np.arange(1500) * 4 // 3 + shift, 1999)] = True
    values = _field(rng, 3, 1500, 2000)
    got = harmonic_fill(torch.from_numpy(values).float(), torch.from_numpy(hole)).numpy()
    assert np.abs(got - _direct(values, hole))[:, hole].max() < 1e-3  # a quarter of a grey level


def test_poisson_blend_detail_runs_from_the_plain_blend_to_the_harmonic_interpolation() -> None:
    """``detail`` 1 is the plain blend, 0 the harmonic interpolation of the target; in between the
    result is linear in it, pixel by pixel; observed pixels are the target's whatever it is."""
    torch.manual_seed(0)
    target, fill = torch.rand(3, 30, 40), torch.rand(3, 30, 40)
    hole = torch.from_numpy(scratch_mask(30, 40, seed=1))
    plain, smooth = poisson_blend(fill, target, hole), harmonic_fill(target, hole)
    assert torch.equal(poisson_blend(fill, target, hole, torch.ones(30, 40)), plain)
    assert torch.allclose(poisson_blend(fill, target, hole, torch.zeros(30, 40)), smooth, atol=1e-5)
    detail = torch.rand(30, 40)
    mixed = poisson_blend(fill, target, hole, detail)
    assert torch.allclose(mixed, smooth + detail * (plain - smooth), atol=1e-5)
    assert torch.equal(mixed[:, ~hole], target[:, ~hole])


def test_local_contrast_sees_fine_detail_not_ramps() -> None:
    """A smooth ramp has no fine detail however steep; white noise has about its standard deviation;
    the coverage counts the observed pixels with an observed 3x3 neighbourhood in the square."""
    rows, cols = torch.meshgrid(torch.arange(40.0), torch.arange(50.0), indexing="ij")
    ramp = torch.stack([0.02 * rows + 0.01 * cols, -0.015 * cols, torch.zeros_like(rows)])
    hole = torch.zeros(40, 50, dtype=torch.bool)
    hole[20:22, 5:45] = True
    coverage, contrast = local_contrast(ramp, hole, 4)
    assert float(contrast.max()) < 1e-5
    assert float(coverage[21, 25]) == pytest.approx((9 - 4) / 9)  # rows 19-22 are not "inner"
    assert float(coverage[5, 25]) == 1.0 and float(coverage.min()) >= 0.0
    torch.manual_seed(0)
    noise = torch.rand(3, 40, 50) * 0.2
    _, contrast = local_contrast(ramp + noise, hole, 4)
    assert 0.7 * 0.2 / 12**0.5 < float(contrast[hole].median()) < 1.1 * 0.2 / 12**0.5
    with pytest.raises(ValueError, match="radius"):
        local_contrast(ramp, hole, 0)
    broken = ramp.clone()
    broken[:, hole] = float("nan")  # hole pixels are never read
    assert torch.equal(local_contrast(broken, hole, 4)[1], local_contrast(ramp, hole, 4)[1])
    with pytest.raises(ValueError, match="detail must be"):
        poisson_blend(ramp, ramp, hole, torch.ones(40, 49))


def test_flat_detail_is_none_when_off_and_keeps_all_detail_deep_inside_a_large_hole() -> None:
    """0 asks for nothing (None); over a flat photo a thin hole keeps none of the fill's detail, a
    textured one all of it; deep inside a large hole, where no observed pixel is near, all of it."""
    flat = torch.full((3, 60, 60), 0.5)
    hole = torch.zeros(60, 60, dtype=torch.bool)
    hole[10:12, 5:55] = True
    hole[25:55, 20:50] = True
    assert flat_detail(flat, hole, 0.0, 4) is None
    detail = flat_detail(flat, hole, 0.02, 4)
    assert detail is not None and detail.shape == (60, 60)
    assert float(detail[10:12, 15:45].max()) == 0.0
    assert float(detail[40, 35]) == 1.0  # 15 px from the large hole's edge, the square sees nothing
    assert float(detail.min()) >= 0.0 and float(detail.max()) <= 1.0
    torch.manual_seed(0)
    textured = flat + 0.3 * torch.rand(3, 60, 60)
    detail = flat_detail(textured, hole, 0.02, 4)
    assert detail is not None and float(detail[10:12, 15:45].min()) == 1.0
