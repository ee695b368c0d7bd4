"""Tests for :func:`dpinpaint.ops.modulated_deform_conv2d` (DCNv2, torchvision semantics).

The reference implementation below is deliberately slow and literal: plain Python loops
over batch, output pixel, kernel tap and channel, with a scalar bilinear helper that
follows torchvision's CPU kernel rule by rule. Sizes are kept tiny so it stays fast.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import NamedTuple

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dpinpaint.errors import DPInpaintError
from dpinpaint.ops import modulated_deform_conv2d

F64 = torch.float64


# --------------------------------------------------------------------------------------
# Slow, obviously-correct reference
# --------------------------------------------------------------------------------------


def _pair(v):
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _out_size(size: int, pad: int, dil: int, k: int, stride: int) -> int:
    return (size + 2 * pad - (dil * (k - 1) + 1)) // stride + 1


def _bilinear(img: list[list[float]], h: int, w: int, y: float, x: float) -> float:
    """torchvision's ``bilinear_interpolate`` for one channel given as nested lists."""
    if y <= -1 or y >= h or x <= -1 or x >= w:
        return 0.0
    y_low = math.floor(y)
    x_low = math.floor(x)
    y_high = y_low + 1
    x_high = x_low + 1
    ly = y - y_low
    lx = x - x_low
    hy = 1.0 - ly
    hx = 1.0 - lx

    def pixel(r: int, c: int) -> float:
        if 0 <= r < h and 0 <= c < w:
            return img[r][c]
        return 0.0

    return (
        hy * hx * pixel(y_low, x_low)
        + hy * lx * pixel(y_low, x_high)
        + ly * hx * pixel(y_high, x_low)
        + ly * lx * pixel(y_high, x_high)
    )


def _reference_dcn(input, offset, mask, weight, bias=None, stride=1, padding=0, dilation=1):
    """Literal DCNv2 in float64, loops over b, oy, ox, taps and channels."""
    sh, sw = _pair(stride)
    ph, pw = _pair(padding)
    dh, dw = _pair(dilation)
    b_sz, c_in, h, w = input.shape
    c_out, c_per_wg, kh, kw = weight.shape
    taps = kh * kw
    weight_groups = c_in // c_per_wg
    c_out_per_wg = c_out // weight_groups
    offset_groups = offset.shape[1] // (2 * taps)
    c_per_og = c_in // offset_groups
    h_out = _out_size(h, ph, dh, kh, sh)
    w_out = _out_size(w, pw, dw, kw, sw)
    assert offset.shape == (b_sz, 2 * offset_groups * taps, h_out, w_out)

    x = input.detach().to(F64).tolist()
    off = offset.detach().to(F64).tolist()
    msk = None if mask is None else mask.detach().to(F64).tolist()
    wt = weight.detach().to(F64).tolist()
    bs = None if bias is None else bias.detach().to(F64).tolist()

    out = [[[[0.0] * w_out for _ in range(h_out)] for _ in range(c_out)] for _ in range(b_sz)]
    for b in range(b_sz):
        for oy in range(h_out):
            for ox in range(w_out):
                # sampled[c][k] = mask * bilinear(input[b, c], y, x) for tap k
                sampled = [[0.0] * taps for _ in range(c_in)]
                for c in range(c_in):
                    g = c // c_per_og
                    for i in range(kh):
                        for j in range(kw):
                            k = i * kw + j
                            dy = off[b][g * 2 * taps + 2 * k][oy][ox]
                            dx = off[b][g * 2 * taps + 2 * k + 1][oy][ox]
                            m = 1.0 if msk is None else msk[b][g * taps + k][oy][ox]
                            y = oy * sh - ph + i * dh + dy
                            xx = ox * sw - pw + j * dw + dx
                            sampled[c][k] = m * _bilinear(x[b][c], h, w, y, xx)
                for o in range(c_out):
                    wg = o // c_out_per_wg
                    acc = 0.0 if bs is None else bs[o]
                    for c_local in range(c_per_wg):
                        c = wg * c_per_wg + c_local
                        for i in range(kh):
                            for j in range(kw):
                                acc += wt[o][c_local][i][j] * sampled[c][i * kw + j]
                    out[b][o][oy][ox] = acc
    return torch.tensor(out, dtype=F64).reshape(b_sz, c_out, h_out, w_out)


# --------------------------------------------------------------------------------------
# Helpers to build inputs
# --------------------------------------------------------------------------------------


class Case(NamedTuple):
    batch: int
    c_in: int
    c_out: int
    h: int
    w: int
    kh: int
    kw: int
    stride: int | tuple[int, int]
    padding: int | tuple[int, int]
    dilation: int | tuple[int, int]
    offset_groups: int
    weight_groups: int
    bias: bool
    mask: bool  # False -> mask=None

    @property
    def out_hw(self) -> tuple[int, int]:
        sh, sw = _pair(self.stride)
        ph, pw = _pair(self.padding)
        dh, dw = _pair(self.dilation)
        return _out_size(self.h, ph, dh, self.kh, sh), _out_size(self.w, pw, dw, self.kw, sw)


