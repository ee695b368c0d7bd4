"""Masks: every kind to a ``(B, H, W)`` bool hole map; white / nonzero / True = fill, threshold 0.5."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from dpinpaint.errors import ImageReadError, InvalidInputError
from dpinpaint.masks import hole_fraction, read_mask

# A 2x3 pattern used throughout: True = fill.
PATTERN = np.array([[True, False, True], [False, False, True]])


def _holes(mask: Any, **kwargs: Any) -> torch.Tensor:
    hole, _ = read_mask(mask, **kwargs)
    assert hole.dtype == torch.bool and hole.device.type == "cpu" and hole.dim() == 3
    return hole


def _expect(hole: torch.Tensor, pattern: np.ndarray = PATTERN) -> None:
    assert hole.shape == (1, *pattern.shape)
    assert np.array_equal(hole[0].numpy(), pattern)


def _u8(pattern: np.ndarray = PATTERN) -> np.ndarray:
    return pattern.astype(np.uint8) * 255


# -- every kind -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda p: p,
        lambda p: p[:, :, None],
        lambda p: np.ascontiguousarray(p[:, ::-1])[:, ::-1],  # negative strides
        lambda p: np.asfortranarray(p),
        lambda p: torch.from_numpy(p),
        lambda p: torch.from_numpy(p)[None],
        lambda p: torch.from_numpy(p)[None, None],
        lambda p: torch.from_numpy(p.T.copy()).t(),  # non-contiguous
        lambda p: p.astype(np.uint8) * 255,
        lambda p: p.astype(np.uint8),  # 0 / 1 is below half of 255: see test_uint8_zero_one_mask_is_empty
        lambda p: p.astype(np.uint16) * 65535,
        lambda p: p.astype(np.float32),
        lambda p: p.astype(np.float64)[:, :, None],
        lambda p: np.repeat(_u8(p)[:, :, None], 3, axis=2),
        lambda p: np.concatenate([np.repeat(_u8(p)[:, :, None], 3, axis=2), np.full((*p.shape, 1), 255, np.uint8)], 2),
        lambda p: torch.from_numpy(p).float()[None],
        lambda p: torch.from_numpy(p).to(torch.uint8)[None] * 255,
        lambda p: torch.from_numpy(p).half().expand(3, -1, -1),
        lambda p: Image.fromarray(p),  # mode "1"
        lambda p: Image.fromarray(_u8(p)),  # mode "L"
        lambda p: Image.fromarray(_u8(p)).convert("RGB"),
        lambda p: Image.fromarray(_u8(p)).convert("RGBA"),
        lambda p: Image.fromarray(_u8(p)).convert("LA"),
        lambda p: Image.fromarray(_u8(p)).convert("P"),
        lambda p: Image.fromarray(p.astype(np.uint16) * 65535),  # mode "I;16"
    ],
)
def test_every_mask_kind(make: Any) -> None:
    mask = make(PATTERN)
    hole = _holes(mask)
    if isinstance(mask, np.ndarray) and mask.dtype == np.uint8 and mask.max() == 1:
        _expect(hole, np.zeros_like(PATTERN))
    else:
        _expect(hole)


def test_uint8_zero_one_mask_is_empty() -> None:
    """Thresholded at half the dtype's range (like diffusers): a 0/1 uint8 mask marks nothing."""
    assert not _holes(PATTERN.astype(np.uint8)).any()
    assert _holes(PATTERN.astype(np.float32)).sum() == PATTERN.sum()


def test_torch_batch_mask_keeps_its_batch() -> None:
    masks = torch.stack([torch.from_numpy(PATTERN), torch.from_numpy(~PATTERN)])[:, None]
    for m in (masks, masks.float()):
        hole = _holes(m)
        assert hole.shape == (2, 2, 3)
        assert np.array_equal(hole[0].numpy(), PATTERN) and np.array_equal(hole[1].numpy(), ~PATTERN)


