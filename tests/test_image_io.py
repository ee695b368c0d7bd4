"""Reading images of every kind (read_image / open_image_file) and writing them back (paste / to_output).

The contract under test: every input kind round-trips with identical bits, type, dtype and shape;
``paste`` changes hole pixels only and never alpha; inputs are never modified; bad inputs raise
:class:`InvalidInputError` / :class:`ImageReadError` with a message that says what to do.
A few end-to-end checks through ``Inpainter.from_config("tiny")`` close the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from dpinpaint import Inpainter
from dpinpaint.errors import DPInpaintWarning, ImageReadError, InvalidInputError
from dpinpaint.image_io import LUMA_WEIGHTS, ImageData, open_image_file, read_image
from dpinpaint.strategies import Window

ORIENTATION = 0x0112


# -- helpers ----------------------------------------------------------------------------------------
def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _np_image(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    """Random pixels spanning the dtype's full range (uint) or [0, 1] (float), extremes included."""
    rng = _rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "u":
        arr = rng.integers(0, np.iinfo(dt).max, size=shape, endpoint=True).astype(dt)
    else:
        arr = rng.random(shape).astype(dt)
    flat = arr.reshape(-1)
    if flat.size >= 2:
        flat[0], flat[-1] = (0, np.iinfo(dt).max) if dt.kind == "u" else (0.0, 1.0)
    return arr


def _pil_image(mode: str, size: tuple[int, int] = (13, 7), seed: int = 0) -> Image.Image:
    """A random ``size`` (W, H) PIL image in ``mode``."""
    w, h = size
    rng = _rng(seed)
    if mode == "1":
        return Image.fromarray(rng.random((h, w)) > 0.5)
    if mode in ("L", "LA", "RGB", "RGBA"):
        channels = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4}[mode]
        arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
        return Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode=mode)
    if mode == "I;16":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16))
    if mode == "I":
        return Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.int32))
    if mode == "CMYK":
        return Image.frombytes("CMYK", size, rng.integers(0, 256, (h, w, 4), dtype=np.uint8).tobytes())
    if mode == "P":
        return _pil_image("RGB", size, seed).quantize(16)
    raise AssertionError(mode)


def _same_pil(a: Image.Image, b: Image.Image) -> bool:
    return a.mode == b.mode and a.size == b.size and a.tobytes() == b.tobytes()


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    """Identical type, dtype, shape and bits."""
    return (
        type(a) is type(b)
        and a.dtype == b.dtype
        and a.shape == b.shape
        and np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()
    )


def _bits(t: torch.Tensor) -> torch.Tensor:
    """The bit pattern of ``t`` as an integer tensor (so -0.0 != 0.0 and floats compare exactly)."""
    t = t.contiguous()
    if t.is_floating_point():
        return t.view({2: torch.int16, 4: torch.int32, 8: torch.int64}[t.element_size()])
    return t.to(torch.int64)


