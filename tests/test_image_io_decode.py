"""Tests of dpinpaint.image_io.decode: the source facts a result's writing needs (lossless WebP)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpinpaint.image_io import ImageData, is_lossless_webp, read_image, save_image
from dpinpaint.image_io.decode import WEBP_LOSSLESS_KEY


def _rgb(seed: int = 0, alpha: bool = False) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (24, 32, 4 if alpha else 3), dtype=np.uint8)


@pytest.mark.parametrize("alpha", [False, True])  # RGBA WebPs have a VP8X chunk (and ALPH if lossy) first
def test_is_lossless_webp_tells_the_two_kinds_apart(tmp_path: Path, alpha: bool) -> None:
    Image.fromarray(_rgb(alpha=alpha)).save(tmp_path / "lossless.webp", lossless=True)
    Image.fromarray(_rgb(alpha=alpha)).save(tmp_path / "lossy.webp", quality=80)
    Image.fromarray(_rgb(alpha=alpha)).save(tmp_path / "photo.png")
    assert is_lossless_webp(tmp_path / "lossless.webp") is True
    assert is_lossless_webp(str(tmp_path / "lossy.webp")) is False
    assert is_lossless_webp(tmp_path / "photo.png") is False
    frames = [Image.fromarray(_rgb(seed, alpha=alpha)) for seed in range(3)]
    for lossless in (True, False):  # an animation: its first frame tells
        path = tmp_path / f"anim-{lossless}.webp"
        frames[0].save(path, save_all=True, append_images=frames[1:], lossless=lossless, quality=80)
        assert b"ANMF" in path.read_bytes()[:200] and is_lossless_webp(path) is lossless


def test_is_lossless_webp_on_short_files_and_file_objects(tmp_path: Path) -> None:
    Image.fromarray(_rgb()).save(tmp_path / "a.webp", lossless=True)
    whole = (tmp_path / "a.webp").read_bytes()
    for cut in (
        0,
        4,
        12,
        16,
        19,
        20,
    ):  # nothing, part of the RIFF header, the header, part of the first chunk header, all of it
        (tmp_path / "cut.webp").write_bytes(whole[:cut])
        assert is_lossless_webp(tmp_path / "cut.webp") is (cut >= 20)
    fh = io.BytesIO(whole)
    fh.seek(7)
    assert is_lossless_webp(fh) is True and fh.tell() == 7  # read from the start, left where it was

    class Stream(io.RawIOBase):  # a pipe: cannot seek
        def readable(self) -> bool:
            return True

    assert is_lossless_webp(Stream()) is False


def test_a_lossless_webp_result_is_written_losslessly(tmp_path: Path) -> None:
    pixels = _rgb(1, alpha=True)
    Image.fromarray(pixels).save(tmp_path / "in.webp", lossless=True, exact=True)
    data = read_image(tmp_path / "in.webp")
    assert isinstance(data, ImageData) and data.pil_info.get(WEBP_LOSSLESS_KEY) is True
    image = data.to_output()
    assert isinstance(image, Image.Image) and image.info.get(WEBP_LOSSLESS_KEY) is True
    assert save_image(image, tmp_path / "out.webp") == []  # no "re-encoded (lossy)" note
    assert is_lossless_webp(tmp_path / "out.webp")
    with Image.open(tmp_path / "out.webp") as back:
        np.testing.assert_array_equal(np.asarray(back), pixels)
    # A quality asked for means a lossy file at that quality.
    notes = save_image(image, tmp_path / "q.webp", quality=60)
    assert not is_lossless_webp(tmp_path / "q.webp") and "at quality 60" in notes[0]
    # Asked for, a lossy WebP still is; a lossy source stays lossy.
    notes = save_image(image, tmp_path / "small.webp", lossless=False, png_hint="use --format png")
    assert not is_lossless_webp(tmp_path / "small.webp")
    assert len(notes) == 1 and "(lossy)" in notes[0] and "use --format png to keep them" in notes[0]
    Image.fromarray(pixels).save(tmp_path / "lossy.webp", quality=90)
    lossy = read_image(tmp_path / "lossy.webp")
    assert WEBP_LOSSLESS_KEY not in lossy.pil_info
    assert "save it as PNG to keep them" in save_image(lossy.to_output(), tmp_path / "o.webp")[0]


def test_a_lossless_webp_read_from_a_pipe_is_still_known_as_lossless(tmp_path: Path) -> None:
    from dpinpaint.image_io import decode_image

    Image.fromarray(_rgb(3)).save(tmp_path / "a.webp", lossless=True)

    class Pipe(io.RawIOBase):  # a stream that cannot seek, like a pipe
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
            return self._data.readinto(buffer)

    image, _ = decode_image(Pipe((tmp_path / "a.webp").read_bytes()), "a pipe")
    assert image.info.get(WEBP_LOSSLESS_KEY) is True and image.size == (32, 24)


def test_the_names_that_moved_are_importable_where_they_were() -> None:
    import dpinpaint.hub as hub
    import dpinpaint.image_io.read as read
    from dpinpaint import hub_network
    from dpinpaint.image_io import decode

    for name in ("DEFAULT_MAX_PIXELS", "MAX_PIXELS_ENV", "JPEG_TABLES_KEY", "WEBP_LOSSLESS_KEY", "check_pixels",
                 "max_pixels", "decode_image", "open_image_file", "read_sixteen_bit_colour"):  # fmt: skip
        assert getattr(read, name) is getattr(decode, name)
    for name in ("DEADLINE_VARIABLE", "DEFAULT_DEADLINE", "call_with_deadline", "endpoint_reachable", "hub_deadline"):
        assert getattr(hub, name) is getattr(hub_network, name)
