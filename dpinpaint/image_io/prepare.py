"""Preparing images for training and the square evaluation protocol: :func:`prepare_image`."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .read import open_image_file

__all__ = ["prepare_image", "too_small"]


def too_small(label: str, width: int, height: int, size: int) -> str | None:
    """Why an image of ``width`` x ``height`` cannot be prepared at ``size`` without enlarging it, else None.

    Training refuses such images and the square evaluation protocol skips them: :func:`prepare_image`
    would upscale them, and upsampling blur is neither training data nor a fair score.
    """
    if min(width, height) < size:
        return f"{label} is {width}x{height}, smaller than {size} px on its short side"
    return None


def prepare_image(image: str | os.PathLike[str] | Image.Image, size: int) -> np.ndarray:
    """Centre crop to a square and Lanczos resize to ``size``: ``(size, size, 3)`` uint8 RGB.

    ``image`` is a file (opened with :func:`open_image_file`: EXIF orientation applied) or a PIL image. This is StyleGAN2's preparation (``dataset_tool.py``: centre crop,
    ``PIL.Image.LANCZOS``); images smaller than ``size`` are upscaled the same way (training
    refuses them beforehand and the square evaluation protocol skips them, both by :func:`too_small`).
    Training and :mod:`dpinpaint.evaluate` prepare images with it.

    Raises:
        ImageReadError: an unreadable file.
    """
    if not isinstance(image, Image.Image):
        image, _ = open_image_file(image)
    im = image.convert("RGB")
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != size:
        im = im.resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(im).copy()