def _same_tensor(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and torch.equal(_bits(a), _bits(b))


def _save_with_orientation(im: Image.Image, path: Path, orientation: int, **kwargs: Any) -> None:
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    im.save(path, exif=exif.tobytes(), **kwargs)


# -- PIL round trips --------------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["1", "L", "LA", "RGB", "RGBA", "I;16", "I"])
def test_pil_native_modes_round_trip_bit_exact(mode: str) -> None:
    im = _pil_image(mode)
    before = im.tobytes()
    data = read_image(im)
    out = data.to_output()
    assert isinstance(out, Image.Image)
    assert _same_pil(out, im)
    assert data.kind == "pil" and data.size == (7, 13) and data.pil_mode == mode
    assert im.tobytes() == before  # the caller's image is untouched


@pytest.mark.parametrize(
    ("mode", "converted"),
    [("P", "RGB"), ("CMYK", "RGB"), ("PA", "RGBA"), ("YCbCr", "RGB")],
)
def test_pil_converted_modes_come_back_in_the_documented_mode(mode: str, converted: str) -> None:
    im = _pil_image("CMYK") if mode == "CMYK" else _pil_image("RGBA" if mode == "PA" else "RGB").convert(mode)
    if mode == "P":
        im = _pil_image("P")
    out = read_image(im).to_output()
    assert out.mode == converted
    assert _same_pil(out, im.convert(converted))
    assert im.mode == mode  # the caller's image is not converted in place


def test_pil_palette_with_transparency_becomes_rgba() -> None:
    im = _pil_image("P")
    im.info["transparency"] = 3
    out = read_image(im).to_output()
    assert out.mode == "RGBA"
    assert _same_pil(out, im.convert("RGBA"))
    assert (np.asarray(out)[:, :, 3] == 0).any()  # index 3 is transparent


def test_pil_32bit_integer_outside_16_bit_range_is_refused() -> None:
    im = Image.fromarray(np.array([[0, 70000]], dtype=np.int32))
    with pytest.raises(InvalidInputError, match=r"outside 0\.\.65535"):
        read_image(im)


def test_pil_unsupported_mode_message_says_how_to_convert() -> None:
    with pytest.raises(InvalidInputError, match=r"mode 'F'.*convert\('RGB'\)"):
        read_image(Image.new("F", (4, 4)))


def test_pixels_never_wrap_a_read_only_array(monkeypatch: pytest.MonkeyPatch) -> None:
    """np.asarray(PIL image) and user arrays may be read-only: torch warns, and writes would be undefined.

    (torch warns only once per process, so the check is on what reaches torch.from_numpy.)
    """
    real = torch.from_numpy

    def checked(arr: np.ndarray) -> torch.Tensor:
        assert arr.flags.writeable, "a read-only array reached torch.from_numpy"
        return real(arr)

    monkeypatch.setattr(torch, "from_numpy", checked)
    frozen = _np_image((6, 5), np.uint8)
    frozen.flags.writeable = False
    for image in (_pil_image("L"), _pil_image("1"), _pil_image("RGBA"), frozen, frozen[:, :, None]):
        data = read_image(image)
        data.pixels.zero_()
    assert frozen[-1, -1] == 255


# -- numpy round trips ------------------------------------------------------------------------------
NP_DTYPES = [np.uint8, np.uint16, np.float16, np.float32, np.float64]
NP_SHAPES = [(9, 14), (9, 14, 1), (9, 14, 2), (9, 14, 3), (9, 14, 4)]


@pytest.mark.parametrize("dtype", NP_DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", NP_SHAPES, ids=str)
def test_numpy_round_trip_bit_exact(dtype: Any, shape: tuple[int, ...]) -> None:
    arr = _np_image(shape, dtype)
    before = arr.copy()
    data = read_image(arr)
    assert data.kind == "np" and data.size == (9, 14)
    assert data.channels == (shape[2] if len(shape) == 3 else 1)
    out = data.to_output()
    assert _same_array(out, arr)
    assert _same_array(arr, before)


@pytest.mark.parametrize(
    "view",
    [
        lambda a: a[:, ::-1],
        lambda a: a[::-1, :, ::-1],
        lambda a: a.transpose(1, 0, 2),
        lambda a: a[::2, 1::3],
        lambda a: a[:, :, :1],
        lambda a: np.asfortranarray(a),
    ],
    ids=["flip-w", "flip-h-bgr", "transpose", "strided", "channel-slice", "fortran"],
)
def test_numpy_non_contiguous_views_round_trip(view: Any) -> None:
    arr = view(_np_image((10, 12, 3), np.uint8))
    assert _same_array(np.ascontiguousarray(read_image(arr).to_output()), np.ascontiguousarray(arr))


def test_numpy_grey_non_contiguous_round_trip() -> None:
    arr = _np_image((10, 12), np.float32)[:, ::-1]
    assert _same_array(read_image(arr).to_output(), np.ascontiguousarray(arr))


def test_numpy_read_only_array_is_copied_not_aliased() -> None:
    arr = _np_image((6, 5), np.uint8)
    arr.flags.writeable = False
    data = read_image(arr)
    data.pixels.fill_(7)  # must not write through to the caller's read-only buffer
    assert arr[0, 0] == 0 and arr[-1, -1] == 255


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8", "<u2"])
def test_numpy_any_byte_order_round_trips(dtype: str) -> None:
    arr = _np_image((5, 6, 3), dtype)
    data = read_image(arr)
    assert data.pixels.dtype == {"u2": torch.uint16, "f4": torch.float32, "f8": torch.float64}[dtype[1:]]
    assert torch.equal(data.pixels[0].permute(1, 2, 0), torch.from_numpy(arr.astype(arr.dtype.newbyteorder("="))))
    assert _same_array(data.to_output(), arr)


# -- torch round trips ------------------------------------------------------------------------------
PT_DTYPES = [torch.uint8, torch.uint16, torch.float16, torch.bfloat16, torch.float32, torch.float64]


def _pt_image(shape: tuple[int, ...], dtype: torch.dtype, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, shape, generator=gen, dtype=torch.int32).to(dtype)
    if dtype == torch.uint16:
        return torch.randint(0, 65536, shape, generator=gen, dtype=torch.int32).to(dtype)
    return torch.rand(shape, generator=gen, dtype=torch.float64).to(dtype)


@pytest.mark.parametrize("dtype", PT_DTYPES, ids=str)
@pytest.mark.parametrize(
    ("shape", "layout"),
    [((3, 9, 14), "CHW"), ((2, 4, 9, 14), "BCHW"), ((9, 14), "HW"), ((1, 9, 14), "CHW"), ((1, 2, 9, 14), "BCHW")],
)
def test_torch_round_trip_bit_exact(dtype: torch.dtype, shape: tuple[int, ...], layout: str) -> None:
    t = _pt_image(shape, dtype)
    before = t.clone()
    data = read_image(t)
    assert data.kind == "pt" and data.layout == layout and data.size == (9, 14)
    out = data.to_output()
    assert isinstance(out, torch.Tensor)
    assert _same_tensor(out, t)
    assert _same_tensor(t, before)


@pytest.mark.parametrize(
    "view",
    [
        lambda t: t.permute(2, 0, 1),  # HWC storage seen as CHW
        lambda t: t.permute(2, 0, 1).flip(-1),
        lambda t: t.permute(2, 0, 1)[:, ::2, 1::2],
        lambda t: t.permute(2, 0, 1)[None].expand(3, -1, -1, -1),
    ],
    ids=["permute", "permute-flip", "strided", "expand"],
)
def test_torch_non_contiguous_round_trip(view: Any) -> None:
    t = view(_pt_image((10, 12, 3), torch.float32))
    assert not t.is_contiguous()
    data = read_image(t)
    assert _same_tensor(data.to_output(), t)
    clone = data.pixels.clone()  # what Inpainter._finish does; then paste into it
    data.paste(clone, 0, Window(0, 0, *data.size), torch.zeros(3, *data.size), torch.ones(data.size, dtype=torch.bool))
    assert _same_tensor(data.to_output(), t)  # the input's storage is untouched


def test_torch_requires_grad_input_is_accepted_and_detached() -> None:
    t = torch.rand(3, 5, 6, requires_grad=True)
    out = read_image(t).to_output()
    assert not out.requires_grad and torch.equal(out, t.detach())


# -- output_type conversions ------------------------------------------------------------------------
def test_output_type_conversions_from_uint8_numpy() -> None:
    arr = _np_image((7, 9, 4), np.uint8)
    data = read_image(arr)
    pil = data.to_output("pil")
    assert pil.mode == "RGBA" and np.array_equal(np.asarray(pil), arr)
    pt = data.to_output("pt")
    assert pt.dtype == torch.float32 and pt.shape == (4, 7, 9)
    assert torch.equal(torch.round(pt * 255).to(torch.uint8), torch.from_numpy(arr).permute(2, 0, 1))
    assert _same_array(data.to_output("np"), arr)


def test_output_type_conversions_from_pil_and_torch() -> None:
    im = _pil_image("LA")
    np_out = read_image(im).to_output("np")
    assert np_out.shape == (7, 13, 2) and np.array_equal(np_out, np.asarray(im))
    grey = read_image(_pil_image("L")).to_output("np")
    assert grey.shape == (7, 13) and grey.dtype == np.uint8
    batch = _pt_image((2, 3, 5, 6), torch.float32)
    assert read_image(batch).to_output("np").shape == (2, 5, 6, 3)
    with pytest.raises(InvalidInputError, match="batch of 2"):
        read_image(batch).to_output("pil")
    single = read_image(batch[:1]).to_output("pil")
    assert single.size == (6, 5) and single.mode == "RGB"
    u16 = read_image(np.full((3, 4), 65535, np.uint16))
    assert u16.to_output("pil").getpixel((0, 0)) == 255
    assert u16.to_output("pt").max().item() == 1.0


def test_bad_output_type_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="output_type"):
        read_image(_np_image((3, 4), np.uint8)).to_output("jpeg")  # type: ignore[arg-type]


# -- rgb() ------------------------------------------------------------------------------------------
def test_rgb_scales_to_float_unit_range_and_replicates_grey() -> None:
    rgb = read_image(np.array([[0, 255]], np.uint8)).rgb()
    assert rgb.shape == (3, 1, 2) and rgb.dtype == torch.float32
    assert torch.equal(rgb[:, 0, 1], torch.ones(3)) and torch.equal(rgb[:, 0, 0], torch.zeros(3))
    rgba = read_image(np.array([[[65535, 0, 32768, 0]]], np.uint16)).rgb()
    assert rgba.shape == (3, 1, 1) and rgba[0].item() == 1.0 and abs(rgba[2].item() - 0.5) < 1e-4
    la = read_image(_pil_image("LA")).rgb()
    assert la.shape == (3, 7, 13)
    batch = _pt_image((2, 3, 4, 4), torch.float64)
    assert torch.allclose(read_image(batch).rgb(1), batch[1].float())


# -- paste ------------------------------------------------------------------------------------------
def _expected_fill(fill: torch.Tensor, channels: int, dtype: torch.dtype, scale: float) -> torch.Tensor:
    """What paste should write: clamped fill (luma for grey), quantised to the native dtype."""
    f = fill.double().clamp(0, 1)
    if channels < 3:
        f = (f * torch.tensor(LUMA_WEIGHTS, dtype=torch.float64)[:, None, None]).sum(0, keepdim=True).clamp(0, 1)
    if dtype == torch.bool:
        return f >= 0.5
    if dtype.is_floating_point:
        return f
    return torch.round(f * scale)


IMAGE_KINDS = st.sampled_from(
    [
        ("np", np.uint8),
        ("np", np.uint16),
        ("np", np.float16),
        ("np", np.float32),
        ("np", np.float64),
        ("pt", torch.uint8),
        ("pt", torch.float32),
        ("pt", torch.bfloat16),
        ("pil", "1"),
        ("pil", "L"),
        ("pil", "LA"),
        ("pil", "RGB"),
        ("pil", "RGBA"),
        ("pil", "I;16"),
    ]
)


@st.composite
def paste_cases(draw: st.DrawFn) -> tuple[Any, Window, torch.Tensor, torch.Tensor]:
    choice: tuple[str, Any] = draw(IMAGE_KINDS)
    kind, dtype = choice
    h, w = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    seed = draw(st.integers(0, 2**16))
    if kind == "pil":
        image: Any = _pil_image(dtype, (w, h), seed)
    else:
        channels = draw(st.sampled_from([0, 1, 2, 3, 4]))  # 0 = HxW
        if kind == "np":
            image = _np_image((h, w) if channels == 0 else (h, w, channels), dtype, seed)
        else:
            image = _pt_image((h, w) if channels == 0 else (channels, h, w), dtype, seed)
    top, left = draw(st.integers(0, h - 1)), draw(st.integers(0, w - 1))
    window = Window(top, left, draw(st.integers(1, h - top)), draw(st.integers(1, w - left)))
    gen = torch.Generator().manual_seed(seed)
    hole = torch.rand(window.height, window.width, generator=gen) < draw(st.floats(0.0, 1.0))
    fill = torch.rand(3, window.height, window.width, generator=gen) * 1.4 - 0.2  # some out of range
    return image, window, hole, fill


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(paste_cases())
def test_paste_changes_hole_pixels_only_and_never_alpha(case: tuple[Any, Window, torch.Tensor, torch.Tensor]) -> None:
    image, window, hole, fill = case
    snapshot: Any = image.copy() if isinstance(image, Image.Image | np.ndarray) else image.clone()
    data = read_image(image)
    out = data.pixels.clone()
    data.paste(out, 0, window, fill, hole)

    full = torch.zeros(data.size, dtype=torch.bool)
    full[window.top : window.bottom, window.left : window.right] = hole
    ref = read_image(snapshot).pixels
    # every pixel outside the hole keeps its exact bits, in every channel
    assert torch.equal(_bits(out[0][:, ~full]), _bits(ref[0][:, ~full]))
    if data.has_alpha:
        assert torch.equal(_bits(out[0, -1]), _bits(ref[0, -1]))
    # hole pixels: the clamped fill (luma for grey), quantised like the input
    color = 3 if data.channels >= 3 else 1
    expected = _expected_fill(fill, color, out.dtype, data.scale)[:, hole]
    got = out[0, :color, window.top : window.bottom, window.left : window.right][:, hole]
    if out.dtype == torch.bool:
        luma = _expected_fill(fill, 1, torch.float64, 1.0)[:, hole]
        assert torch.equal(got, expected) or bool(((luma - 0.5).abs() < 1e-6).any())
    elif out.dtype.is_floating_point:
        assert torch.allclose(got.double(), expected, atol=torch.finfo(out.dtype).eps * 2)
    elif got.numel():  # float32 arithmetic in paste vs float64 here: at most one step apart at a .5 boundary
        assert (got.double() - expected).abs().max().item() <= 1

    # the result rebuilds the caller's type, and the caller's object is unchanged
    result = data.with_pixels(out).to_output()
    assert type(result) is type(image)
    assert torch.equal(_bits(read_image(result).pixels), _bits(out))
    if isinstance(image, Image.Image):
        assert _same_pil(image, snapshot)
    elif isinstance(image, np.ndarray):
        assert _same_array(image, snapshot)
    else:
        assert _same_tensor(image, snapshot)


def test_paste_quantises_like_the_input_dtype() -> None:
    fill = torch.tensor([0.5, 1.5, -0.5]).view(3, 1, 1)
    hole = torch.ones(1, 1, dtype=torch.bool)
    win = Window(0, 0, 1, 1)
    cases: list[tuple[Any, list[float]]] = [
        (np.zeros((1, 1, 3), np.uint8), [128, 255, 0]),
        (np.zeros((1, 1, 3), np.uint16), [32768, 65535, 0]),
        (np.zeros((1, 1, 3), np.float32), [0.5, 1.0, 0.0]),
    ]
    for image, expected in cases:
        data = read_image(image)
        out = data.pixels.clone()
        data.paste(out, 0, win, fill, hole)
        assert out[0, :, 0, 0].double().tolist() == expected
    grey = read_image(np.zeros((1, 1), np.uint8))
    out = grey.pixels.clone()
    grey.paste(out, 0, win, torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1), hole)
    assert out.item() == round(0.299 * 255)  # ITU-R 601 luma of pure red