def test_mask_file_and_exif_orientation(tmp_path: Path) -> None:
    Image.fromarray(_u8()).save(tmp_path / "m.png")
    hole, transposed = read_mask(tmp_path / "m.png")
    _expect(hole)
    assert not transposed
    exif = Image.Exif()
    exif[0x0112] = 8
    Image.fromarray(_u8()).save(tmp_path / "r.png", exif=exif.tobytes())
    hole, transposed = read_mask(str(tmp_path / "r.png"))
    assert transposed
    _expect(hole, np.rot90(PATTERN, 1))


@pytest.mark.parametrize("name", ["missing.png", "empty.png"])
def test_mask_file_errors(tmp_path: Path, name: str) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(ImageReadError, match=name.replace(".", r"\.")):
        read_mask(tmp_path / name)


# -- thresholds -------------------------------------------------------------------------------------
def test_uint8_threshold_boundary_at_half() -> None:
    mask = np.array([[0, 127, 128, 255]], np.uint8)
    _expect(_holes(mask), np.array([[False, False, True, True]]))
    _expect(_holes(mask, threshold=0.0), np.array([[False, True, True, True]]))
    _expect(_holes(mask, threshold=0.999), np.array([[False, False, False, True]]))


def test_uint16_and_float_thresholds_are_strictly_greater() -> None:
    _expect(_holes(np.array([[32767, 32768]], np.uint16)), np.array([[False, True]]))
    _expect(_holes(np.array([[0.5, 0.5001]], np.float32)), np.array([[False, True]]))
    _expect(_holes(torch.tensor([[0.2, 0.3]]), threshold=0.25), np.array([[False, True]]))


def test_rgb_masks_use_luma() -> None:
    colours = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0], [128, 128, 128]]], np.uint8)
    # luma: red 0.299, green 0.587, blue 0.114, white 1, black 0, mid-grey 0.502
    _expect(_holes(colours), np.array([[False, True, False, True, False, True]]))
    _expect(_holes(Image.fromarray(colours)), np.array([[False, True, False, True, False, True]]))
    _expect(_holes(colours, threshold=0.25), np.array([[True, True, False, True, False, True]]))


def test_rgba_masks_use_colour_unless_from_alpha() -> None:
    rgba = np.zeros((1, 3, 4), np.uint8)
    rgba[0, 0] = (255, 255, 255, 0)  # white but transparent
    rgba[0, 1] = (0, 0, 0, 255)  # black but opaque
    rgba[0, 2] = (255, 255, 255, 255)
    _expect(_holes(rgba), np.array([[True, False, True]]))
    _expect(_holes(rgba, from_alpha=True), np.array([[False, True, True]]))
    _expect(_holes(Image.fromarray(rgba), from_alpha=True), np.array([[False, True, True]]))
    la = Image.fromarray(rgba).convert("LA")
    _expect(_holes(la, from_alpha=True), np.array([[False, True, True]]))
    _expect(_holes(la), np.array([[True, False, True]]))
    _expect(
        _holes(torch.from_numpy(rgba).permute(2, 0, 1).float() / 255, from_alpha=True), np.array([[False, True, True]])
    )


@pytest.mark.parametrize(
    "mask",
    [PATTERN, torch.from_numpy(PATTERN), _u8(), Image.fromarray(_u8()).convert("RGB"), Image.fromarray(PATTERN)],
    ids=["np-bool", "pt-bool", "uint8", "pil-rgb", "pil-1"],
)
def test_from_alpha_without_alpha_is_an_error(mask: Any) -> None:
    with pytest.raises(InvalidInputError, match="alpha"):
        read_mask(mask, from_alpha=True)


def test_invert_flips_every_kind() -> None:
    for mask in (PATTERN, _u8(), torch.from_numpy(PATTERN), Image.fromarray(_u8())):
        _expect(_holes(mask, invert=True), ~PATTERN)
    rgba = np.zeros((1, 2, 4), np.uint8)
    rgba[0, 1, 3] = 255
    _expect(_holes(rgba, from_alpha=True, invert=True), np.array([[True, False]]))


@pytest.mark.parametrize("threshold", [1.0, -0.1, float("nan"), 2, True, "0.5", None])
def test_bad_thresholds(threshold: Any) -> None:
    with pytest.raises(InvalidInputError, match="mask_threshold"):
        read_mask(PATTERN, threshold=threshold)


