"""Classical baselines: OpenCV's two and scikit-image's biharmonic, bits kept outside the hole."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from dpinpaint.baselines import BASELINES, check_baselines, inpaint_baseline
from dpinpaint.errors import BackendUnavailableError, InvalidInputError


def _smooth(h: int = 40, w: int = 60) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 5, (x + y) * 2], -1).clip(0, 255).astype(np.uint8)


@pytest.mark.parametrize("name", list(BASELINES))
def test_baselines_fill_the_hole_and_keep_the_rest(name: str) -> None:
    if name.startswith("skimage"):
        pytest.importorskip("skimage")
    image = _smooth()
    hole = np.zeros(image.shape[:2], bool)
    hole[10:20, 20:35] = True
    damaged = image.copy()
    damaged[hole] = 0
    out = inpaint_baseline(name, damaged, hole)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], damaged[~hole])
    error = np.abs(out[hole].astype(int) - image[hole]).mean()
    assert error < 12  # a smooth ramp is easy for a diffusion fill (the zeros were ~100 off)


def test_unknown_and_unavailable_baselines(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidInputError, match="unknown baseline"):
        check_baselines(["lama"])
    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.restoration", None)
    with pytest.raises(BackendUnavailableError, match="pip install scikit-image"):
        check_baselines(["opencv-ns", "skimage-biharmonic"])
    check_baselines(["opencv-ns", "opencv-telea"])  # OpenCV is a core dependency
