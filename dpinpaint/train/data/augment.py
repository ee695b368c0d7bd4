"""Optional colour and blur changes of training images (:class:`~dpinpaint.train.data.InpaintingDataset`)."""

from __future__ import annotations

import math

import cv2
import numpy as np

__all__ = [
    "COLOR_SATURATION_RANGE",
    "COLOR_GAMMA_RANGE",
    "BLUR_SIGMA_RANGE",
    "adjust_colors",
    "random_color_change",
    "random_blur",
]

#: Ranges of :func:`random_color_change`: saturation and brightness-gamma factors are log-uniform in these.
COLOR_SATURATION_RANGE = (0.5, 2.0)
COLOR_GAMMA_RANGE = (2 / 3, 1.5)


def _log_uniform(rng: np.random.Generator, bounds: tuple[float, float]) -> float:
    """A number whose logarithm is uniform between the logarithms of ``bounds``."""
    return math.exp(rng.uniform(*np.log(bounds)))


def adjust_colors(pixels: np.ndarray, hue_shift: float, saturation: float, gamma: float) -> np.ndarray:
    """Change the colours of an ``(H, W, 3)`` uint8 RGB image in HSV space; returns uint8 RGB.

    The hue turns by ``hue_shift`` degrees, the saturation is multiplied by ``saturation``
    (clipped to 1) and the value ``V`` in ``[0, 1]`` becomes ``V ** gamma``. Greys stay grey.
    """
    hsv = cv2.cvtColor(pixels.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)  # H in [0, 360), S and V in [0, 1]
    hsv[..., 0] = np.mod(hsv[..., 0] + hue_shift, 360.0)
    hsv[..., 1] = np.clip(hsv[..., 1] * saturation, 0.0, 1.0)
    hsv[..., 2] = np.power(hsv[..., 2], gamma)
    rgb = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def random_color_change(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """:func:`adjust_colors` with a uniform hue turn and log-uniform saturation and gamma factors.

    The ranges are :data:`COLOR_SATURATION_RANGE` and :data:`COLOR_GAMMA_RANGE`; it widens the
    colours a small training set shows the model (saturated, hue-rotated, brighter and darker).
    """
    hue = rng.uniform(0.0, 360.0)
    return adjust_colors(pixels, hue, _log_uniform(rng, COLOR_SATURATION_RANGE), _log_uniform(rng, COLOR_GAMMA_RANGE))


#: Range of :func:`random_blur`'s Gaussian sigma, as a fraction of the image side (log-uniform).
BLUR_SIGMA_RANGE = (1 / 128, 1 / 16)


def random_blur(pixels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A Gaussian blur of an ``(H, W, 3)`` uint8 image with a random sigma; returns uint8.

    Sigma is log-uniform in :data:`BLUR_SIGMA_RANGE` times the shorter side (1 to 8 pixels at
    128x128), with mirrored borders. It turns photos into large smooth areas of their own colours,
    which a small set of textured photos rarely shows a model.
    """
    sigma = _log_uniform(rng, BLUR_SIGMA_RANGE) * min(pixels.shape[:2])
    return cv2.GaussianBlur(np.ascontiguousarray(pixels), (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REFLECT_101)