def _base_positions(case: Case) -> tuple[torch.Tensor, torch.Tensor]:
    """Undeformed sampling positions, each shaped (taps, Ho, Wo) in float64."""
    sh, sw = _pair(case.stride)
    ph, pw = _pair(case.padding)
    dh, dw = _pair(case.dilation)
    h_out, w_out = case.out_hw
    taps = case.kh * case.kw
    by = torch.empty(taps, h_out, w_out, dtype=F64)
    bx = torch.empty(taps, h_out, w_out, dtype=F64)
    for i in range(case.kh):
        for j in range(case.kw):
            k = i * case.kw + j
            by[k] = (torch.arange(h_out, dtype=F64) * sh - ph + i * dh)[:, None].expand(h_out, w_out)
            bx[k] = (torch.arange(w_out, dtype=F64) * sw - pw + j * dw)[None, :].expand(h_out, w_out)
    return by, bx


def _border_targets(size: int) -> list[float]:
    """Absolute sample coordinates on/around the valid range of an axis of length ``size``."""
    return [
        -2.0, -1.5, -1.0, -1.0 + 1e-3, -0.75, -0.5, 0.0, 0.25,
        float(size // 2), size / 2 + 0.5,
        size - 1.0, size - 0.75, size - 0.5, size - 1e-3, float(size), size + 0.5, size + 2.0,
    ]  # fmt: skip


def _make_offset(case: Case, kind: str, gen: torch.Generator) -> torch.Tensor:
    taps = case.kh * case.kw
    h_out, w_out = case.out_hw
    shape = (case.batch, 2 * case.offset_groups * taps, h_out, w_out)
    if kind == "zero":
        return torch.zeros(shape, dtype=F64)
    if kind == "random3":
        return torch.randn(shape, generator=gen, dtype=F64) * 3.0
    if kind == "integer":
        return torch.randint(-3, 4, shape, generator=gen).to(F64)
    if kind == "border":
        # Choose absolute sample positions from a list of edge values (exactly -1, exactly H,
        # integers, half pixels, just inside / outside) and store target - base as offset.
        by, bx = _base_positions(case)
        ty = torch.tensor(_border_targets(case.h), dtype=F64)
        tx = torch.tensor(_border_targets(case.w), dtype=F64)
        off = torch.empty(shape, dtype=F64).view(case.batch, case.offset_groups, taps, 2, h_out, w_out)
        iy = torch.randint(0, len(ty), off[:, :, :, 0].shape, generator=gen)
        ix = torch.randint(0, len(tx), off[:, :, :, 1].shape, generator=gen)
        off[:, :, :, 0] = ty[iy] - by
        off[:, :, :, 1] = tx[ix] - bx
        return off.reshape(shape)
    if kind == "fractional":
        # integer + fraction in (0.2, 0.8): no sample ever lies on a grid line (gradcheck).
        ints = torch.randint(-2, 3, shape, generator=gen).to(F64)
        frac = 0.2 + 0.6 * torch.rand(shape, generator=gen, dtype=F64)
        return ints + frac
    raise AssertionError(kind)


def _make_inputs(case: Case, offset_kind: str, seed: int = 0, dtype=F64):
    gen = torch.Generator().manual_seed(seed)
    taps = case.kh * case.kw
    h_out, w_out = case.out_hw
    x = torch.randn(case.batch, case.c_in, case.h, case.w, generator=gen, dtype=F64)
    offset = _make_offset(case, offset_kind, gen)
    mask = None
    if case.mask:
        # raw modulation, deliberately outside [0, 1] too (no sigmoid must be applied)
        mask = torch.rand(case.batch, case.offset_groups * taps, h_out, w_out, generator=gen, dtype=F64) * 2 - 0.5
    weight = torch.randn(case.c_out, case.c_in // case.weight_groups, case.kh, case.kw, generator=gen, dtype=F64)
    bias = torch.randn(case.c_out, generator=gen, dtype=F64) if case.bias else None

    def cast(t):
        return None if t is None else t.to(dtype)

    return cast(x), cast(offset), cast(mask), cast(weight), cast(bias)


def _run(case: Case, x, offset, mask, weight, bias, backend="torch"):
    return modulated_deform_conv2d(
        x, offset, mask, weight, bias, case.stride, case.padding, case.dilation, backend=backend
    )


def _ref(case: Case, x, offset, mask, weight, bias):
    return _reference_dcn(x, offset, mask, weight, bias, case.stride, case.padding, case.dilation)


# --------------------------------------------------------------------------------------
# Parity with the reference
# --------------------------------------------------------------------------------------

# fmt: off
PARITY_CASES = {
    #                      B  Cin Cout H  W  kh kw stride  padding  dilation og wg bias   mask
    "plain":          Case(2, 4,  4,  6, 7, 3, 3, 1,      0,       1,       1, 1, True,  True),
    "stride2_pad1":   Case(2, 4,  4,  7, 7, 3, 3, 2,      1,       1,       1, 1, True,  True),
    "stride21":       Case(2, 4,  2,  7, 6, 3, 3, (2, 1), 1,       1,       1, 1, False, True),
    "pad12":          Case(2, 3,  4,  5, 6, 3, 3, 1,      (1, 2),  1,       1, 1, True,  True),
    "dil2":           Case(2, 4,  4,  7, 7, 3, 3, 1,      2,       2,       1, 1, True,  True),
    "dil12_pad12":    Case(2, 2,  3,  6, 7, 3, 3, 1,      (1, 2),  (1, 2),  1, 1, True,  True),
    "k1x1_og2":       Case(2, 4,  3,  5, 6, 1, 1, 1,      0,       1,       2, 1, True,  True),
    "k1x1_s2_p1":     Case(2, 2,  2,  5, 6, 1, 1, 2,      1,       1,       1, 1, False, True),
    "k3x2":           Case(2, 4,  4,  6, 7, 3, 2, 1,      (1, 0),  1,       1, 1, True,  True),
    "k3x2_all":       Case(2, 4,  4,  7, 7, 3, 2, (2, 1), (1, 2),  2,       2, 2, True,  True),
    "og2":            Case(2, 4,  4,  6, 6, 3, 3, 1,      1,       1,       2, 1, True,  True),
    "wg2":            Case(2, 4,  4,  6, 6, 3, 3, 1,      1,       1,       1, 2, True,  True),
    "og2_wg2_nomask": Case(2, 4,  4,  6, 6, 3, 3, 1,      1,       1,       2, 2, False, False),
    "og4_wg4_dw":     Case(2, 4,  4,  5, 6, 3, 3, 1,      1,       1,       4, 4, True,  True),
    "og2_wg4":        Case(2, 4,  4,  5, 6, 3, 3, 1,      1,       1,       2, 4, True,  True),
    "og4_wg2_cout6":  Case(2, 4,  6,  5, 6, 3, 3, 1,      1,       1,       4, 2, True,  True),
    "nobias_nomask":  Case(2, 3,  2,  6, 5, 3, 3, 1,      1,       1,       1, 1, False, False),
    "s2_d2_p2_og2":   Case(2, 4,  4,  7, 7, 3, 3, 2,      2,       2,       2, 2, True,  True),
}
# fmt: on

OFFSET_KINDS = ["border", "random3", "integer"]


@pytest.mark.parametrize("offset_kind", OFFSET_KINDS)
@pytest.mark.parametrize("case", list(PARITY_CASES.values()), ids=list(PARITY_CASES))
def test_torch_backend_matches_reference_float64(case: Case, offset_kind: str):
    inputs = _make_inputs(case, offset_kind, seed=zlib.crc32(repr((case, offset_kind)).encode()))
    out = _run(case, *inputs)
    expected = _ref(case, *inputs)
    assert out.shape == (case.batch, case.c_out, *case.out_hw)
    assert out.dtype == F64
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-10)


def test_border_offsets_hit_exact_edges_and_outside():
    """Sanity check of the test helper: the border offsets really produce edge samples."""
    case = PARITY_CASES["plain"]
    offset = _make_offset(case, "border", torch.Generator().manual_seed(0))
    by, bx = _base_positions(case)
    y = offset.view(case.batch, 1, 9, 2, *case.out_hw)[:, :, :, 0] + by
    x = offset.view(case.batch, 1, 9, 2, *case.out_hw)[:, :, :, 1] + bx
    for coord, size in ((y, case.h), (x, case.w)):
        assert (coord == -1).any() and (coord == size).any()
        assert (coord < -1).any() and (coord > size).any()
        assert (coord == size - 1).any() and (coord == 0).any()


@pytest.mark.parametrize(
    "case",
    [PARITY_CASES["stride2_pad1"], PARITY_CASES["og2_wg4"], PARITY_CASES["k3x2_all"]],
    ids=["stride2_pad1", "og2_wg4", "k3x2_all"],
)
def test_torch_backend_matches_reference_float32(case: Case):
    inputs64 = _make_inputs(case, "random3", seed=123)
    inputs32 = [None if t is None else t.float() for t in inputs64]
    out = _run(case, *inputs32)
    assert out.dtype == torch.float32
    # reference on exactly the float32 values, evaluated in float64
    expected = _ref(case, *[None if t is None else t.double() for t in inputs32])
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)