def test_is_grey_looks_only_at_known_pixels() -> None:
    rgb = np.repeat(np.arange(12, dtype=np.uint8).reshape(3, 4, 1), 3, axis=2)
    hole = torch.zeros(3, 4, dtype=torch.bool)
    hole[1, 1] = True
    rgb[1, 1] = [200, 10, 90]  # a coloured hole pixel does not matter
    assert read_image(rgb).is_grey(0, hole)
    rgb[0, 0, 2] += 1  # one known pixel with B != R
    assert not read_image(rgb).is_grey(0, hole)
    assert read_image(np.zeros((3, 4), np.uint8)).is_grey(0, hole)  # one channel: always
    rgba = np.zeros((3, 4, 4), np.float32)
    rgba[..., 3] = np.linspace(0, 1, 12).reshape(3, 4)  # alpha is not a colour channel
    assert read_image(rgba).is_grey(0, hole)
    assert not read_image(np.zeros((3, 4, 3), np.uint8)).is_grey(0, torch.ones(3, 4, dtype=torch.bool))


def test_paste_grey_writes_the_luma_to_every_colour_channel() -> None:
    win = Window(0, 0, 1, 1)
    hole = torch.ones(1, 1, dtype=torch.bool)
    red = torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1)
    for image, luma in ((np.zeros((1, 1, 3), np.uint8), round(0.299 * 255)), (np.zeros((1, 1, 4), np.float32), 0.299)):
        data = read_image(image)
        out = data.pixels.clone()
        data.paste(out, 0, win, red, hole, grey=True)
        assert out[0, :3, 0, 0].tolist() == pytest.approx([luma] * 3)
        if data.channels == 4:
            assert out[0, 3, 0, 0].item() == 0.0  # alpha untouched
        data.paste(out, 0, win, red, hole)  # colour images keep the colour fill by default
        assert out[0, 1, 0, 0].item() == 0.0


