"""The public Inpainter API: construction, save/load round trips, inpaint and inpaint_batch."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import dpinpaint
from dpinpaint import Inpainter, InpaintResult, list_models
from dpinpaint.errors import (
    CheckpointError,
    DPInpaintError,
    DPInpaintWarning,
    ImageReadError,
    InvalidInputError,
    ModelNotFoundError,
)
from dpinpaint.ops import poisson_blend
from dpinpaint.strategies import resolve_native_max_side


@pytest.fixture(scope="module")
def inp() -> Inpainter:
    return Inpainter.from_config("tiny", seed=1, w_avg_samples=512)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory, inp: Inpainter) -> Path:
    folder = tmp_path_factory.mktemp("ckpt")
    inp.save_pretrained(folder)
    return folder


def _image(h: int, w: int, c: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    shape = (h, w, c) if c > 1 else (h, w)
    return rng.integers(0, 256, shape, dtype=np.uint8)


def _mask(h: int, w: int, boxes: list[tuple[int, int, int, int]]) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for top, left, bh, bw in boxes:
        m[top : top + bh, left : left + bw] = 255
    return m


# -- construction -----------------------------------------------------------------------------
def test_from_config_is_seeded_and_leaves_the_global_rng_alone() -> None:
    state = torch.random.get_rng_state()
    a = Inpainter.from_config("tiny", seed=5, w_avg_samples=64)
    assert torch.equal(torch.random.get_rng_state(), state)
    b = Inpainter.from_config(dpinpaint.get_preset("tiny"), seed=5, w_avg_samples=64)
    c = Inpainter.from_config("tiny", seed=6, w_avg_samples=64)
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert sum(not torch.equal(sa[k], sc[k]) for k in sa) > len(sa) // 2
    assert a.model.stylegan.w_avg.abs().sum() > 0  # w_avg was computed
    assert not a.model.training and not any(p.requires_grad for p in a.model.parameters())
    assert "tiny" in repr(a) and "cpu" in repr(a)


def test_construction_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the refusal of a machine without CUDA
    with pytest.raises(InvalidInputError, match="ModelConfig or a preset name"):
        Inpainter.from_config(42)  # type: ignore[arg-type]
    with pytest.raises(DPInpaintError, match="unknown preset"):
        Inpainter.from_config("nope")
    with pytest.raises(InvalidInputError, match="CUDA is not available"):
        Inpainter.from_config("tiny", device="cuda", w_avg_samples=8)
    with pytest.raises(InvalidInputError, match="float32"):
        Inpainter.from_config("tiny", dtype="float16", w_avg_samples=8)
    with pytest.raises(InvalidInputError, match="DualPathNet"):
        Inpainter(torch.nn.Linear(2, 2))  # type: ignore[arg-type]


def test_list_models() -> None:
    models = list_models()
    assert [m.name for m in models] == ["demo", "ffhq-256", "church-256", "cat-256"]
    assert Inpainter.list_models() == models
    for m in models:
        line = str(m)
        assert "\n" not in line and m.name in line and m.location in line


# -- save / load ------------------------------------------------------------------------------
def test_local_round_trip_gives_bit_identical_outputs(inp: Inpainter, saved: Path) -> None:
    loaded = Inpainter.from_pretrained(saved)
    same = Inpainter.from_pretrained(str(saved))
    image, mask = _image(90, 130), _mask(90, 130, [(20, 30, 30, 40)])
    expected = inp.inpaint(image, mask)
    assert np.array_equal(loaded.inpaint(image, mask), expected)
    assert np.array_equal(same.inpaint(image, mask), expected)
    assert loaded.config == inp.config


def test_fp16_variant_round_trip(inp: Inpainter, tmp_path: Path) -> None:
    inp.save_pretrained(tmp_path, variant="fp16")
    loaded = Inpainter.from_pretrained(tmp_path, variant="fp16")
    for key, value in inp.model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[key], value.half().float()), key
    with pytest.raises(CheckpointError, match="variant"):
        Inpainter.from_pretrained(tmp_path)


def test_from_pretrained_errors(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a dpinpaint checkpoint"):
        Inpainter.from_pretrained(tmp_path)
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Inpainter.from_pretrained(tmp_path / "missing")
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        Inpainter.from_pretrained("./no/such/folder")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="is a file"):
        Inpainter.from_pretrained(tmp_path / "model.safetensors")
    with pytest.raises(ModelNotFoundError, match="neither a local checkpoint folder"):
        Inpainter.from_pretrained("not a model name")
    with pytest.raises(ModelNotFoundError, match="org/name@revision"):
        Inpainter.from_pretrained("org/name@")


# -- inpaint ----------------------------------------------------------------------------------
@pytest.mark.parametrize("blend", ["none", "poisson"])
def test_fill_is_the_network_output(inp: Inpainter, blend: str) -> None:
    """At the model's own size with "resize", the fill is exactly the network's output (Eq. 5's composite,
    or the fill Poisson-blended into the observed pixels), quantised."""
    image, mask = _image(64, 64), _mask(64, 64, [(10, 12, 20, 25)])
    result = inp.inpaint(image, mask, strategy="resize", blend=blend, return_details=True)
    hole = mask > 0
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 255.0
    known = torch.from_numpy(~hole).float()[None, None]
    with torch.no_grad():
        out = inp.model((x * 2 - 1) * known, known)
    filled = out.output[0] if blend == "none" else poisson_blend(out.fill[0], x[0] * 2 - 1, torch.from_numpy(hole))
    expected = torch.round(((filled + 1) / 2).clamp(0, 1) * 255).to(torch.uint8).permute(1, 2, 0).numpy()
    assert np.array_equal(result.image[hole], expected[hole])
    assert np.array_equal(result.image[~hole], image[~hole])
    assert result.strategy == ["resize"] and len(result.windows) == 1
    assert result.generated.shape == (1, 3, 64, 64) and result.inversion.shape == (1, 3, 64, 64)
    assert 0 <= result.generated.min() and result.generated.max() <= 1
    assert result.latent.shape == (1, inp.model.stylegan.n_latent, inp.model.stylegan.w_dim)
    assert torch.equal(result.mask, torch.from_numpy(hole))


@pytest.mark.parametrize("strategy", ["auto", "resize", "crop"])
def test_odd_size_keeps_size_and_unmasked_bits(inp: Inpainter, strategy: str) -> None:
    image = _image(427, 641)
    mask = _mask(427, 641, [(100, 200, 40, 50), (300, 500, 30, 100)])
    result = inp.inpaint(image, mask, strategy=strategy, return_details=True)
    out, hole = result.image, mask > 0
    assert out.shape == image.shape and out.dtype == image.dtype
    assert np.array_equal(out[~hole], image[~hole])
    assert (out[hole] != image[hole]).mean() > 0.5
    assert result.strategy == (["crop"] if strategy in ("auto", "crop") else ["resize"])
    assert len(result.windows) == (2 if result.strategy == ["crop"] else 1)


@pytest.mark.slow
def test_auto_resizes_when_the_holes_are_large(inp: Inpainter) -> None:
    image, mask = _image(300, 200), _mask(300, 200, [(20, 20, 250, 150)])
    assert inp.inpaint(image, mask, return_details=True).strategy == ["resize"]


@pytest.mark.slow
def test_types_round_trip(inp: Inpainter, tmp_path: Path) -> None:
    rgba = _image(70, 90, 4)
    mask = _mask(70, 90, [(10, 10, 20, 30)])
    hole = mask > 0
    pil = Image.fromarray(rgba, "RGBA")
    out = inp.inpaint(pil, Image.fromarray(mask))
    assert isinstance(out, Image.Image) and out.mode == "RGBA" and out.size == (90, 70)
    arr = np.asarray(out)
    assert np.array_equal(arr[~hole], rgba[~hole]) and np.array_equal(arr[..., 3], rgba[..., 3])
    path = tmp_path / "in.png"
    pil.save(path)
    from_path = inp.inpaint(path, mask)
    assert isinstance(from_path, Image.Image) and np.array_equal(np.asarray(from_path), arr)
    as_np = inp.inpaint(pil, mask, output_type="np")
    assert isinstance(as_np, np.ndarray) and np.array_equal(as_np, arr)
    as_pt = inp.inpaint(pil, mask, output_type="pt")
    assert as_pt.shape == (4, 70, 90) and torch.equal(
        as_pt, torch.from_numpy(arr.copy()).permute(2, 0, 1).float() / 255
    )
    gray = _image(70, 90, 1)
    g = inp.inpaint(gray, mask)
    assert g.shape == gray.shape and np.array_equal(g[~hole], gray[~hole])
    with pytest.raises(InvalidInputError, match="output_type"):
        inp.inpaint(pil, mask, output_type="jpeg")  # type: ignore[arg-type]


def test_a_grey_photo_stored_as_rgb_gets_a_grey_fill(inp: Inpainter) -> None:
    grey = _image(70, 90, 1, seed=3)
    rgb = np.repeat(grey[..., None], 3, axis=2)
    mask = _mask(70, 90, [(10, 10, 30, 40)])
    hole = mask > 0
    out = inp.inpaint(rgb, mask)
    assert np.array_equal(out[~hole], rgb[~hole])
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    # the same fill as the one-channel image gets: the luma of the generated colour
    assert np.array_equal(out[..., 0], inp.inpaint(grey, mask))
    # one coloured known pixel makes it a colour photo: the fill is the network's colour
    rgb[0, 0] = [255, 0, 0]
    coloured = inp.inpaint(rgb, mask)
    assert not np.array_equal(coloured[hole][:, 0], coloured[hole][:, 1])


def test_torch_batches(inp: Inpainter) -> None:
    x = torch.rand(3, 3, 50, 70, dtype=torch.float64)
    masks = torch.zeros(3, 1, 50, 70, dtype=torch.bool)
    masks[0, :, 5:20, 5:20] = True
    masks[1, :, 30:45, 40:60] = True
    # image 2 has no hole: it comes back unchanged (with a warning)
    with pytest.warns(DPInpaintWarning, match="empty"):
        result = inp.inpaint(x, masks, return_details=True)
    out = result.image
    assert out.shape == x.shape and out.dtype == torch.float64
    hole = masks[:, 0]
    keep = ~hole.unsqueeze(1).expand_as(x)
    assert torch.equal(out[keep], x[keep]) and not torch.equal(out, x)
    assert result.strategy == ["resize", "resize", "none"] and [b for b, _ in result.windows] == [0, 1]
    # Batched and single forwards agree to float rounding (StyleGAN2 folds weights only at B = 1).
    single = inp.inpaint(x[1], masks[1, 0])
    torch.testing.assert_close(single, out[1], rtol=0, atol=1e-5)
    shared = inp.inpaint(x, masks[0])  # one mask for the whole batch
    torch.testing.assert_close(shared[0], out[0], rtol=0, atol=1e-5)
    with pytest.raises(InvalidInputError, match="2 masks for a batch of 3"):
        inp.inpaint(x, masks[:2])


@pytest.mark.slow
def test_seed_varies_the_inversion_noise_only_when_asked() -> None:
    inp = Inpainter.from_config("tiny", seed=1, w_avg_samples=64)
    with torch.no_grad():  # StyleGAN2 initialises its noise strengths to 0: make the noise matter
        for name, p in inp.model.stylegan.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    image, mask = _image(64, 64), _mask(64, 64, [(8, 8, 40, 40)])
    base = inp.inpaint(image, mask)
    assert np.array_equal(inp.inpaint(image, mask), base)
    s1 = inp.inpaint(image, mask, seed=1)
    assert np.array_equal(inp.inpaint(image, mask, seed=1), s1)
    assert not np.array_equal(s1, base) and not np.array_equal(inp.inpaint(image, mask, seed=2), s1)
    state = torch.random.get_rng_state()
    inp.inpaint(image, mask, seed=3)
    assert torch.equal(torch.random.get_rng_state(), state)


@pytest.mark.slow
def test_mask_conventions(inp: Inpainter) -> None:
    image = _image(64, 64)
    mask = _mask(64, 64, [(8, 8, 20, 20)])
    base = inp.inpaint(image, mask)
    assert np.array_equal(inp.inpaint(image, mask > 0), base)
    assert np.array_equal(inp.inpaint(image, 255 - mask, invert_mask=True), base)
    assert np.array_equal(inp.inpaint(image, np.stack([mask] * 3, -1)), base)
    alpha = np.zeros((64, 64, 4), np.uint8)
    alpha[..., 3] = mask
    assert np.array_equal(inp.inpaint(image, alpha, mask_from_alpha=True), base)
    with pytest.warns(DPInpaintWarning, match="empty"):
        same = inp.inpaint(image, np.zeros((64, 64), np.uint8))
    assert np.array_equal(same, image) and same is not image
    with pytest.warns(DPInpaintWarning, match="covers 100.0%"):
        inp.inpaint(image, np.full((64, 64), 255, np.uint8))


def test_bad_inputs_raise_dpinpaint_errors(inp: Inpainter, tmp_path: Path) -> None:
    image, mask = _image(40, 50), _mask(40, 50, [(5, 5, 10, 10)])
    cases = [
        ((image, mask[:, :-1]), InvalidInputError, "differs from image size"),
        (([1, 2, 3], mask), InvalidInputError, "unsupported image type list"),
        ((image, None), InvalidInputError, "unsupported mask type NoneType"),
        ((torch.full((3, 40, 50), float("nan")), mask), InvalidInputError, "NaN"),
        ((image, np.full((40, 50), np.nan)), InvalidInputError, "NaN"),
        ((image.astype(np.float32), mask), InvalidInputError, "divide by 255"),
        ((tmp_path / "missing.png", mask), ImageReadError, "does not exist"),
        ((tmp_path, mask), ImageReadError, "is a folder"),
    ]
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    cases.append(((empty, mask), ImageReadError, "empty"))
    text = tmp_path / "text.png"
    text.write_text("not an image")
    cases.append(((text, mask), ImageReadError, "not an image"))
    good = tmp_path / "good.png"
    Image.fromarray(image).save(good)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    cases.append(((truncated, mask), ImageReadError, "truncated"))
    for (img, msk), error, message in cases:
        with pytest.raises(error, match=message):
            inp.inpaint(img, msk)
    with pytest.raises(InvalidInputError, match="strategy"):
        inp.inpaint(image, mask, strategy="tile")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="mask_threshold"):
        inp.inpaint(image, mask, mask_threshold=1.5)


def test_exif_rotated_jpeg_with_an_upright_mask(inp: Inpainter, tmp_path: Path) -> None:
    upright = _image(60, 40)  # H=60, W=40 after rotation
    stored = np.ascontiguousarray(np.rot90(upright, k=1))  # 40x60 as stored; orientation 6 turns it back
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "rotated.jpg"
    Image.fromarray(stored).save(path, quality=95, exif=exif)
    decoded = np.asarray(Image.open(path).transpose(Image.Transpose.ROTATE_270))
    mask = _mask(60, 40, [(10, 5, 20, 20)])
    out = np.asarray(inp.inpaint(path, mask))
    assert out.shape == (60, 40, 3)
    hole = mask > 0
    assert np.array_equal(out[~hole], decoded[~hole])
    with pytest.raises(InvalidInputError, match="EXIF orientation"):
        inp.inpaint(path, mask.T)


# -- inpaint_batch ----------------------------------------------------------------------------
@pytest.mark.slow
def test_inpaint_batch_matches_single_calls_and_batches(inp: Inpainter, monkeypatch: pytest.MonkeyPatch) -> None:
    images = [_image(64 + 10 * i, 80, seed=i) for i in range(5)]
    masks = [_mask(64 + 10 * i, 80, [(5, 5 + 3 * i, 20, 20)]) for i in range(5)]
    expected = [inp.inpaint(i, m) for i, m in zip(images, masks, strict=True)]
    calls: list[int] = []
    forward = inp.model.forward
    monkeypatch.setattr(
        inp.model, "forward", lambda image, known, **kw: calls.append(len(image)) or forward(image, known, **kw)
    )
    results = list(inp.inpaint_batch(images, masks, batch_size=2, progress=False))
    for a, b, m in zip(results, expected, masks, strict=True):  # equal up to uint8 rounding of float noise
        assert np.array_equal(a[m == 0], b[m == 0])
        assert np.abs(a.astype(int) - b).max() <= 1 and (a != b).mean() < 0.01
    assert sum(calls) == 5 and max(calls) == 2  # batch_size=2 windows per forward, one window per image
    shared = list(inp.inpaint_batch(iter([images[0]] * 2), masks[0], progress=False))
    assert np.array_equal(shared[0], shared[1]) and np.abs(shared[0].astype(int) - expected[0]).max() <= 1
    details = next(inp.inpaint_batch(images, masks, progress=False, return_details=True))
    assert isinstance(details, InpaintResult) and np.array_equal(details.image, expected[0])


def test_inpaint_batch_is_lazy_and_checks_mask_counts(inp: Inpainter) -> None:
    seen: list[int] = []

    def images():
        for i in range(100):
            seen.append(i)
            yield _image(64, 64, seed=i)

    gen = inp.inpaint_batch(images(), _mask(64, 64, [(1, 1, 9, 9)]), batch_size=2, progress=False)
    next(gen)
    assert len(seen) <= 3
    with pytest.raises(InvalidInputError, match="fewer masks than images"):
        list(inp.inpaint_batch([_image(64, 64)] * 2, [_mask(64, 64, [(1, 1, 5, 5)])], progress=False))
    with pytest.raises(InvalidInputError, match="more masks than images"):
        list(inp.inpaint_batch([_image(64, 64)], [_mask(64, 64, [(1, 1, 5, 5)])] * 2, progress=False))


def test_no_warning_for_a_normal_mask(inp: Inpainter) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        inp.inpaint(_image(64, 64), _mask(64, 64, [(8, 8, 16, 16)]))


def test_warnings_point_at_the_callers_line(inp: Inpainter) -> None:
    image, empty = _image(16, 16), np.zeros((16, 16), bool)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inp.inpaint(image, empty)
        list(inp.inpaint_batch([image], empty, progress=False))
    assert [Path(w.filename).name for w in caught] == ["test_inpainter.py"] * 2


def test_arguments_are_checked_even_when_there_is_nothing_to_fill(inp: Inpainter) -> None:
    image, empty = _image(16, 16), np.zeros((16, 16), bool)
    with pytest.raises(InvalidInputError, match="strategy"):
        inp.inpaint(image, empty, strategy="bogus")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="crop margin"):
        inp.inpaint(image, empty, crop_margin=float("nan"))


def test_batch_size_auto_and_explicit(inp: Inpainter) -> None:
    assert inp.batch_size == 1  # on the CPU, where larger batches are slower per image
    assert Inpainter(inp.model, batch_size=3).batch_size == 3
    for bad in (0, -1, 2.5, True, "8"):
        with pytest.raises(InvalidInputError, match="batch_size"):
            Inpainter(inp.model, batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="batch_size"):
        next(inp.inpaint_batch([_image(8, 8)], np.ones((8, 8), bool), batch_size=0, progress=False))


# -- native resolution (feed-forward-only models) ------------------------------------------------------
@pytest.fixture(scope="module")
def ff_inp() -> Inpainter:
    inp = Inpainter.from_config(dpinpaint.get_preset("tiny").replace(paths="feedforward"), seed=2)
    with torch.no_grad():  # the attention's scales start at 0; give them weight so the attention matters
        inp.model.generator.attention.gamma.fill_(0.5)
        inp.model.generator.attention.alpha.fill_(0.5)
    return inp


def test_auto_runs_a_feedforward_model_at_the_image_s_own_resolution(ff_inp: Inpainter) -> None:
    image, mask = _image(150, 230), _mask(150, 230, [(20, 30, 60, 150), (100, 10, 30, 30)])
    result = ff_inp.inpaint(image, mask, return_details=True, native_max_side=256)
    assert result.strategy == ["native"]
    assert result.generated.shape == (1, 3, 152, 232)  # padded to multiples of 64 / 8, not scaled
    out = np.asarray(result.image)
    assert out.shape == image.shape and np.array_equal(out[mask == 0], image[mask == 0])
    assert not np.array_equal(out[mask > 0], image[mask > 0])
    assert np.array_equal(out, np.asarray(ff_inp.inpaint(image, mask, strategy="native", native_max_side=256)))
    capped = ff_inp.inpaint(image, mask, return_details=True, native_max_side=128)  # at most 128 on the long side
    assert capped.strategy == ["native"] and capped.generated.shape == (1, 3, 88, 128)
    assert np.array_equal(np.asarray(capped.image)[mask == 0], image[mask == 0])
    default = ff_inp.inpaint(image, mask, return_details=True)  # NATIVE_SCALE * R on the long side
    assert max(default.generated.shape[-2:]) == resolve_native_max_side(ff_inp.resolution)
    with pytest.raises(InvalidInputError, match="native_max_side"):
        ff_inp.inpaint(image, mask, native_max_side=0)
    resized = ff_inp.inpaint(image, mask, strategy="resize", return_details=True)
    assert resized.strategy == ["resize"] and resized.generated.shape == (1, 3, 64, 64)


def test_thin_side_decides_which_strokes_run_at_full_resolution(ff_inp: Inpainter) -> None:
    image, mask = _image(150, 460, seed=6), _mask(150, 460, [(70, 0, 12, 460)])  # a 12-px stroke
    kwargs = {"return_details": True, "native_max_side": 128}
    between = ff_inp.inpaint(image, mask, thin_side=8, **kwargs)  # a scale of about 8/12
    full = ff_inp.inpaint(image, mask, thin_side=16, **kwargs)  # 12 px is thin: full resolution
    low = ff_inp.inpaint(image, mask, thin_side=0.5, **kwargs)  # nothing is thin: native_max_side
    widths = [int(r.generated.shape[-1]) for r in (low, between, full)]
    assert widths[0] == 128 and widths[0] < widths[1] < widths[2] and widths[2] >= 460
    for r in (low, between, full):
        assert np.array_equal(np.asarray(r.image)[mask == 0], image[mask == 0])
    with pytest.raises(InvalidInputError, match="thin_side"):
        ff_inp.inpaint(image, mask, thin_side=-1)


def test_native_is_refused_for_a_model_with_the_inversion_path(inp: Inpainter) -> None:
    with pytest.raises(InvalidInputError, match="feed-forward-only"):
        inp.inpaint(_image(80, 80), _mask(80, 80, [(10, 10, 20, 20)]), strategy="native")


@pytest.mark.slow
def test_native_crop_windows_and_batches_of_different_sizes(ff_inp: Inpainter) -> None:
    big, mask = _image(300, 400, seed=1), _mask(300, 400, [(20, 20, 10, 10), (200, 300, 90, 60)])
    result = ff_inp.inpaint(big, mask, strategy="crop", return_details=True, native_max_side=1000)
    assert result.strategy == ["crop"] and len(result.windows) == 2
    sizes = {tuple(t.shape[-2:]) for t in result.generated}
    assert len(sizes) == 2  # each window at its own resolution (a list: the sizes differ)
    assert np.array_equal(np.asarray(result.image)[mask == 0], big[mask == 0])
    images = [_image(70, 90, seed=3), big, _image(64, 64, seed=4)]
    masks = [_mask(70, 90, [(5, 5, 30, 30)]), mask, _mask(64, 64, [(0, 0, 64, 20)])]
    kwargs = {"strategy": "native", "native_max_side": 1000}
    batched = list(ff_inp.inpaint_batch(images, masks, batch_size=4, progress=False, **kwargs))
    for image, m, out in zip(images, masks, batched, strict=True):
        alone = np.asarray(ff_inp.inpaint(image, m, **kwargs))
        assert np.array_equal(np.asarray(out), alone)
        assert np.array_equal(np.asarray(out)[m == 0], image[m == 0])


def test_thin_damage_on_a_large_image_is_filled_at_full_resolution_in_tiles(ff_inp: Inpainter) -> None:
    from dpinpaint.strategies import TILE_CONTEXT, TILE_SCALE

    image, mask = _image(600, 2400, seed=5), _mask(600, 2400, [(300, 0, 2, 2400)])  # a 2-px scratch
    result = ff_inp.inpaint(image, mask, return_details=True)
    assert result.strategy == ["native"] and len(result.windows) == 10  # 2400 / 256: one row of tiles
    side = (TILE_SCALE + 2 * TILE_CONTEXT) * ff_inp.resolution
    assert all(max(t.shape[-2:]) <= side for t in result.generated)  # bounded inputs, at full resolution
    assert all(window.scale == 1.0 for _, window in result.windows)
    out = np.asarray(result.image)
    assert np.array_equal(out[mask == 0], image[mask == 0])
    assert not np.array_equal(out[mask > 0], image[mask > 0])
    thick = _mask(600, 2400, [(100, 100, 400, 2000)])  # thick holes: one window at the default side
    default = ff_inp.inpaint(image, thick, return_details=True)
    assert len(default.windows) == 1 and default.generated.shape[-1] == resolve_native_max_side(ff_inp.resolution)