def test_auto_backend_matches_reference():
    case = PARITY_CASES["og2_wg2_nomask"]
    inputs = _make_inputs(case, "random3", seed=7)
    out = _run(case, *inputs, backend="auto")
    atol = 1e-10 if _torchvision_deform_conv2d() is None else 1e-8
    torch.testing.assert_close(out.double(), _ref(case, *inputs), rtol=0, atol=atol)


def test_mask_none_equals_mask_of_ones():
    case = PARITY_CASES["og2"]
    x, offset, mask, weight, bias = _make_inputs(case, "random3", seed=3)
    out_none = _run(case, x, offset, None, weight, bias)
    out_ones = _run(case, x, offset, torch.ones_like(mask), weight, bias)
    torch.testing.assert_close(out_none, out_ones, rtol=0, atol=1e-12)


def test_mask_is_applied_raw_and_linearly():
    """No sigmoid: mask=0 leaves only the bias, and the output minus bias is linear in mask."""
    case = PARITY_CASES["og2_wg4"]
    x, offset, mask, weight, bias = _make_inputs(case, "random3", seed=4)
    out0 = _run(case, x, offset, torch.zeros_like(mask), weight, bias)
    torch.testing.assert_close(out0, bias.view(1, -1, 1, 1).expand_as(out0), rtol=0, atol=1e-12)
    out1 = _run(case, x, offset, mask, weight, bias) - out0
    out3 = _run(case, x, offset, 3 * mask, weight, bias) - out0
    torch.testing.assert_close(out3, 3 * out1, rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------
# Zero offsets == ordinary convolution
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "stride, padding, dilation, groups, c_out",
    [
        (1, 1, 1, 1, 8),
        (2, 1, 1, 1, 16),
        ((2, 1), (1, 2), 1, 2, 8),
        (1, 2, 2, 4, 8),
        ((1, 2), (2, 1), (2, 1), 16, 16),
        (1, 0, 1, 1, 4),
    ],
)
@pytest.mark.parametrize("offset_groups", [1, 4])
def test_zero_offsets_unit_mask_equals_conv2d(stride, padding, dilation, groups, c_out, offset_groups):
    gen = torch.Generator().manual_seed(11)
    b, c_in, h, w, kh, kw = 2, 16, 12, 10, 3, 3
    x = torch.randn(b, c_in, h, w, generator=gen)
    weight = torch.randn(c_out, c_in // groups, kh, kw, generator=gen)
    bias = torch.randn(c_out, generator=gen)
    # The reference in float64 on the same float32 values, so that float32 conv2d's own rounding
    # is not part of the comparison. The op's float32 sums of 144 products (the GEMM's blocking
    # depends on the CPU: AVX2 and AVX-512 differ) stay within 1e-5 relative.
    expected = F.conv2d(x.double(), weight.double(), bias.double(), stride, padding, dilation, groups)
    ho, wo = expected.shape[-2:]
    offset = torch.zeros(b, 2 * offset_groups * kh * kw, ho, wo)
    mask = torch.ones(b, offset_groups * kh * kw, ho, wo)
    out = modulated_deform_conv2d(x, offset, mask, weight, bias, stride, padding, dilation, backend="torch")
    assert out.dtype == torch.float32
    torch.testing.assert_close(out.double(), expected, rtol=1e-5, atol=1e-5)
    out_none = modulated_deform_conv2d(x, offset, None, weight, None, stride, padding, dilation, backend="torch")
    expected_none = F.conv2d(x.double(), weight.double(), None, stride, padding, dilation, groups)
    torch.testing.assert_close(out_none.double(), expected_none, rtol=1e-5, atol=1e-5)


def test_integer_shift_offsets_equal_shifted_conv2d():
    """A uniform offset of (dy, dx) = (1, -2) equals conv2d on the input shifted by it."""
    gen = torch.Generator().manual_seed(12)
    x = torch.randn(2, 4, 8, 9, generator=gen, dtype=F64)
    weight = torch.randn(5, 4, 3, 3, generator=gen, dtype=F64)
    ho, wo = 8, 9  # padding 1
    offset = torch.zeros(2, 18, ho, wo, dtype=F64)
    offset[:, 0::2] = 1.0
    offset[:, 1::2] = -2.0
    out = modulated_deform_conv2d(x, offset, None, weight, None, 1, 1, 1, backend="torch")
    # out[oy, ox] = sum_ij w[i, j] * x[oy - 1 + i + 1, ox - 1 + j - 2] (zero outside x):
    # a valid conv2d over x padded by 0 top, 2 bottom, 3 left, 0 right, first 9 columns.
    padded = F.pad(x, (3, 0, 0, 2))
    expected = F.conv2d(padded, weight)[..., :wo]
    assert expected.shape[-2:] == (ho, wo)
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# Gradients
# --------------------------------------------------------------------------------------

GRAD_CASES = {
    "plain": Case(1, 2, 2, 4, 5, 3, 3, 1, 1, 1, 1, 1, True, True),
    "og2_wg2_s2_d2": Case(1, 4, 4, 6, 6, 3, 3, 2, 2, 2, 2, 2, True, True),
}


@pytest.fixture
def single_thread():
    """gradcheck runs ~1000 tiny forwards: keep it fast on a busy machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.mark.usefixtures("single_thread")
@pytest.mark.parametrize("case", list(GRAD_CASES.values()), ids=list(GRAD_CASES))
def test_gradcheck_all_inputs(case: Case):
    inputs = _make_inputs(case, "fractional", seed=21)
    inputs = tuple(t.clone().requires_grad_(True) for t in inputs)

    def fn(x, offset, mask, weight, bias):
        return modulated_deform_conv2d(
            x, offset, mask, weight, bias, case.stride, case.padding, case.dilation, backend="torch"
        )

    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_backward_populates_every_grad():
    case = GRAD_CASES["og2_wg2_s2_d2"]
    inputs = tuple(t.clone().requires_grad_(True) for t in _make_inputs(case, "fractional", seed=22))
    _run(case, *inputs).square().sum().backward()
    for name, t in zip(("input", "offset", "mask", "weight", "bias"), inputs):
        assert t.grad is not None, name
        assert t.grad.shape == t.shape, name
        assert torch.isfinite(t.grad).all(), name
        assert t.grad.abs().sum() > 0, name


# --------------------------------------------------------------------------------------
# Batch independence and memory layout
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", [PARITY_CASES["s2_d2_p2_og2"], PARITY_CASES["nobias_nomask"]], ids=["og2", "nomask"])
def test_single_sample_equals_slice_of_batched_call(case: Case):
    case = case._replace(batch=3)
    x, offset, mask, weight, bias = _make_inputs(case, "random3", seed=31)
    batched = _run(case, x, offset, mask, weight, bias)
    for i in range(case.batch):
        single = _run(case, x[i : i + 1], offset[i : i + 1], None if mask is None else mask[i : i + 1], weight, bias)
        torch.testing.assert_close(single, batched[i : i + 1], rtol=0, atol=1e-12)


@pytest.mark.parametrize("all_tensors", [False, True], ids=["input_only", "all_tensors"])
@pytest.mark.parametrize("dtype", [F64, torch.float32])
def test_channels_last_input_matches_contiguous(all_tensors: bool, dtype):
    case = Case(2, 4, 6, 7, 6, 3, 3, 1, 1, 1, 2, 2, True, True)
    x, offset, mask, weight, bias = _make_inputs(case, "random3", seed=41, dtype=dtype)
    expected = _run(case, x, offset, mask, weight, bias)
    x_cl = x.to(memory_format=torch.channels_last)
    assert not x_cl.is_contiguous()
    if all_tensors:
        offset = offset.to(memory_format=torch.channels_last)
        mask = mask.to(memory_format=torch.channels_last)
        weight = weight.to(memory_format=torch.channels_last)
    out = _run(case, x_cl, offset, mask, weight, bias)
    atol = 1e-12 if dtype == F64 else 1e-6
    torch.testing.assert_close(out, expected, rtol=0, atol=atol)


def test_non_contiguous_sliced_input():
    case = Case(2, 4, 4, 6, 7, 3, 3, 1, 1, 1, 1, 1, True, True)
    x, offset, mask, weight, bias = _make_inputs(case, "random3", seed=42)
    big = torch.randn(2, 8, 6, 14, dtype=F64)
    big[:, 2:6, :, ::2] = x
    x_view = big[:, 2:6, :, ::2]
    assert not x_view.is_contiguous()
    out = _run(case, x_view, offset, mask, weight, bias)
    torch.testing.assert_close(out, _run(case, x, offset, mask, weight, bias), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------


def _valid_args():
    """B=2, Cin=4, 6x6 input, 3x3 kernel, padding 1 -> 6x6 output; offset_groups=2."""
    x = torch.randn(2, 4, 6, 6)
    offset = torch.zeros(2, 2 * 2 * 9, 6, 6)
    mask = torch.ones(2, 2 * 9, 6, 6)
    weight = torch.randn(4, 4, 3, 3)
    bias = torch.zeros(4)
    return {"input": x, "offset": offset, "mask": mask, "weight": weight, "bias": bias}


_BAD_ARGS = {
    # id: (argument to replace, replacement, word the message must contain)
    "input_rank3": ("input", torch.randn(4, 6, 6), "input"),
    "input_rank5": ("input", torch.randn(2, 4, 6, 6, 1), "input"),
    "offset_rank3": ("offset", torch.zeros(36, 6, 6), "offset"),
    "weight_rank3": ("weight", torch.randn(4, 4, 9), "weight"),
    "mask_rank3": ("mask", torch.ones(18, 6, 6), "mask"),
    "offset_channels_not_multiple_of_2k": ("offset", torch.zeros(2, 35, 6, 6), "offset"),
    "offset_channels_odd_taps": ("offset", torch.zeros(2, 9, 6, 6), "offset"),
    "offset_zero_channels": ("offset", torch.zeros(2, 0, 6, 6), "offset"),
    "mask_channels_wrong_groups": ("mask", torch.ones(2, 9, 6, 6), "mask"),
    "mask_channels_not_multiple": ("mask", torch.ones(2, 20, 6, 6), "mask"),
    "cin_not_divisible_by_weight_groups": ("weight", torch.randn(4, 3, 3, 3), "weight"),
    "cin_not_divisible_by_offset_groups": ("offset", torch.zeros(2, 2 * 3 * 9, 6, 6), "offset"),
    "offset_spatial_mismatch": ("offset", torch.zeros(2, 36, 5, 6), "offset"),
    "offset_spatial_mismatch_w": ("offset", torch.zeros(2, 36, 6, 7), "offset"),
    "mask_spatial_mismatch": ("mask", torch.ones(2, 18, 6, 5), "mask"),
    "offset_batch_mismatch": ("offset", torch.zeros(3, 36, 6, 6), "offset"),
    "mask_batch_mismatch": ("mask", torch.ones(1, 18, 6, 6), "mask"),
    "bias_wrong_length": ("bias", torch.zeros(3), "bias"),
}


def _assert_dpinpaint_value_error(excinfo, word: str):
    err = excinfo.value
    assert isinstance(err, DPInpaintError)
    assert isinstance(err, ValueError)
    assert word in str(err), str(err)


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("name", list(_BAD_ARGS))
def test_invalid_shapes_raise_value_error(name: str, backend: str):
    arg, bad, word = _BAD_ARGS[name]
    args = _valid_args()
    args[arg] = bad
    with pytest.raises(DPInpaintError) as excinfo:
        modulated_deform_conv2d(
            args["input"], args["offset"], args["mask"], args["weight"], args["bias"], 1, 1, 1, backend=backend
        )
    _assert_dpinpaint_value_error(excinfo, word)


def test_valid_args_used_by_error_tests_are_accepted():
    args = _valid_args()
    out = modulated_deform_conv2d(
        args["input"], args["offset"], args["mask"], args["weight"], args["bias"], 1, 1, 1, backend="torch"
    )
    assert out.shape == (2, 4, 6, 6)


def test_input_too_small_for_kernel_raises():
    x = torch.randn(1, 1, 2, 2)
    weight = torch.randn(1, 1, 3, 3)
    offset = torch.zeros(1, 18, 1, 1)
    with pytest.raises(DPInpaintError) as excinfo:
        modulated_deform_conv2d(x, offset, None, weight, backend="torch")
    assert isinstance(excinfo.value, ValueError)


def test_unknown_backend_raises():
    args = _valid_args()
    with pytest.raises(DPInpaintError):
        modulated_deform_conv2d(
            args["input"], args["offset"], args["mask"], args["weight"], args["bias"], 1, 1, 1, backend="cuda"
        )


# --------------------------------------------------------------------------------------
# torchvision
# --------------------------------------------------------------------------------------


@functools.cache
def _torchvision_probe():
    """``(deform_conv2d, "")`` if torchvision's op imports *and* runs here, else ``(None, reason)``."""
    try:
        from torchvision.ops import deform_conv2d

        deform_conv2d(torch.zeros(1, 1, 3, 3), torch.zeros(1, 18, 1, 1), torch.zeros(1, 1, 3, 3))
    except Exception as exc:
        return None, f"torchvision deform_conv2d unavailable: {type(exc).__name__}: {exc}"[:300]
    return deform_conv2d, ""


def _torchvision_deform_conv2d():
    return _torchvision_probe()[0]


@pytest.mark.parametrize(
    "case",
    [PARITY_CASES["plain"], PARITY_CASES["k3x2_all"], PARITY_CASES["og2_wg2_nomask"]],
    ids=["plain", "k3x2_all", "og2_wg2_nomask"],
)
@pytest.mark.parametrize("offset_kind", ["border", "random3"])
def test_torch_backend_matches_torchvision(case: Case, offset_kind: str):
    tv = _torchvision_deform_conv2d()
    if tv is None:
        pytest.skip(_torchvision_probe()[1])
    x, offset, mask, weight, bias = _make_inputs(case, offset_kind, seed=51)
    expected = tv(x, offset, weight, bias, _pair(case.stride), _pair(case.padding), _pair(case.dilation), mask)
    torch.testing.assert_close(_run(case, x, offset, mask, weight, bias), expected, rtol=0, atol=1e-10)
    torch.testing.assert_close(
        _run(case, x, offset, mask, weight, bias, backend="torchvision"), expected, rtol=0, atol=1e-12
    )


def test_torchvision_backend_raises_when_unavailable():
    if _torchvision_deform_conv2d() is not None:
        pytest.skip("torchvision's deform_conv2d loads here")
    args = _valid_args()
    with pytest.raises(DPInpaintError):
        modulated_deform_conv2d(
            args["input"], args["offset"], args["mask"], args["weight"], args["bias"], 1, 1, 1,
            backend="torchvision",
        )  # fmt: skip


# --------------------------------------------------------------------------------------
# Property test
# --------------------------------------------------------------------------------------


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


@st.composite
def _cases(draw):
    kh = draw(st.integers(1, 3))
    kw = draw(st.integers(1, 3))
    stride = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    dilation = (draw(st.integers(1, 2)), draw(st.integers(1, 2)))
    min_h = max(1, dilation[0] * (kh - 1) + 1 - 2 * padding[0])
    min_w = max(1, dilation[1] * (kw - 1) + 1 - 2 * padding[1])
    h = draw(st.integers(min_h, max(min_h, 6)))
    w = draw(st.integers(min_w, max(min_w, 6)))
    c_in = draw(st.integers(1, 4))
    og = draw(st.sampled_from(_divisors(c_in)))
    wg = draw(st.sampled_from(_divisors(c_in)))
    c_out = wg * draw(st.integers(1, 2))
    # int or pair forms of the conv parameters
    as_int = draw(st.booleans())
    if as_int:
        stride, padding, dilation = stride[0], padding[0], dilation[0]
        min_w = max(1, dilation * (kw - 1) + 1 - 2 * padding)
        w = max(w, min_w)
    return Case(
        batch=draw(st.integers(1, 2)),
        c_in=c_in,
        c_out=c_out,
        h=h,
        w=w,
        kh=kh,
        kw=kw,
        stride=stride,
        padding=padding,
        dilation=dilation,
        offset_groups=og,
        weight_groups=wg,
        bias=draw(st.booleans()),
        mask=draw(st.booleans()),
    )


@settings(max_examples=25, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    case=_cases(), offset_kind=st.sampled_from(["border", "random3", "integer", "zero"]), seed=st.integers(0, 2**31 - 1)
)
def test_property_matches_reference(case: Case, offset_kind: str, seed: int):
    inputs = _make_inputs(case, offset_kind, seed=seed)
    out = _run(case, *inputs)
    assert out.shape == (case.batch, case.c_out, *case.out_hw)
    torch.testing.assert_close(out, _ref(case, *inputs), rtol=0, atol=1e-10)


# --------------------------------------------------------------------------------------
# Half precision, mixed dtypes and autocast (the stand-in refuses bfloat16 like torchvision's CUDA kernel)
# --------------------------------------------------------------------------------------

HALF = [torch.bfloat16, torch.float16]
MIXED_CASE = Case(2, 4, 6, 9, 8, 3, 3, 1, 1, 1, 2, 1, True, True)


def _fractional_inputs(case: Case, seed: int, dtype):
    """Inputs of ``case`` with fractional offsets, cast to ``dtype``; also their float64 values."""
    inputs64 = _make_inputs(case, "fractional", seed=seed)
    cast = tuple(None if t is None else t.to(dtype) for t in inputs64)
    exact = tuple(None if t is None else t.double() for t in cast)  # the same values, in float64
    return cast, exact


def test_standin_refuses_bfloat16_like_torchvision(torchvision_standin):
    (x, offset, mask, weight, bias), _ = _fractional_inputs(MIXED_CASE, 60, torch.bfloat16)
    with pytest.raises(NotImplementedError, match=r"deformable_im2col.*BFloat16"):
        torchvision_standin(x, offset, weight, bias, (1, 1), (1, 1), (1, 1), mask)


@pytest.mark.parametrize("backend", ["torch", "auto", "torchvision"])
@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "fp16"])
def test_half_inputs_return_their_dtype_close_to_float64(torchvision_standin, backend: str, dtype):
    case = MIXED_CASE
    (x, offset, mask, weight, bias), exact = _fractional_inputs(case, 61, dtype)
    out = _run(case, x, offset, mask, weight, bias, backend=backend)
    assert out.dtype == dtype and out.shape == (case.batch, case.c_out, *case.out_hw)
    expected = _ref(case, *exact)
    # Only the rounding of the result to its dtype remains: half an ulp, plus float32 sums.
    eps = torch.finfo(dtype).eps
    assert ((out.double() - expected).abs() <= eps * expected.abs() + 1e-5).all()
    if backend == "torch":
        assert torchvision_standin.calls == []
    else:  # the kernel ran, in float32 only, with autocast off
        assert [c.dtypes for c in torchvision_standin.calls] == [(torch.float32,) * 5]