def test_paste_respects_the_window_offset() -> None:
    data = read_image(np.zeros((6, 8, 3), np.uint8))
    out = data.pixels.clone()
    hole = torch.tensor([[True, False, True]])
    data.paste(out, 0, Window(2, 4, 1, 3), torch.ones(3, 1, 3), hole)
    changed = (out[0] != 0).any(0)
    expected = torch.zeros(6, 8, dtype=torch.bool)
    expected[2, 4], expected[2, 6] = True, True
    assert torch.equal(changed, expected)


def test_paste_writes_the_requested_batch_item_only() -> None:
    t = torch.zeros(3, 3, 4, 4)
    data = read_image(t)
    out = data.pixels.clone()
    data.paste(out, 1, Window(0, 0, 4, 4), torch.ones(3, 4, 4), torch.ones(4, 4, dtype=torch.bool))
    assert out[1].eq(1).all() and out[0].eq(0).all() and out[2].eq(0).all()


# -- invalid inputs ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("image", "match"),
    [
        (np.full((4, 4, 3), 255.0, np.float32), "divide by 255"),
        (np.full((4, 4), -1.0, np.float64), r"\(x \+ 1\) / 2"),
        (torch.full((3, 4, 4), 1.5), r"must be in \[0, 1\]"),
        (np.array([[0.0, np.nan]], np.float32), "NaN or infinite"),
        (torch.tensor([[0.0, float("inf")]]), "NaN or infinite"),
        (np.array([[0.0, -np.inf]], np.float16), "NaN or infinite"),
        (np.zeros((4, 4), bool), "not an image dtype"),
        (np.zeros((4, 4), np.int64), "must be uint8 or uint16, got int64"),
        (np.zeros((4, 4), np.int8), "must be uint8 or uint16"),
        (np.zeros((4, 4), np.uint32), "must be uint8 or uint16"),
        (np.zeros((4, 4), np.complex64), "not an image dtype"),
        (np.zeros((4, 4), np.longdouble), "float16, float32 or float64"),
        (np.zeros((4, 4), "U1"), "not an image dtype"),
        (np.zeros((4, 4, 5), np.uint8), "5 channels"),
        (np.zeros((3, 40, 50), np.uint8), r"channels go last.*transpose\(1, 2, 0\)"),
        (np.zeros((2, 4, 4, 3), np.uint8), "HxW or HxWxC"),
        (np.zeros(7, np.uint8), "HxW or HxWxC"),
        (np.zeros((0, 0), np.uint8), "empty"),
        (np.zeros((0, 5, 3), np.float32), "empty"),
        (np.zeros((5, 5, 0), np.uint8), "0 channels"),
        (torch.zeros(40, 50, 3), r"channels go first.*permute\(2, 0, 1\)"),
        (torch.zeros(1, 6, 4, 4), "6 channels"),
        (torch.zeros(3, 0, 5), "empty"),
        (torch.zeros(0, 3, 4, 4), "empty"),
        (torch.zeros(4, 4, dtype=torch.bool), "masks, not images"),
        (torch.zeros(3, 4, 4, dtype=torch.int32), "int32 is not supported"),
        (torch.zeros(3, 4, 4, dtype=torch.complex64), "not supported"),
        (torch.zeros(7), "CxHxW or BxCxHxW"),
        (torch.zeros(1, 1, 3, 4, 4), "CxHxW or BxCxHxW"),
        ([[0, 1], [1, 0]], "unsupported image type list"),
        (None, "unsupported image type NoneType"),
        (b"\x89PNG\r\n", "unsupported image type bytes"),
        ({"image": 1}, "unsupported image type dict"),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_invalid_inputs_raise_invalid_input_error(image: Any, match: str) -> None:
    with pytest.raises(InvalidInputError, match=match):
        read_image(image)


def test_messages_name_the_argument() -> None:
    with pytest.raises(InvalidInputError, match="the numpy mask"):
        read_image(np.zeros((4, 4), np.int64), name="mask")
    with pytest.raises(InvalidInputError, match=r"shape \(4, 4\) and dtype int64"):
        read_image(np.zeros((4, 4), np.int64))


def test_float_inputs_within_rounding_tolerance_are_accepted() -> None:
    arr = np.array([[-1e-4, 1.0 + 1e-4]], np.float32)
    assert _same_array(read_image(arr).to_output(), arr)
    assert read_image(arr).rgb().min().item() == 0.0 and read_image(arr).rgb().max().item() == 1.0


# -- files ------------------------------------------------------------------------------------------
@pytest.fixture
def rgb_array() -> np.ndarray:
    return _np_image((40, 60, 3), np.uint8, seed=3)


def test_png_file_round_trip_and_path_types(tmp_path: Path, rgb_array: np.ndarray) -> None:
    path = tmp_path / "a.png"
    Image.fromarray(rgb_array).save(path)
    for p in (path, str(path)):
        data = read_image(p)
        assert data.kind == "pil" and not data.exif_transposed and str(path) in data.source
        out = data.to_output()
        assert isinstance(out, Image.Image) and np.array_equal(np.asarray(out), rgb_array)


def test_sixteen_bit_png_keeps_sixteen_bits(tmp_path: Path) -> None:
    arr = _np_image((9, 11), np.uint16)
    Image.fromarray(arr).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png").to_output()
    assert out.mode == "I;16" and np.array_equal(np.asarray(out), arr)


@pytest.mark.parametrize(
    ("orientation", "rot90"),
    [(6, -1), (8, 1), (3, 2)],  # 6: rotate 90° clockwise to display, 8: counter-clockwise, 3: 180°
)
@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_exif_orientation_is_applied(
    tmp_path: Path, rgb_array: np.ndarray, orientation: int, rot90: int, fmt: str
) -> None:
    path = tmp_path / f"r{orientation}.{fmt}"
    _save_with_orientation(Image.fromarray(rgb_array), path, orientation, **({"quality": 95} if fmt == "jpg" else {}))
    with Image.open(path) as raw:
        stored = np.asarray(raw.convert("RGB"))  # the decoded pixels as stored, not rotated
    data = read_image(path)
    assert data.exif_transposed
    out = data.to_output()
    assert out.size == ((40, 60) if orientation in (6, 8) else (60, 40))  # (W, H): swapped for 90°
    assert np.array_equal(np.asarray(out), np.rot90(stored, rot90))
    if fmt == "png":
        assert np.array_equal(stored, rgb_array)
    # the output's EXIF no longer asks viewers to rotate it again
    exif = Image.Exif()
    exif.load(out.info.get("exif", b""))
    assert exif.get(ORIENTATION, 1) == 1
    image, transposed = open_image_file(path)
    assert transposed and image.size == out.size


@pytest.mark.parametrize("orientation", [1, 0, 9])
def test_exif_orientation_that_is_not_a_transpose_is_ignored(
    tmp_path: Path, rgb_array: np.ndarray, orientation: int
) -> None:
    path = tmp_path / "o.png"
    _save_with_orientation(Image.fromarray(rgb_array), path, orientation)
    data = read_image(path)
    assert not data.exif_transposed  # else the mask-size error would blame an orientation that was not applied
    assert np.array_equal(np.asarray(data.to_output()), rgb_array)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
@pytest.mark.parametrize("rotated", [False, True])
def test_icc_profile_is_kept_in_the_output(tmp_path: Path, rgb_array: np.ndarray, fmt: str, rotated: bool) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    path = tmp_path / f"icc.{fmt}"
    exif = Image.Exif()
    exif[ORIENTATION] = 6 if rotated else 1
    Image.fromarray(rgb_array).save(path, icc_profile=icc, exif=exif.tobytes())
    out = read_image(path).to_output()
    assert out.info.get("icc_profile") == icc
    assert read_image(path).to_output("pil").info.get("icc_profile") == icc


def test_icc_profile_survives_palette_conversion(tmp_path: Path, rgb_array: np.ndarray) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    Image.fromarray(rgb_array).quantize(32).save(tmp_path / "p.png", icc_profile=icc)
    out = read_image(tmp_path / "p.png").to_output()
    assert out.mode == "RGB" and out.info.get("icc_profile") == icc


def _truncated(tmp_path: Path, rgb_array: np.ndarray, fmt: str) -> Path:
    full = tmp_path / f"full.{fmt}"
    Image.fromarray(rgb_array).save(full)
    data = full.read_bytes()
    path = tmp_path / f"truncated.{fmt}"
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_truncated_files_raise_image_read_error(tmp_path: Path, rgb_array: np.ndarray, fmt: str) -> None:
    path = _truncated(tmp_path, rgb_array, fmt)
    with pytest.raises(ImageReadError, match="truncated"):
        read_image(path)
    with Image.open(path) as lazy:  # a lazily opened PIL image of a truncated file
        with pytest.raises(ImageReadError, match="cannot be decoded"):
            read_image(lazy)


def test_file_errors(tmp_path: Path) -> None:
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("this is not a PNG")
    (tmp_path / "folder.png").mkdir()
    cases = {
        tmp_path / "missing.png": "does not exist",
        tmp_path / "empty.png": r"empty \(0 bytes\)",
        tmp_path / "text.png": "not an image file",
        tmp_path / "folder.png": "is a folder",
        tmp_path / ("x" * 5000 + ".png"): "cannot access",
    }
    for path, match in cases.items():
        with pytest.raises(ImageReadError, match=match):
            read_image(path)
        with pytest.raises(ImageReadError):
            read_image(str(path))


def test_image_read_error_is_a_value_error_and_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"nope\.png"):
        read_image(tmp_path / "nope.png")


