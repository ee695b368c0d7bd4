"""Decoding image files: the pixel limit, EXIF orientation, 16-bit colour, and the facts about the
source file that writing a result needs.

:func:`open_image_file` and :func:`decode_image` decode a whole file (with its EXIF orientation
applied) after checking its size against :func:`max_pixels` from the header alone.
:func:`read_sixteen_bit_colour` keeps the 16 bits of an RGB(A) PNG or TIFF that Pillow would
read with 8. Two ``info`` keys carry what :func:`~dpinpaint.image_io.write.save_image` needs to
write a result as close to its source as the format allows: :data:`JPEG_TABLES_KEY` and
:data:`WEBP_LOSSLESS_KEY`.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import IO, Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..errors import ImageReadError, InvalidInputError

__all__ = [
    "open_image_file",
    "decode_image",
    "read_sixteen_bit_colour",
    "is_lossless_webp",
    "check_pixels",
    "max_pixels",
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "JPEG_TABLES_KEY",
    "WEBP_LOSSLESS_KEY",
]

#: The most pixels (images x height x width) one input may have unless ``DPINPAINT_MAX_PIXELS``
#: says otherwise (0: no limit). Inpainting needs about 16 bytes per pixel at its peak, so 64
#: megapixels (a 9504x6336 photo fits) stay within about 3-4 GB; like Pillow's ``MAX_IMAGE_PIXELS``
#: for files, it keeps a huge array from exhausting memory before anything useful happens.
DEFAULT_MAX_PIXELS = 64_000_000
MAX_PIXELS_ENV = "DPINPAINT_MAX_PIXELS"


def max_pixels() -> int | None:
    """The pixel limit in force: ``DPINPAINT_MAX_PIXELS`` (0: none) or :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        InvalidInputError: the variable is not a whole number >= 0.
    """
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    if not text.isdigit():
        raise InvalidInputError(f"{MAX_PIXELS_ENV}={text!r} must be a whole number of pixels (0: no limit)")
    return int(text) or None


def check_pixels(count: int, size: str, source: str, error: type[Exception] = InvalidInputError) -> None:
    """Raise ``error`` (default :class:`InvalidInputError`) if ``count`` pixels exceed :func:`max_pixels`."""
    limit = max_pixels()
    if limit is not None and count > limit:
        raise error(
            f"{source} has {count:,} pixels ({size}), more than the limit of {limit:,}: scale it down first, or "
            f"raise the limit with {MAX_PIXELS_ENV}=<pixels> (0: none) if you have the memory (about 16 bytes per pixel)"
        )


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_TIFF_SIGNATURES = (b"II*\x00", b"MM\x00*")
#: numpy operations of the EXIF orientations 2..8 on ``(H, W, C)`` arrays (what ImageOps.exif_transpose does).
_ORIENT: dict[int, Any] = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}


def read_sixteen_bit_colour(path: str | os.PathLike[str]) -> np.ndarray | None:
    """The pixels of a 16-bit RGB or RGBA PNG or TIFF as ``(H, W, 3|4)`` uint16 (EXIF orientation
    applied), or None for any other file. Pillow decodes such files with 8 bits per channel.
    """
    import cv2

    with open(path, "rb") as fh:
        head = fh.read(33)
    if head[:8] == _PNG_SIGNATURE:
        if not (len(head) > 25 and head[24] == 16 and head[25] in (2, 6)):  # IHDR: bit depth, colour type
            return None
    elif head[:4] not in _TIFF_SIGNATURES:
        return None
    arr = cv2.imread(os.fspath(path), cv2.IMREAD_UNCHANGED)
    if arr is None or arr.dtype != np.uint16 or arr.ndim != 3 or arr.shape[2] not in (3, 4):
        return None
    arr = arr[:, :, [2, 1, 0, 3][: arr.shape[2]]]  # OpenCV's BGR(A) -> RGB(A)
    with Image.open(path) as im:
        orientation = im.getexif().get(0x0112, 1)
    if orientation in _ORIENT:
        arr = _ORIENT[orientation](arr)
    return np.ascontiguousarray(arr)


#: ``info`` key of images decoded from a JPEG file: ``(quantisation tables, subsampling)``, which
#: :func:`~dpinpaint.image_io.write.save_image` reuses so that a JPEG output changes the observed
#: pixels as little as the format allows.
JPEG_TABLES_KEY = "dpinpaint_jpeg_tables"


#: ``info`` key of images decoded from a lossless WebP file (True), so that
#: :func:`~dpinpaint.image_io.write.save_image` writes a WebP result losslessly too.
WEBP_LOSSLESS_KEY = "dpinpaint_webp_lossless"


def is_lossless_webp(source: str | os.PathLike[str] | IO[bytes]) -> bool:
    """Whether ``source`` is a WebP file whose image (an animation's first frame) is lossless (``VP8L``).

    Reads only the chunk headers; False for any other file (or a WebP too short to tell). A file
    object is read from its start and left where it was.
    """
    if isinstance(source, str | os.PathLike):
        with open(source, "rb") as fh:
            return is_lossless_webp(fh)
    if not source.seekable():
        return False
    where = source.tell()
    try:
        source.seek(0)
        head = source.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:] != b"WEBP":
            return False
        while len(chunk := source.read(8)) == 8:
            kind, size = chunk[:4], int.from_bytes(chunk[4:], "little")
            if kind in (b"VP8L", b"VP8 "):
                return kind == b"VP8L"
            if kind == b"ANMF":  # an animation: its first frame's chunks follow the 16-byte frame header
                source.seek(16, 1)
                continue
            source.seek(size + (size & 1), 1)  # chunks are padded to an even length
        return False
    finally:
        source.seek(where)


def _jpeg_sampling(im: Image.Image) -> int:
    from PIL import JpegImagePlugin

    try:
        return int(JpegImagePlugin.get_sampling(im))
    except Exception:  # an unusual layout: let the encoder choose
        return -1


def open_image_file(path: str | os.PathLike[str]) -> tuple[Image.Image, bool]:
    """Open and fully decode an image file, applying its EXIF orientation.

    Returns:
        ``(image, exif_transposed)``.

    Raises:
        ImageReadError: missing, empty, truncated, too large or not an image.
    """
    p = Path(path)
    try:
        if not p.exists():
            raise ImageReadError(f"image file {p} does not exist")
        if p.is_dir():
            raise ImageReadError(f"{p} is a folder, not an image file")
        empty = p.stat().st_size == 0
    except (OSError, ValueError) as exc:  # a name too long, a permission error, ...
        raise ImageReadError(f"cannot access image file {p}: {exc}") from exc
    if empty:
        raise ImageReadError(f"image file {p} is empty (0 bytes)")
    return decode_image(p, str(p))


def decode_image(source: str | os.PathLike[str] | IO[bytes], label: str) -> tuple[Image.Image, bool]:
    """Fully decode an image (a path or a binary file object), applying its EXIF orientation.

    Args:
        label: how messages name the image (a path, ``archive.zip:member``, ...).

    Returns:
        ``(image, exif_transposed)``; the image keeps the source's ``info`` (ICC profile, DPI, ...).

    Raises:
        ImageReadError: truncated, too large or not an image.
    """
    if not isinstance(source, str | os.PathLike) and not source.seekable():
        source = io.BytesIO(source.read())  # what Pillow would do; kept, so the file can be looked at again
    try:
        with Image.open(source) as im:
            check_pixels(im.width * im.height, f"{im.width}x{im.height}", label, ImageReadError)  # before decoding
            im.load()
            orientation = im.getexif().get(0x0112, 1)
            # 2..8 are the transposes; anything else (0, 9, garbage) is ignored, as exif_transpose does.
            transposed = orientation in range(2, 9)
            out = ImageOps.exif_transpose(im) if transposed else im.copy()
            out.info.update({k: v for k, v in im.info.items() if k not in out.info and k != "exif"})
            if im.format == "JPEG":  # what a JPEG output needs to re-encode it with the least change
                out.info[JPEG_TABLES_KEY] = (dict(getattr(im, "quantization", {}) or {}), _jpeg_sampling(im))
            elif im.format == "WEBP" and is_lossless_webp(source):  # a WebP output must stay lossless
                out.info[WEBP_LOSSLESS_KEY] = True
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{label} is not an image file Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{label} is too large to decode safely: {exc}") from exc
    except PermissionError as exc:
        raise ImageReadError(f"cannot read image {label}: permission denied (check the file's permissions)") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(f"could not read image {label}: {exc} (truncated or corrupted?)") from exc
    return out, transposed