def test_float32_goes_to_the_kernel_uncopied(torchvision_standin):
    (x, offset, mask, weight, bias), _ = _fractional_inputs(MIXED_CASE, 62, torch.float32)
    _run(MIXED_CASE, x, offset, mask, weight, bias, backend="auto")
    (call,) = torchvision_standin.calls
    assert call.input is x and call.dtypes == (torch.float32,) * 5


@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "fp16"])
def test_sampling_coordinates_are_exact_at_256_pixels(torchvision_standin, dtype):
    """At 256 px, coordinates held in bfloat16 are 1-2 pixels apart; the op must compute them in float32.

    The error of half-precision inputs against float64 (on the same input values) stays within
    the result's own rounding. The second half shows that this check would catch coordinates
    rounded to ``dtype``: their error is far larger.
    """
    case = Case(1, 2, 2, 256, 256, 3, 3, 1, 1, 1, 1, 1, False, True)
    (x, offset, mask, weight, bias), exact = _fractional_inputs(case, 63, dtype)
    out = _run(case, x, offset, mask, weight, bias, backend="auto")
    expected = _run(case, *exact, backend="torch")
    eps = torch.finfo(dtype).eps
    scale = expected.abs().max()
    err = (out.double() - expected).abs().max() / scale
    assert out.dtype == dtype and err <= eps / 2 + 1e-6, err
    # Coordinates rounded to dtype (what a half-precision kernel computes) move samples by up to a pixel.
    by, bx = _base_positions(case)
    off = exact[1].view(1, 1, 9, 2, 256, 256)
    coarse = off.clone()
    coarse[:, :, :, 0] = (off[:, :, :, 0] + by).to(dtype).double() - by
    coarse[:, :, :, 1] = (off[:, :, :, 1] + bx).to(dtype).double() - bx
    rounded = _run(case, exact[0], coarse.view_as(exact[1]), exact[2], exact[3], exact[4], backend="torch")
    assert (rounded - expected).abs().max() / scale > 20 * eps