def test_image_data_properties() -> None:
    data = read_image(np.zeros((5, 7, 4), np.uint8))
    assert (data.batch, data.channels, data.size, data.has_alpha, data.scale) == (1, 4, (5, 7), True, 255.0)
    assert isinstance(data.with_pixels(data.pixels.clone()), ImageData)
    assert not read_image(np.zeros((5, 7, 3), np.float32)).has_alpha


# -- end to end through the tiny model --------------------------------------------------------------
@pytest.fixture(scope="module")
def inpainter() -> Inpainter:
    return Inpainter.from_config("tiny", device="cpu")


def _holes(h: int, w: int) -> np.ndarray:
    mask = np.zeros((h, w), bool)
    mask[h // 3 : h // 3 + 40, w // 4 : w // 4 + 70] = True
    mask[5, 5] = mask[-1, -1] = mask[h // 2, -3] = True  # isolated pixels, one in a corner
    return mask


@pytest.mark.slow
def test_e2e_odd_size_numpy_rgba_keeps_known_pixels_and_alpha(inpainter: Inpainter) -> None:
    img = _np_image((427, 641, 4), np.uint8, seed=5)
    before = img.copy()
    mask = _holes(427, 641)
    for strategy in ("auto", "resize", "crop"):
        out = inpainter.inpaint(img, mask, strategy=strategy)
        assert out.shape == img.shape and out.dtype == img.dtype
        assert np.array_equal(out[~mask], img[~mask])
        assert np.array_equal(out[..., 3], img[..., 3])
        assert (out[mask][:, :3] != img[mask][:, :3]).any()
    assert _same_array(img, before)


@pytest.mark.slow
def test_e2e_pil_grey_and_rgba(inpainter: Inpainter) -> None:
    mask = Image.fromarray(_holes(101, 203).astype(np.uint8) * 255)
    hole = _holes(101, 203)
    for mode in ("L", "LA", "RGBA", "I;16", "1"):
        im = _pil_image(mode, (203, 101), seed=9)
        before = im.tobytes()
        out = inpainter.inpaint(im, mask)
        assert out.mode == im.mode and out.size == im.size
        got, ref = np.asarray(out), np.asarray(im)
        assert np.array_equal(got[~hole], ref[~hole])
        if mode in ("LA", "RGBA"):
            assert np.array_equal(got[..., -1], ref[..., -1])
        assert im.tobytes() == before


def test_e2e_torch_batch_non_contiguous(inpainter: Inpainter) -> None:
    t = _pt_image((2, 37, 53, 3), torch.float32).permute(0, 3, 1, 2)
    before = t.clone()
    hole = torch.from_numpy(_holes(37, 53)[:, ::-1].copy())
    out = inpainter.inpaint(t, hole)
    assert out.shape == t.shape and out.dtype == t.dtype
    assert torch.equal(_bits(out.permute(0, 2, 3, 1)[:, ~hole]), _bits(t.permute(0, 2, 3, 1)[:, ~hole]))
    assert _same_tensor(t, before)


def test_e2e_exif_rotated_jpeg_with_mask_drawn_upright(inpainter: Inpainter, tmp_path: Path) -> None:
    stored = _np_image((70, 90, 3), np.uint8, seed=2)  # stored 90 wide, 70 high; upright: 70 wide, 90 high
    path = tmp_path / "photo.jpg"
    _save_with_orientation(Image.fromarray(stored), path, 6)
    upright = np.asarray(read_image(path).to_output())
    assert upright.shape == (90, 70, 3)
    hole = np.zeros((90, 70), bool)
    hole[10:30, 40:60] = True  # drawn on the upright picture
    out = inpainter.inpaint(path, hole)
    assert isinstance(out, Image.Image) and out.size == (70, 90)
    assert np.array_equal(np.asarray(out)[~hole], upright[~hole])
    mask_path = tmp_path / "mask.png"
    Image.fromarray(hole.astype(np.uint8) * 255).save(mask_path)
    assert np.array_equal(np.asarray(inpainter.inpaint(path, mask_path)), np.asarray(out))
    with pytest.raises(InvalidInputError, match="EXIF orientation"):
        inpainter.inpaint(path, np.zeros((70, 90), bool))  # drawn on the stored (sideways) pixels


def test_e2e_empty_mask_returns_the_input_unchanged(inpainter: Inpainter) -> None:
    img = _np_image((20, 30), np.float64)
    with pytest.warns(DPInpaintWarning, match="empty"):
        out = inpainter.inpaint(img, np.zeros((20, 30), bool))
    assert _same_array(out, img)


def test_bfloat16_tensor_to_numpy() -> None:
    t = _pt_image((3, 5, 6), torch.bfloat16)
    out = read_image(t).to_output("np")
    assert out.dtype == np.float32 and out.shape == (5, 6, 3)
    assert torch.equal(torch.from_numpy(out).permute(2, 0, 1).to(torch.bfloat16), t)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_to_pil_rounds_like_float32(dtype: torch.dtype) -> None:
    """Every representable value in [0, 1] maps to round(x * 255) computed exactly, not on the half grid."""
    values = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype)
    values = values[torch.isfinite(values) & (values >= 0) & (values <= 1)]
    pil = read_image(values.view(1, 1, -1)).to_output("pil")
    expected = torch.round(values.double() * 255).to(torch.uint8).numpy()
    assert np.array_equal(np.asarray(pil)[0], expected)


def test_images_above_the_pixel_limit_are_refused_before_any_copy(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from dpinpaint.image_io.read import DEFAULT_MAX_PIXELS, max_pixels

    assert max_pixels() == DEFAULT_MAX_PIXELS == 64_000_000
    monkeypatch.setenv("DPINPAINT_MAX_PIXELS", "1000")
    big = np.zeros((40, 30, 3), np.uint8)  # 1200 pixels
    with pytest.raises(
        InvalidInputError, match=r"1,200 pixels \(30x40\), more than the limit of 1,000.*DPINPAINT_MAX_PIXELS"
    ):
        read_image(big)
    with pytest.raises(InvalidInputError, match="more than the limit"):
        read_image(torch.zeros(2, 3, 25, 25))  # 2 images of 625 pixels
    with pytest.raises(InvalidInputError, match="more than the limit"):
        read_image(Image.new("RGB", (30, 40)))
    Image.new("RGB", (30, 40)).save(tmp_path / "big.png")
    with pytest.raises(ImageReadError, match="more than the limit"):  # checked from the header, before decoding
        read_image(tmp_path / "big.png")
    assert read_image(np.zeros((20, 50, 3), np.uint8)).size == (20, 50)  # 1000 pixels: allowed
    monkeypatch.setenv("DPINPAINT_MAX_PIXELS", "0")
    assert max_pixels() is None and read_image(big).size == (40, 30)
    monkeypatch.setenv("DPINPAINT_MAX_PIXELS", "lots")
    with pytest.raises(InvalidInputError, match="DPINPAINT_MAX_PIXELS='lots' must be a whole number"):
        read_image(big)


def test_sparse_and_meta_tensors_are_refused_clearly() -> None:
    dense = torch.rand(3, 8, 8)
    with pytest.raises(InvalidInputError, match=r"sparse_coo tensor; pass a dense one \(image.to_dense\(\)\)"):
        read_image(dense.to_sparse())
    with pytest.raises(InvalidInputError, match="a meta tensor holds no pixels"):
        read_image(torch.empty(3, 8, 8, device="meta"))


@pytest.mark.parametrize("ext", [".png", ".tif"])
@pytest.mark.parametrize("channels", [3, 4])
def test_sixteen_bit_colour_files_keep_their_16_bits(tmp_path: Path, ext: str, channels: int) -> None:
    import cv2

    from dpinpaint.image_io import save_image

    rng = np.random.default_rng(channels)
    deep = rng.integers(0, 65536, (20, 24, channels), dtype=np.uint16)
    path = tmp_path / f"deep{ext}"
    cv2.imwrite(str(path), deep[:, :, [2, 1, 0, 3][:channels]])
    data = read_image(path)
    out = data.to_output()
    assert isinstance(out, np.ndarray) and out.dtype == np.uint16
    np.testing.assert_array_equal(out, deep)  # Pillow alone would give deep >> 8
    assert data.to_output("pil").mode == ("RGB" if channels == 3 else "RGBA")  # asked for: 8 bits
    written = tmp_path / f"out{ext}"
    assert save_image(out, written) == []
    np.testing.assert_array_equal(read_image(written).to_output(), deep)
    notes = save_image(out, tmp_path / "out.jpg")
    assert any("16-bit image written with 8 bits" in n for n in notes)


def test_sixteen_bit_colour_follows_the_exif_orientation(tmp_path: Path) -> None:
    from dpinpaint.image_io.read import read_sixteen_bit_colour

    deep = np.random.default_rng(0).integers(0, 65536, (6, 10, 3), dtype=np.uint16)
    im = Image.fromarray((deep >> 8).astype(np.uint8))
    exif = im.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    path = tmp_path / "rotated.png"
    # A 16-bit PNG with an eXIf chunk: Pillow writes it for an 8-bit image; rebuild it around 16-bit pixels.
    import cv2

    ok, encoded = cv2.imencode(".png", deep[:, :, ::-1])
    assert ok
    png = encoded.tobytes()
    exif_bytes = exif.tobytes()
    import struct
    import zlib

    chunk = struct.pack(">I", len(exif_bytes)) + b"eXIf" + exif_bytes
    chunk += struct.pack(">I", zlib.crc32(b"eXIf" + exif_bytes) & 0xFFFFFFFF)
    path.write_bytes(png[:33] + chunk + png[33:])  # after the signature and IHDR
    got = read_sixteen_bit_colour(path)
    assert got is not None and got.shape == (10, 6, 3)
    np.testing.assert_array_equal(got, np.rot90(deep, -1))
    np.testing.assert_array_equal(read_image(path).to_output(), np.rot90(deep, -1))


def test_save_image_writes_webp_losslessly_when_asked(tmp_path: Path) -> None:
    from dpinpaint.image_io import save_image

    rgba = np.random.default_rng(5).integers(0, 256, (20, 24, 4), dtype=np.uint8)
    rgba[0, :, 3] = 0  # fully transparent: its colour is kept too
    assert save_image(Image.fromarray(rgba), tmp_path / "exact.webp", lossless=True) == []
    with Image.open(tmp_path / "exact.webp") as im:
        np.testing.assert_array_equal(np.asarray(im), rgba)
    assert any("lossy" in n for n in save_image(Image.fromarray(rgba), tmp_path / "lossy.webp"))