def test_numpy_scalar_thresholds_are_accepted() -> None:
    mask = np.array([[0.2, 0.4]], np.float32)
    for threshold in (np.float32(0.3), np.float64(0.3), 0, np.int64(0)):
        assert _holes(mask, threshold=threshold).any()


# -- errors -----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mask", "error", "match"),
    [
        (np.zeros((1, 4, 4), bool), InvalidInputError, r"bool mask of shape \(1, 4, 4\)"),
        (np.zeros((4, 4, 2), bool), InvalidInputError, "bool mask"),
        (torch.zeros(4, 4, 1, dtype=torch.bool), InvalidInputError, "bool mask"),
        (torch.zeros(2, 3, 4, 4, dtype=torch.bool), InvalidInputError, "bool mask"),
        (np.zeros((0, 5), bool), InvalidInputError, "empty"),
        (torch.zeros(1, 5, 0, dtype=torch.bool), InvalidInputError, "empty"),
        (np.zeros((0, 5), np.uint8), InvalidInputError, "empty"),
        (np.full((4, 4), 255.0), InvalidInputError, "the numpy mask.*divide by 255"),
        (np.zeros((4, 4), np.int64), InvalidInputError, "the numpy mask.*uint8 or uint16"),
        (torch.zeros(40, 50, 3), InvalidInputError, r"permute\(2, 0, 1\)"),
        ([[1, 0]], InvalidInputError, "unsupported mask type list"),
        (None, InvalidInputError, "unsupported mask type"),
        (b"\x00", InvalidInputError, "unsupported mask type bytes"),
    ],
)
def test_bad_masks(mask: Any, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        read_mask(mask)


# -- inputs are never modified ----------------------------------------------------------------------
def test_masks_are_not_modified_and_not_aliased() -> None:
    np_mask = PATTERN.copy()
    pt_mask = torch.from_numpy(PATTERN.copy())
    for mask in (np_mask, pt_mask):
        inverted = _holes(mask, invert=True)
        inverted.fill_(False)
    assert np.array_equal(np_mask, PATTERN) and np.array_equal(pt_mask.numpy(), PATTERN)
    hole = _holes(np_mask)
    hole.fill_(False)  # the hole map is the library's own copy
    assert np.array_equal(np_mask, PATTERN)


def test_read_only_bool_mask(monkeypatch: pytest.MonkeyPatch) -> None:
    real = torch.from_numpy

    def checked(arr: np.ndarray) -> torch.Tensor:
        assert arr.flags.writeable, "a read-only array reached torch.from_numpy"
        return real(arr)

    monkeypatch.setattr(torch, "from_numpy", checked)
    mask = PATTERN.copy()
    mask.flags.writeable = False
    hole = _holes(mask)
    hole.fill_(False)
    assert np.array_equal(mask, PATTERN)


# -- properties -------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 8),
    st.integers(1, 8),
    st.integers(0, 2**16),
    st.floats(0.0, 0.99),
    st.booleans(),
)
def test_kinds_agree(h: int, w: int, seed: int, threshold: float, invert: bool) -> None:
    """uint8 numpy, L PIL, float tensor and RGB (grey colours) give the same holes as the reference."""
    values = np.random.default_rng(seed).integers(0, 256, (h, w), dtype=np.uint8)
    expected = (values.astype(np.float64) / 255) > threshold
    expected = ~expected if invert else expected
    # values within float32 rounding of the threshold may go either way
    ambiguous = np.abs(values.astype(np.float64) / 255 - threshold) < 1e-5
    kinds = [
        values,
        Image.fromarray(values),
        torch.from_numpy(values).float()[None] / 255,
        np.repeat(values[:, :, None], 3, axis=2),
    ]
    for mask in kinds:
        hole = _holes(mask, threshold=threshold, invert=invert)[0].numpy()
        assert np.array_equal(hole[~ambiguous], expected[~ambiguous])


def test_hole_fraction() -> None:
    assert hole_fraction(torch.from_numpy(PATTERN)) == pytest.approx(0.5)
    assert hole_fraction(torch.zeros(0, dtype=torch.bool)) == 0.0
    assert hole_fraction(torch.ones(2, 3, 3, dtype=torch.bool)) == 1.0
