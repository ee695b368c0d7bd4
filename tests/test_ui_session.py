"""What the web page does, without a browser: settings, model menu, photos, masks and one request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from dpinpaint import Inpainter
from dpinpaint.config import get_preset
from dpinpaint.errors import ImageReadError, InvalidInputError
from dpinpaint.options import InpaintOptions
from dpinpaint.ui.config import UIConfig
from dpinpaint.ui.session import (
    ModelCatalog,
    ModelChoice,
    combine_masks,
    inpaint_photo,
    mask_from_layers,
    open_photo,
    options_from_form,
)


@pytest.fixture(scope="module")
def feedforward() -> Inpainter:
    return Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=3)


@pytest.fixture(scope="module")
def dual() -> Inpainter:
    return Inpainter.from_config("tiny", seed=3, w_avg_samples=64)


def _photo(path: Path, h: int = 40, w: int = 56, seed: int = 0, **save: Any) -> np.ndarray:
    pixels = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, **save)
    return pixels


def _stroke(h: int = 40, w: int = 56) -> np.ndarray:
    hole = np.zeros((h, w), dtype=bool)
    hole[10:16, 5:40] = True
    return hole


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("port", 70000, "port must be in 1..65535"),
        ("max_upload_mb", 0, "max_upload_mb must be > 0"),
        ("max_pixels", -1, "max_pixels must be a whole number > 0"),
        ("host", "", "host must be an address"),
    ],
)
def test_config_refuses_bad_values(field: str, value: Any, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        UIConfig(**{field: value})


def test_config_is_safe_by_default() -> None:
    config = UIConfig()
    assert config.host == "127.0.0.1" and config.share is False


def test_catalog_offers_named_then_bundled_then_cached_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (snapshot / "model.safetensors").write_bytes(b"x")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    catalog = ModelCatalog.discover(UIConfig(models=("my/model", "demo")))
    assert catalog.labels == ["my/model", "demo", "org/tiny@aaaaaaaaaaaa (cached)"]
    cached = catalog.choice("org/tiny@aaaaaaaaaaaa (cached)")
    assert cached.source == "org/tiny@" + "a" * 40 and cached.local_files_only
    assert ModelCatalog.discover(UIConfig(include_cached=False)).labels == ["demo"]


def test_catalog_loads_only_what_is_in_its_menu_and_keeps_one_model(tmp_path: Path) -> None:
    loads: list[str] = []

    def loader(choice: ModelChoice, device: str, dtype: str) -> str:
        loads.append(choice.source)
        return f"model of {choice.source} on {device}"

    catalog = ModelCatalog([ModelChoice("a", "org/a"), ModelChoice("b", str(tmp_path))], device="cpu", loader=loader)
    assert catalog.load("a") == "model of org/a on cpu"
    assert catalog.load("a") == "model of org/a on cpu" and loads == ["org/a"]  # cached
    catalog.load("b")
    catalog.load("a")  # the previous model was dropped: loaded again
    assert loads == ["org/a", str(tmp_path), "org/a"]
    for hostile in ("/etc", str(tmp_path), "org/a", "../a"):
        with pytest.raises(InvalidInputError, match="is not in this page's menu"):
            catalog.load(hostile)
    with pytest.raises(InvalidInputError, match="labels must differ"):
        ModelCatalog([ModelChoice("a", "x"), ModelChoice("a", "y")])
    with pytest.raises(InvalidInputError, match="menu is empty"):
        ModelCatalog([])


def test_open_photo_shows_it_upright(tmp_path: Path) -> None:
    pixels = _photo(tmp_path / "plain.png")
    photo = open_photo(tmp_path / "plain.png")
    assert photo.format == "PNG" and photo.size == (40, 56) and photo.name == "plain.png"
    np.testing.assert_array_equal(photo.display, pixels)

    im = Image.fromarray(pixels)
    exif = im.getexif()
    exif[0x0112] = 6  # stored sideways: shown rotated 90 degrees clockwise
    im.save(tmp_path / "sideways.jpg", exif=exif, quality=95)
    rotated = open_photo(tmp_path / "sideways.jpg", name="phone.jpg")
    assert rotated.size == (56, 40) and rotated.format == "JPEG" and rotated.name == "phone.jpg"


def test_open_photo_refuses_non_images_and_huge_photos(tmp_path: Path) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageReadError, match=r"notes\.png is not an image this page can read"):
        open_photo(tmp_path / "notes.png")
    _photo(tmp_path / "big.png", h=30, w=40)
    with pytest.raises(InvalidInputError, match=r"1,200 pixels \(40x30\), more than this page's limit of 1,000"):
        open_photo(tmp_path / "big.png", max_pixels=1000)


def test_painted_layers_become_the_holes() -> None:
    layer = np.zeros((8, 10, 4), dtype=np.uint8)
    layer[2:4, 3:7] = (255, 0, 255, 176)  # painted
    layer[5, 5] = (255, 0, 255, 0)  # erased: transparent again
    hole = mask_from_layers([layer, None], (8, 10))
    assert hole.sum() == 8 and hole[2:4, 3:7].all()
    small = np.zeros((4, 5, 4), dtype=np.uint8)
    small[0, 0, 3] = 255  # a canvas at half size: scaled up to the photo
    assert mask_from_layers([small], (8, 10))[:2, :2].all()
    with pytest.raises(InvalidInputError, match="must be RGBA"):
        mask_from_layers([np.zeros((8, 10))], (8, 10))


def test_an_uploaded_mask_adds_to_the_painted_holes(tmp_path: Path) -> None:
    painted = np.zeros((8, 10), dtype=bool)
    painted[0, 0] = True
    file = np.zeros((8, 10), dtype=np.uint8)
    file[7, 9] = 255
    Image.fromarray(file).save(tmp_path / "mask.png")
    hole = combine_masks(painted, tmp_path / "mask.png", (8, 10))
    assert hole.sum() == 2 and hole[0, 0] and hole[7, 9]
    assert not painted[7, 9]  # the painted mask is not modified
    with pytest.raises(InvalidInputError, match="the mask is 10x8 but the photo is 11x8"):
        combine_masks(None, tmp_path / "mask.png", (8, 11))
    with pytest.raises(InvalidInputError, match="nothing to fill"):
        combine_masks(np.zeros((8, 10), dtype=bool), None, (8, 10))


def test_a_run_keeps_every_pixel_outside_the_holes_and_the_format(feedforward: Inpainter, tmp_path: Path) -> None:
    pixels = _photo(tmp_path / "photo.png")
    hole = _stroke()
    steps: list[tuple[int, int]] = []
    result = inpaint_photo(
        feedforward,
        open_photo(tmp_path / "photo.png"),
        hole,
        InpaintOptions(),
        tmp_path,
        progress=lambda d, t: steps.append((d, t)),
    )
    assert result.download.name == "photo-inpainted.png" and result.download.parent.parent == tmp_path
    out = np.asarray(Image.open(result.download))
    assert out.shape == pixels.shape
    np.testing.assert_array_equal(out[~hole], pixels[~hole])
    assert (out[hole] != pixels[hole]).any()
    np.testing.assert_array_equal(result.after, out)
    np.testing.assert_array_equal(result.before, pixels)
    np.testing.assert_array_equal(np.asarray(Image.open(result.mask)) > 0, hole)
    assert steps[-1][0] == steps[-1][1] >= 1 and result.figure is None and result.notes == []
    again = inpaint_photo(feedforward, open_photo(tmp_path / "photo.png"), hole, InpaintOptions(), tmp_path)
    assert again.download != result.download  # every run has its own folder: nothing is overwritten
    np.testing.assert_array_equal(np.asarray(Image.open(again.download)), out)


def test_a_jpeg_comes_back_as_a_jpeg_with_a_note(feedforward: Inpainter, tmp_path: Path) -> None:
    _photo(tmp_path / "photo.jpg", quality=90)
    result = inpaint_photo(feedforward, open_photo(tmp_path / "photo.jpg"), _stroke(), InpaintOptions(), tmp_path)
    with Image.open(result.download) as im:
        assert im.format == "JPEG" and im.size == (56, 40)
    assert any("lossy" in note and "open a PNG copy of the photo" in note for note in result.notes)
    assert not any("--format" in note for note in result.notes)  # a flag of the CLI, not of the page


def test_sixteen_bit_colour_stays_sixteen_bit(feedforward: Inpainter, tmp_path: Path) -> None:
    deep = np.random.default_rng(1).integers(0, 65536, (40, 56, 3), dtype=np.uint16)
    import cv2  # writes 16-bit colour PNGs (Pillow cannot)

    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    hole = _stroke()
    result = inpaint_photo(feedforward, open_photo(tmp_path / "deep.png"), hole, InpaintOptions(), tmp_path)
    out = cv2.imread(str(result.download), cv2.IMREAD_UNCHANGED)[..., ::-1]
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[~hole], deep[~hole])


def test_dual_path_models_get_the_explain_figure_and_their_inversion_settings(dual: Inpainter, tmp_path: Path) -> None:
    _photo(tmp_path / "photo.png")
    options = options_from_form({"strategy": "resize", "inversion": "optimize", "steps": 3.0}, uses_inversion=True)
    assert options.strategy == "resize" and options.inversion.method == "optimize" and options.inversion.steps == 3
    result = inpaint_photo(dual, open_photo(tmp_path / "photo.png"), _stroke(), options, tmp_path, explain=True)
    assert result.figure is not None and result.figure.width > result.figure.height
    assert options_from_form({"strategy": "crop", "inversion": "optimize", "steps": 3}, False).inversion.steps == 1000
    for steps in (2.5, None, True, -1):
        with pytest.raises(InvalidInputError, match="steps"):
            options_from_form({"inversion": "optimize", "steps": steps}, uses_inversion=True)
    with pytest.raises(InvalidInputError, match="strategy must be one of"):
        options_from_form({"strategy": "best"}, uses_inversion=False)


def test_the_form_sets_the_blend_default_poisson() -> None:
    assert options_from_form({}, uses_inversion=False).blend == "poisson"
    assert options_from_form({"blend": ""}, uses_inversion=False).blend == "poisson"
    assert options_from_form({"strategy": "crop", "blend": "none"}, uses_inversion=False).blend == "none"
    with pytest.raises(InvalidInputError, match="blend"):
        options_from_form({"blend": "alpha"}, uses_inversion=False)


# -- hostile and careless uploads ----------------------------------------------------------------


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims ``width`` x ``height`` pixels and holds almost nothing (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_huge_headers_and_broken_files_get_a_message_naming_the_upload(tmp_path: Path) -> None:
    (tmp_path / "upload.png").write_bytes(_png_header(100_000, 100_000))
    with pytest.raises(InvalidInputError, match=r"holiday\.png is far too large .* up to 1,000 pixels"):
        open_photo(tmp_path / "upload.png", max_pixels=1000, name="holiday.png")
    _photo(tmp_path / "whole.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "whole.png").read_bytes()[:200])
    with pytest.raises(ImageReadError, match=r"holiday\.png: image file is truncated") as cut:
        open_photo(tmp_path / "cut.png", name="holiday.png")
    assert str(tmp_path) not in str(cut.value)  # the server's copy of the upload is not shown


def test_a_mask_of_another_size_is_refused_before_it_is_decoded(tmp_path: Path) -> None:
    # 144 megapixels of black compress to 140 kB: over the library's limit, refused from the header.
    Image.new("L", (12000, 12000)).save(tmp_path / "bomb.png")
    with pytest.raises(InvalidInputError, match="the mask is 12000x12000 but the photo is 10x8"):
        combine_masks(None, tmp_path / "bomb.png", (8, 10))
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageReadError, match=r"notes\.png is not an image") as refused:
        combine_masks(None, tmp_path / "notes.png", (8, 10))
    assert str(tmp_path) not in str(refused.value)
    upright = Image.new("L", (8, 10), 255)  # stored 8x10, turned upright to 10x8 by its EXIF orientation
    exif = upright.getexif()
    exif[0x0112] = 6
    upright.save(tmp_path / "turned.png", exif=exif)
    assert combine_masks(None, tmp_path / "turned.png", (8, 10)).all()


def test_layers_that_are_not_numbers_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="must hold numbers"):
        mask_from_layers([np.full((8, 10, 4), "a", dtype=object)], (8, 10))


def test_steps_are_bounded_by_the_slider() -> None:
    from dpinpaint.ui.session import MAX_STEPS

    assert options_from_form({"inversion": "optimize", "steps": MAX_STEPS}, True).inversion.steps == MAX_STEPS
    for steps in (MAX_STEPS + 10, 10**9, 1e300, float("nan"), float("inf")):
        with pytest.raises(InvalidInputError, match=f"steps must be a whole number in 0..{MAX_STEPS}"):
            options_from_form({"inversion": "optimize", "steps": steps}, uses_inversion=True)


def test_the_download_is_in_the_format_of_the_content_not_of_the_name(feedforward: Inpainter, tmp_path: Path) -> None:
    pixels = _photo(tmp_path / "upload", format="PNG")
    hole = _stroke()
    for name in ("holiday.jpg", "holiday", "x" * 300 + ".png", "../../etc/passwd.png", "..png"):
        result = inpaint_photo(
            feedforward, open_photo(tmp_path / "upload", name=name), hole, InpaintOptions(), tmp_path
        )
        assert result.download.parent.parent == tmp_path and result.download.suffix == ".png", name
        assert len(result.download.name.encode()) < 200, name
        with Image.open(result.download) as im:
            assert im.format == "PNG"
            np.testing.assert_array_equal(np.asarray(im)[~hole], pixels[~hole])
    assert (
        "holiday.jpg holds a PNG image: the result is a PNG file"
        in inpaint_photo(
            feedforward, open_photo(tmp_path / "upload", name="holiday.jpg"), hole, InpaintOptions(), tmp_path
        ).notes
    )


def test_gifs_and_multi_page_files_lose_no_pixel_silently(feedforward: Inpainter, tmp_path: Path) -> None:
    frames = [Image.fromarray(_photo(tmp_path / f"{i}.png", seed=i)).convert("P") for i in range(3)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    hole = _stroke()
    result = inpaint_photo(feedforward, open_photo(tmp_path / "anim.gif"), hole, InpaintOptions(), tmp_path)
    with Image.open(result.download) as out:
        assert out.format == "PNG" and result.download.name == "anim-inpainted.png"
        np.testing.assert_array_equal(
            np.asarray(out.convert("RGB"))[~hole], np.asarray(frames[0].convert("RGB"))[~hole]
        )
    assert any("256 colours" in n for n in result.notes) and any("3 frames or pages" in n for n in result.notes)
    page = Image.fromarray(_photo(tmp_path / "page.png"))
    page.save(tmp_path / "scan.tif", save_all=True, append_images=[page, page])
    result = inpaint_photo(feedforward, open_photo(tmp_path / "scan.tif"), hole, InpaintOptions(), tmp_path)
    assert result.download.name == "scan-inpainted.tif" and any("3 frames or pages" in n for n in result.notes)


def test_lossless_webp_stays_lossless_and_colour_conversions_are_said(feedforward: Inpainter, tmp_path: Path) -> None:
    hole = _stroke()
    rgba = np.random.default_rng(2).integers(0, 256, (40, 56, 4), dtype=np.uint8)
    Image.fromarray(rgba).save(tmp_path / "sticker.webp", lossless=True)
    with Image.open(tmp_path / "sticker.webp") as im:
        rgba = np.asarray(im)  # the colour under transparent pixels is the encoder's
    result = inpaint_photo(feedforward, open_photo(tmp_path / "sticker.webp"), hole, InpaintOptions(), tmp_path)
    with Image.open(result.download) as out:
        assert out.format == "WEBP" and out.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(out)[~hole], rgba[~hole])
    assert result.notes == []
    Image.fromarray(_photo(tmp_path / "print.png")).convert("CMYK").save(tmp_path / "print.tif")
    result = inpaint_photo(feedforward, open_photo(tmp_path / "print.tif"), hole, InpaintOptions(), tmp_path)
    assert "the photo's CMYK colours are converted: the download is an RGB image" in result.notes
    Image.fromarray(np.zeros((8, 10), dtype=np.float32)).save(tmp_path / "depth.tif")
    with pytest.raises(InvalidInputError, match=r"^scan\.tif: PIL mode 'F' is not supported"):
        open_photo(tmp_path / "depth.tif", name="scan.tif")  # the upload's name, not the server's path


def test_a_stroke_on_a_sideways_photo_is_filled_where_it_was_painted(feedforward: Inpainter, tmp_path: Path) -> None:
    stored = np.random.default_rng(4).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    im = Image.fromarray(stored)
    exif = im.getexif()
    exif[0x0112] = 6  # shown turned 90 degrees clockwise: 40 wide, 56 high
    im.save(tmp_path / "phone.png", exif=exif)
    photo = open_photo(tmp_path / "phone.png")
    np.testing.assert_array_equal(photo.display, np.rot90(stored, -1))
    hole = np.zeros(photo.size, dtype=bool)
    hole[2:8, 3:30] = True  # painted over the upright photo, near its top
    result = inpaint_photo(feedforward, photo, hole, InpaintOptions(), tmp_path)
    with Image.open(result.download) as out:
        assert out.getexif().get(0x0112) is None  # written upright, so no viewer turns it again
        upright = np.asarray(out)
    np.testing.assert_array_equal(upright[~hole], photo.display[~hole])
    assert (upright[hole] != photo.display[hole]).any()
