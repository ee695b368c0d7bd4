"""Preparing images for training and the square evaluation protocol: :func:`prepare_image`."""

from __future__ import annotations

import os

import numpy as np
from PIL import Image

from .read import open_image_file

__all__ = ["prepare_image"]


def prepare_image(image: str | os.PathLike[str] | Image.Image, size: int) -> np.ndarray:
    """Centre crop to a square and Lanczos resize to ``size``: ``(size, size, 3)`` uint8 RGB.

    ``image`` is a file (opened with :func:`open_image_file`: EXIF orientation applied) or a PIL image. This is StyleGAN2's preparation (``dataset_tool.py``: centre crop,
    ``PIL.Image.LANCZOS``); images smaller than ``size`` are upscaled the same way (training
    refuses them beforehand, see :func:`dpinpaint.train.data.validate_source`). Training and
    :mod:`dpinpaint.evaluate` prepare images with it.

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