def test_mixed_dtypes_return_the_input_dtype(torchvision_standin):
    (x, offset, mask, weight, bias), exact = _fractional_inputs(MIXED_CASE, 64, torch.float32)
    out = _run(MIXED_CASE, x.bfloat16(), offset.half(), mask, weight.bfloat16(), bias, backend="auto")
    assert out.dtype == torch.bfloat16
    assert [c.dtypes for c in torchvision_standin.calls] == [(torch.float32,) * 5]
    expected = _ref(
        MIXED_CASE, x.bfloat16().double(), offset.half().double(), exact[2], weight.bfloat16().double(), exact[4]
    )
    torch.testing.assert_close(out.double(), expected, rtol=2**-8, atol=1e-5)


@pytest.mark.parametrize("backend", ["torch", "auto"])
def test_autocast_computes_in_float32_and_returns_the_input_dtype(torchvision_standin, backend: str):
    """Under autocast (as in training) the op runs with autocast off in float32, as torchvision's own rule does."""
    case = MIXED_CASE
    (x, offset, mask, weight, bias), exact = _fractional_inputs(case, 65, torch.float32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out32 = _run(case, x, offset, mask, weight, bias, backend=backend)
        out16 = _run(case, x.bfloat16(), offset.bfloat16(), mask, weight, bias, backend=backend)
    assert out32.dtype == torch.float32 and out16.dtype == torch.bfloat16
    torch.testing.assert_close(out32.double(), _ref(case, *exact), rtol=0, atol=1e-5)
    expected16 = _ref(case, x.bfloat16().double(), offset.bfloat16().double(), exact[2], exact[3], exact[4])
    torch.testing.assert_close(out16.double(), expected16, rtol=2**-8, atol=1e-5)
    if backend == "auto":
        assert [(c.dtypes, c.autocast) for c in torchvision_standin.calls] == [((torch.float32,) * 5, False)] * 2


@pytest.mark.parametrize("backend", ["torch", "auto"])
@pytest.mark.parametrize("dtype", HALF, ids=["bf16", "fp16"])
def test_gradients_flow_to_half_inputs(torchvision_standin, backend: str, dtype):
    case = GRAD_CASES["og2_wg2_s2_d2"]
    (x, offset, mask, weight, bias), exact = _fractional_inputs(case, 66, dtype)
    leaves = [t.clone().requires_grad_(True) for t in (x, offset, mask, weight, bias)]
    _run(case, *leaves, backend=backend).float().square().sum().backward()
    leaves64 = [t.clone().requires_grad_(True) for t in exact]
    _run(case, *leaves64).square().sum().backward()
    for name, t, t64 in zip(("input", "offset", "mask", "weight", "bias"), leaves, leaves64, strict=True):
        assert t.grad is not None and t.grad.dtype == dtype, name
        assert torch.isfinite(t.grad).all(), name
        # the output was rounded to dtype before the loss: gradients agree to a few of its ulps
        err = (t.grad.double() - t64.grad).norm() / t64.grad.norm()
        assert err < 8 * torch.finfo(dtype).eps, (name, float(err))


def test_integer_tensors_are_refused():
    args = _valid_args()
    with pytest.raises(DPInpaintError, match="floating-point"):
        modulated_deform_conv2d(
            args["input"].long(), args["offset"], args["mask"], args["weight"], args["bias"], 1, 1, 1
        )
