"""Classical inpainting baselines that need no weights, for evaluation reports.

- ``opencv-telea``: ``cv2.inpaint`` with ``INPAINT_TELEA`` (fast marching), radius 3;
- ``opencv-ns``: ``cv2.inpaint`` with ``INPAINT_NS`` (Navier-Stokes), radius 3;
- ``skimage-biharmonic``: scikit-image's ``restoration.inpaint_biharmonic`` (per channel). It
  needs scikit-image, which is optional at run time (``pip install scikit-image``).

Every baseline returns the input's bits outside the hole, like :meth:`dpinpaint.Inpainter.inpaint`.
"""

from __future__ import annotations

from collections.abc import Callable

import cv2
import numpy as np

from .errors import BackendUnavailableError, InvalidInputError
from .options import BASELINES

__all__ = ["BASELINES", "inpaint_baseline", "check_baselines"]

_RADIUS = 3


def _opencv(flag: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    def run(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        filled = cv2.inpaint(bgr, hole.astype(np.uint8) * 255, _RADIUS, flag)
        return np.asarray(cv2.cvtColor(filled, cv2.COLOR_BGR2RGB))

    return run


def _biharmonic(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    try:
        from skimage.restoration import inpaint_biharmonic
    except ImportError as exc:
        raise BackendUnavailableError(
            "the skimage-biharmonic baseline needs scikit-image: pip install scikit-image"
        ) from exc
    filled = inpaint_biharmonic(image, hole, channel_axis=-1)  # float in [0, 1]
    return np.asarray(np.clip(np.rint(filled * 255.0), 0, 255).astype(np.uint8))


_RUNNERS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "opencv-telea": _opencv(cv2.INPAINT_TELEA),
    "opencv-ns": _opencv(cv2.INPAINT_NS),
    "skimage-biharmonic": _biharmonic,
}


def check_baselines(names: list[str] | tuple[str, ...]) -> None:
    """Raise :class:`InvalidInputError` for an unknown name, :class:`BackendUnavailableError` for a
    baseline whose library is missing (checked before any work starts)."""
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InvalidInputError(f"unknown baseline(s) {unknown}; choose from {', '.join(BASELINES)}")
    if "skimage-biharmonic" in names:
        try:
            import skimage.restoration  # noqa: F401
        except ImportError as exc:
            raise BackendUnavailableError(
                "the skimage-biharmonic baseline needs scikit-image: pip install scikit-image"
            ) from exc


def inpaint_baseline(name: str, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """Fill ``hole`` of ``image`` with baseline ``name``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        hole: ``(H, W)`` bool, True = fill.

    Returns:
        ``(H, W, 3)`` uint8; the pixels outside ``hole`` are the input's.
    """
    check_baselines([name])
    filled = _RUNNERS[name](image, hole)
    return np.where(hole[..., None], filled, image)
