"""Writing images: :func:`save_image` (atomic, verified, keeping EXIF/ICC/DPI where the format can)."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..errors import InvalidInputError
from ..files import atomic_write
from .decode import JPEG_TABLES_KEY, WEBP_LOSSLESS_KEY

__all__ = ["save_image"]


def save_image(
    image: Image.Image | np.ndarray,
    path: Path,
    *,
    source: Image.Image | None = None,
    quality: int | None = None,
    lossless: bool | None = None,
    png_hint: str = "save it as PNG",
) -> list[str]:
    """Write ``image`` atomically in the format of ``path``'s extension; returns notes (e.g. alpha dropped).

    EXIF (with the orientation already applied, so without an orientation tag) and the ICC
    profile of the input are kept when the format stores them. ``image`` may also be an
    ``(H, W, 3|4)`` uint16 array (what a 16-bit colour PNG or TIFF is read as): PNG and TIFF
    keep its 16 bits, other formats get 8 (with a note).

    ``quality`` (1-100) of JPEG and WebP outputs; None: for a JPEG from a JPEG file, that file's own
    quantisation tables and chroma subsampling (re-encoding then changes about 1% of the observed
    values by a level or two, instead of about 40% at quality 95), else 95. ``lossless``: whether a
    WebP output is written losslessly (every pixel as given; ``quality`` is then the compression
    effort); None: when the image was decoded from a lossless WebP file and no ``quality`` is given (what
    :func:`~dpinpaint.image_io.read_image` and the inpainting results of a path keep in ``info``).
    ``png_hint``: how the notes tell the caller's user to get a PNG instead (the CLI says
    ``use --format png``).
    """
    notes: list[str] = []
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"cannot write {path.suffix!r} files; use --format png, jpg or webp")
    if isinstance(image, np.ndarray):
        if image.dtype == np.uint16 and image.ndim == 3 and image.shape[2] in (3, 4) and fmt in ("PNG", "TIFF"):
            _save_sixteen_bit_colour(image, path, fmt)
            return notes
        if image.dtype == np.uint16:
            notes.append(f"16-bit image written with 8 bits: {fmt} has no 16-bit colour ({png_hint} to keep it)")
            image = np.clip(np.round(image.astype(np.float64) / 257.0), 0, 255).astype(np.uint8)
        if image.dtype != np.uint8 or image.ndim not in (2, 3):
            raise InvalidInputError(
                f"save_image writes PIL images and uint8/uint16 arrays, not {image.dtype} {image.shape}"
            )
        image = Image.fromarray(image)
    info = dict(image.info)
    if lossless is None:  # a quality asked for means a lossy file at that quality
        lossless = bool(info.get(WEBP_LOSSLESS_KEY)) and quality is None
    if fmt in ("JPEG", "WEBP") and image.mode in ("I;16", "I"):
        # Image.convert("L") clips 16-bit values at 255 (a near-white image): scale to 8 bits instead.
        notes.append(f"16-bit image written with 8 bits: {fmt} has no 16-bit mode ({png_hint} to keep it)")
        image = Image.fromarray(_to_8bit(image), mode="L")
    if fmt == "JPEG" and image.mode not in ("L", "RGB", "CMYK"):
        if image.mode in ("RGBA", "LA", "PA"):
            notes.append(f"alpha dropped: JPEG has no alpha channel ({png_hint} to keep it)")
        image = image.convert("L" if image.mode in ("LA", "1") else "RGB")
    if fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.mode in ("LA", "PA") else "RGB")
    kwargs: dict[str, Any] = {}
    icc = info.get("icc_profile")
    if icc and _icc_fits(icc, image.mode):
        kwargs["icc_profile"] = icc
    if info.get("dpi") and fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        kwargs["dpi"] = info["dpi"]
    exif = info.get("exif")
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    tables = info.get(JPEG_TABLES_KEY)
    if fmt == "JPEG" and quality is None and tables is not None and tables[0]:
        kwargs["qtables"], kwargs["subsampling"] = tables
        how = "with the source's quantisation tables"
    elif fmt == "WEBP" and lossless:
        # ``exact``: the colour under fully transparent pixels is kept too
        kwargs.update(lossless=True, exact=True, quality=100 if quality is None else quality)
    elif fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = 95 if quality is None else quality
        if fmt == "JPEG":
            kwargs["subsampling"] = 0 if kwargs["quality"] >= 90 else -1
        how = f"at quality {kwargs['quality']}"
    if fmt == "JPEG" or (fmt == "WEBP" and not lossless):
        notes.append(
            f"re-encoded as {fmt} (lossy) {how}: pixels outside the mask are close to the input's, not "
            f"identical; {png_hint} to keep them bit for bit"
        )
    atomic_write(
        path, lambda tmp: image.save(tmp, format=fmt, **kwargs), verify=lambda tmp: _check_image(tmp, fmt, image)
    )
    return notes


#: The bytes a whole file of these formats ends with (JPEG's EOI marker, PNG's IEND chunk).
_TRAILERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def _check_image(path: str, fmt: str, written: Image.Image) -> None:
    """Check that the file just written is whole: a full disk that the encoder did not report raises.

    JPEG and PNG files must end with their end marker and a WebP file must be as long as its RIFF
    header says (cheap: no decoding on the hot path); other formats are decoded.
    """
    if fmt in _TRAILERS or fmt == "WEBP":
        with open(path, "rb") as fh:
            head = fh.read(12)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 16))
            tail = fh.read()
        if fmt in _TRAILERS:
            whole = tail.endswith(_TRAILERS[fmt])
        else:
            whole = head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size
        if not whole:
            raise OSError(errno.EIO, f"the written {fmt} file is incomplete ({size} bytes); is the disk full?")
        return
    try:
        with Image.open(path) as im:
            im.load()
            decoded = im.size
    except Exception as exc:
        raise OSError(
            errno.EIO, f"the written file does not decode ({type(exc).__name__}: {exc}); is the disk full?"
        ) from exc
    if decoded != written.size:
        raise OSError(
            errno.EIO,
            f"the written file holds {decoded[0]}x{decoded[1]} pixels, not {written.size[0]}x{written.size[1]}",
        )


def _to_8bit(image: Image.Image) -> Any:
    arr = np.asarray(image).astype(np.float64)
    return np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)


# The colour space signature of an ICC profile (header bytes 16..20) that fits each PIL mode.
_ICC_SPACES = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY", "CMYK": b"CMYK"}


def _icc_fits(icc: bytes, mode: str) -> bool:
    """Whether an ICC profile describes ``mode``'s colours (a CMYK profile on an RGB image does not)."""
    wanted = _ICC_SPACES.get(mode)
    return wanted is None or len(icc) < 20 or icc[16:20] == wanted


def _save_sixteen_bit_colour(image: np.ndarray, path: Path, fmt: str) -> None:
    """Write an ``(H, W, 3|4)`` uint16 array as a 16-bit PNG or TIFF (OpenCV's encoders keep the bits)."""
    import cv2

    bgr = image[:, :, [2, 1, 0, 3][: image.shape[2]]]
    ok, encoded = cv2.imencode(".png" if fmt == "PNG" else ".tiff", np.ascontiguousarray(bgr))
    if not ok:
        raise OSError(errno.EIO, f"could not encode {path.name} as a 16-bit {fmt}")
    data = encoded.tobytes()

    def write(tmp: str) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)

    atomic_write(path, write, verify=lambda tmp: _check_size(tmp, len(data)))


def _check_size(path: str, expected: int) -> None:
    size = os.path.getsize(path)
    if size != expected:
        raise OSError(errno.EIO, f"the written file holds {size} of {expected} bytes; is the disk full?")
