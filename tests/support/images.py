"""Synthetic photos for the tests of filling and blending."""

from __future__ import annotations

import numpy as np
import torch


def textured(height: int, width: int, seed: int, amount: float = 0.25) -> torch.Tensor:
    """``(3, height, width)`` in [0, 1]: a smooth gradient with fine texture on it (noise blurred
    over a few pixels, as a photo's detail is: finer than a shrunk copy keeps, coarser than a pixel);
    ``amount`` 0 gives the gradient alone (a flat, out-of-focus background)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    smooth = torch.from_numpy(np.stack([0.3 + 0.4 * rows, 0.6 - 0.3 * cols, 0.5 + 0.2 * rows * cols])).float()
    noise = torch.from_numpy(rng.standard_normal((1, 3, height, width))).float()
    texture = torch.nn.functional.avg_pool2d(noise, 5, 1, 2, count_include_pad=False)[0]
    return (smooth + amount * texture).clamp(0.0, 1.0)
