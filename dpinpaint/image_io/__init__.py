"""Images in and out: reading every supported kind (:mod:`~dpinpaint.image_io.read`, over the file
decoding of :mod:`~dpinpaint.image_io.decode`) and writing results
(:mod:`~dpinpaint.image_io.write`); :mod:`~dpinpaint.image_io.prepare` makes the square
crops training and the square evaluation protocol use. Every name of the former ``dpinpaint/image_io.py``
module is importable from here."""

from __future__ import annotations

from ..files import IMAGE_EXTENSIONS
from .decode import is_lossless_webp
from .prepare import prepare_image, too_small
from .read import LUMA_WEIGHTS, ImageData, OutputType, decode_image, open_image_file, read_image
from .write import save_image

__all__ = [
    "ImageData",
    "OutputType",
    "read_image",
    "open_image_file",
    "decode_image",
    "is_lossless_webp",
    "save_image",
    "prepare_image",
    "too_small",
    "LUMA_WEIGHTS",
    "IMAGE_EXTENSIONS",
]
