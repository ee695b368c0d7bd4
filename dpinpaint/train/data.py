"""Training data: image sources, StyleGAN2-style preparation, the split, masked samples, a resumable sampler.

- :class:`ImageSource`: the images of a folder (recursive) or of a ``.zip`` archive, in a fixed
  order (sorted by relative POSIX path / member name, so a folder and a zip of it agree);
- :func:`prepare_image`: centre crop to a square, Lanczos resize (what StyleGAN2's
  ``dataset_tool.py`` does; also used by :mod:`dpinpaint.evaluate`);
- :func:`validate_source`: run before training; every image must open and be at least the
  model resolution on its short side, or training does not start;
- :func:`split_indices`, :func:`write_split`, :func:`read_split`: the split by file order (FFHQ
  convention: the last 5,000 images are the test set), recorded as ``split.json`` in the run
  folder and checked again on resume;
- :class:`InpaintingDataset`: ``{"image", "known", "index"}`` samples whose mask, flip,
  optional colour change (:func:`adjust_colors`) and optional blur (:func:`random_blur`) are a
  function of ``(seed, epoch, image index)`` only, so they do not depend on workers or batching;
- :class:`ResumableSampler`: a seeded permutation per epoch, sharded across ranks, whose state
  ``(epoch, position)`` resumes mid-epoch with exactly the remaining order;
- :func:`make_loader`: the ``DataLoader`` (workers, epoch-tagged keys, zip handles per process).

Tensors: ``image`` is ``(3, R, R)`` float32 in ``[-1, 1]``; ``known`` is ``(1, R, R)`` float32,
1 = observed, 0 = hole (the paper's ``M``; the public "white = fill" masks are its complement).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import math
import multiprocessing
import numbers
import os
import threading
import zipfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Sampler

from ..batch import IMAGE_EXTENSIONS
from ..errors import ImageReadError, InvalidInputError
from ..files import atomic_write
from ..image_io import decode_image, open_image_file
from ..masks import MASK_KINDS, generate_mask

__all__ = [
    "SPLIT_FILE",
    "FFHQ_TEST_COUNT",
    "DEFAULT_HOLE_RATIO",
    "DEFAULT_REGULAR_PROBABILITY",
    "ImageSource",
    "DatasetReport",
    "prepare_image",
    "validate_source",
    "split_indices",
    "write_split",
    "read_split",
    "InpaintingDataset",
    "adjust_colors",
    "random_blur",
    "random_color_change",
    "ResumableSampler",
    "make_loader",
]

logger = logging.getLogger(__name__)

#: The split file in a run folder.
SPLIT_FILE = "split.json"
#: FFHQ's test set: the last 5,000 of 70,000 images (paper, section 4.1).
FFHQ_TEST_COUNT = 5000
#: Hole ratios of the training masks: Table 1's range, 0-60%.
DEFAULT_HOLE_RATIO = (0.0, 0.6)
#: Share of rectangular holes when both mask kinds are used (the paper shows both kinds equally).
DEFAULT_REGULAR_PROBABILITY = 0.5
_MAX_NAMED = 5  # offenders named in a validation error
_SPLIT_FORMAT = "dpinpaint-split"


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def _check_positive(name: str, value: Any, minimum: int = 1) -> int:
    if not _is_int(value) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# -- preparation ------------------------------------------------------------------------------------
def prepare_image(image: str | os.PathLike[str] | Image.Image, size: int) -> np.ndarray:
    """Centre crop to a square and Lanczos resize to ``size``: ``(size, size, 3)`` uint8 RGB.

    ``image`` is a file (opened with :func:`dpinpaint.image_io.open_image_file`: EXIF orientation
    applied) or a PIL image. This is StyleGAN2's preparation (``dataset_tool.py``: centre crop,
    ``PIL.Image.LANCZOS``); images smaller than ``size`` are upscaled the same way (training
    refuses them beforehand, see :func:`validate_source`).

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


def _decode(data: bytes, label: str) -> Image.Image:
    """Decode image bytes fully, applying the EXIF orientation (:func:`dpinpaint.image_io.decode_image`)."""
    if not data:
        raise ImageReadError(f"image {label} is empty (0 bytes)")
    return decode_image(io.BytesIO(data), label)[0]


# -- sources ----------------------------------------------------------------------------------------
def _is_image_name(relative: str) -> bool:
    parts = relative.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return os.path.splitext(parts[-1])[1].lower() in IMAGE_EXTENSIONS


def _list_folder(root: Path) -> list[str]:
    """Relative POSIX paths of the images under ``root`` (symlinked folders followed once; hidden ones skipped)."""
    found: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop or a folder linked twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # a deterministic walk
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            relative = name if rel == "." else f"{rel}/{name}"
            if _is_image_name(relative):
                found.append(relative)
    return sorted(found)


class ImageSource:
    """The images of a folder (recursive) or a ``.zip`` archive, in a fixed order.

    Images are the files with an extension of :data:`dpinpaint.batch.IMAGE_EXTENSIONS`
    (any case); hidden files, files in hidden folders and ``__MACOSX`` entries are skipped.
    :attr:`names` are relative POSIX paths (folder) or member names (zip), sorted as strings,
    so a zip of a folder lists the same names in the same order.

    A zip is opened lazily, once per process: a copy made by pickling or inherited by ``fork``
    (DataLoader workers) opens its own handle on first use, never sharing a file offset.

    Raises:
        InvalidInputError: the path does not exist, is neither a folder nor a zip archive, the
            zip is corrupted, or there is no image in it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path).expanduser()
        if not p.exists():
            raise InvalidInputError(f"training data {p} does not exist")
        self.path = p.resolve()
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1
        self._lock = threading.Lock()
        self._members: list[zipfile.ZipInfo] = []
        if p.is_dir():
            self.kind = "folder"
            self._names = _list_folder(p)
        elif p.is_file() and zipfile.is_zipfile(p):
            self.kind = "zip"
            try:
                with zipfile.ZipFile(p) as zf:
                    infos = [i for i in zf.infolist() if not i.is_dir() and _is_image_name(i.filename)]
            except (zipfile.BadZipFile, OSError) as exc:
                raise InvalidInputError(f"training data {p} is not a readable zip archive: {exc}") from exc
            self._members = sorted(infos, key=lambda i: i.filename)
            self._names = [i.filename for i in self._members]
        elif p.suffix.lower() == ".zip":
            raise InvalidInputError(f"training data {p} is not a valid zip archive (corrupted or truncated?)")
        else:
            raise InvalidInputError(f"training data {p} is neither a folder nor a .zip archive of images")
        if not self._names:
            where = "folder" if self.kind == "folder" else "zip archive"
            raise InvalidInputError(
                f"training data {where} {p} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}"
                f"{', recursively' if self.kind == 'folder' else ''}; hidden files are skipped)"
            )

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"ImageSource({str(self.path)!r}, kind={self.kind!r}, images={len(self)})"

    @property
    def names(self) -> list[str]:
        """The images' relative paths / member names, in order (a copy)."""
        return list(self._names)

    def label(self, i: int) -> str:
        """A readable location of image ``i`` for messages: the file, or ``archive.zip:member``."""
        return str(self.path / self._names[i]) if self.kind == "folder" else f"{self.path}:{self._names[i]}"

    def _archive(self) -> zipfile.ZipFile:
        with self._lock:
            if self._zip is None or self._zip_pid != os.getpid():
                self._zip = zipfile.ZipFile(self.path)  # an inherited handle (fork) is dropped, not closed
                self._zip_pid = os.getpid()
            return self._zip

    def read_bytes(self, i: int) -> bytes:
        """The raw bytes of image ``i``.

        Raises:
            ImageReadError: the file or member cannot be read.
        """
        try:
            if self.kind == "folder":
                return (self.path / self._names[i]).read_bytes()
            return self._archive().read(self._members[i])
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise ImageReadError(f"cannot read {self.label(i)}: {exc}") from exc

    def open(self, i: int) -> Image.Image:
        """Image ``i``, fully decoded, EXIF orientation applied, as an RGB PIL image.

        Raises:
            ImageReadError: missing, empty, truncated, too large or not an image.
        """
        if self.kind == "folder":
            im, _ = open_image_file(self.path / self._names[i])
        else:
            im = _decode(self.read_bytes(i), self.label(i))
        return im if im.mode == "RGB" else im.convert("RGB")

    def size(self, i: int) -> tuple[int, int]:
        """``(width, height)`` of image ``i`` from its header only (before any EXIF rotation).

        Raises:
            ImageReadError: the header cannot be read.
        """
        label = self.label(i)
        try:
            fp: Any = self.path / self._names[i] if self.kind == "folder" else io.BytesIO(self.read_bytes(i))
            with Image.open(fp) as im:
                return im.size
        except UnidentifiedImageError as exc:
            raise ImageReadError(f"{label} is not an image file Pillow can read") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"could not read image {label}: {exc}") from exc

    def reset(self) -> None:
        """Forget the zip handle (it is re-opened on next use); DataLoader workers call this at start."""
        self._zip, self._zip_pid = None, -1

    def close(self) -> None:
        """Close the zip handle of this process, if open."""
        if self._zip is not None and self._zip_pid == os.getpid():
            self._zip.close()
        self.reset()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_zip"], state["_zip_pid"] = None, -1
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


# -- validation -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetReport:
    """What :func:`validate_source` found (all images passed)."""

    source: str
    kind: str  # "folder" or "zip"
    count: int
    resolution: int
    min_side: int  # the smallest short side
    max_side: int  # the largest long side
    non_square: int  # images that are centre-cropped
    decoded: bool  # every image was fully decoded (False: headers only)

    def __str__(self) -> str:
        return (
            f"{self.count} images in {self.source} ({self.kind}); short sides >= {self.min_side} px "
            f"(resolution {self.resolution}), {self.non_square} non-square (centre-cropped)"
        )


def validate_source(
    source: ImageSource, resolution: int, *, decode: bool = True, workers: int | None = None
) -> DatasetReport:
    """Check every image before training: it opens, and its short side is at least ``resolution``.

    Args:
        decode: fully decode each image (catches truncated and corrupted files; a few ms per
            image); False reads headers only (fast, but a truncated file fails during training).
        workers: threads reading images (default ``min(8, cpu_count)``).

    Raises:
        InvalidInputError: naming up to 5 offending images with the reason, and their count.
    """
    resolution = _check_positive("resolution", resolution)
    workers = min(8, os.cpu_count() or 1) if workers is None else _check_positive("workers", workers)

    def check(i: int) -> tuple[int, int] | str:
        try:
            if decode:
                im = source.open(i)
                w, h = im.size
            else:
                w, h = source.size(i)
        except Exception as exc:  # any failure makes the image unusable; report it, keep checking
            return str(exc) if isinstance(exc, InvalidInputError) else f"{source.label(i)}: {exc}"
        if min(w, h) < resolution:
            return f"{source.label(i)} is {w}x{h}, smaller than {resolution} px on its short side"
        return (w, h)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, range(len(source)), chunksize=16))
    bad = [r for r in results if isinstance(r, str)]
    if bad:
        named = "\n".join(f"  - {r}" for r in bad[:_MAX_NAMED])
        more = f"\n  ... and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
        raise InvalidInputError(
            f"{len(bad)} of {len(source)} images in {source.path} cannot be used for training at resolution "
            f"{resolution} (every image must open and be at least {resolution} px on its short side; "
            f"remove or replace them):\n{named}{more}"
        )
    sizes = [r for r in results if not isinstance(r, str)]
    return DatasetReport(
        source=str(source.path),
        kind=source.kind,
        count=len(source),
        resolution=resolution,
        min_side=min(min(s) for s in sizes),
        max_side=max(max(s) for s in sizes),
        non_square=sum(1 for w, h in sizes if w != h),
        decoded=decode,
    )


# -- split ------------------------------------------------------------------------------------------
def split_indices(n: int, test_count: int = FFHQ_TEST_COUNT) -> tuple[list[int], list[int]]:
    """``(train, test)`` by file order: the last ``test_count`` images are the test set.

    FFHQ (70,000 images): the first 65,000 train, the last 5,000 test (the paper's text says
    "the first 75,000" but FFHQ has 70,000 images; "the last 5,000" is unambiguous). There is no
    silent smaller default: a data set of at most ``test_count`` images is an error (pass a
    smaller ``test_count``, or 0 for no test set), so a run never trains on a split it did not ask for.

    Raises:
        InvalidInputError: ``n < 1``, ``test_count < 0`` or ``test_count >= n``.
    """
    n = _check_positive("the number of images", n)
    test_count = _check_positive("test_count", test_count, minimum=0)
    if test_count >= n:
        hint = f"e.g. {max(1, n // 10)} " if n > 1 else ""
        raise InvalidInputError(
            f"the data has {n} image(s): holding out the last {test_count} as the test set leaves no "
            f"training image; pass a smaller test_count ({hint}or 0 for no test set)"
        )
    return list(range(n - test_count)), list(range(n - test_count, n))


def _names_sha256(names: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(names), ensure_ascii=False).encode("utf-8")).hexdigest()


def _ranges(indices: Sequence[int]) -> list[list[int]]:
    """``[0, 1, 2, 5, 6]`` -> ``[[0, 3], [5, 7]]`` (half-open runs, in the given order)."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1][1] += 1
        else:
            out.append([i, i + 1])
    return out


def _check_indices(name: str, indices: Sequence[int], n: int) -> list[int]:
    out = []
    for i in indices:
        if not _is_int(i) or not 0 <= i < n:
            raise InvalidInputError(f"{name} index {i!r} is not an image index in [0, {n})")
        out.append(int(i))
    return out


def write_split(
    run_dir: str | os.PathLike[str], source: ImageSource, train: Sequence[int], test: Sequence[int]
) -> Path:
    """Record the split as ``run_dir/split.json``; returns its path.

    The file holds the source path and kind, the image count, a sha256 of the ordered name list,
    the train and test indices (as half-open ranges) and the test images' names.

    Raises:
        InvalidInputError: indices out of range or shared by train and test.
    """
    n = len(source)
    train, test = _check_indices("train", train, n), _check_indices("test", test, n)
    if set(train) & set(test):
        raise InvalidInputError("the train and test sets share images")
    names = source.names
    record = {
        "format": _SPLIT_FORMAT,
        "version": 1,
        "source": str(source.path),
        "kind": source.kind,
        "count": n,
        "names_sha256": _names_sha256(names),
        "train": {"count": len(train), "ranges": _ranges(train)},
        "test": {"count": len(test), "ranges": _ranges(test), "names": [names[i] for i in test]},
    }
    path = Path(run_dir) / SPLIT_FILE
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def _expand(ranges: Any) -> list[int]:
    return [i for start, stop in ranges for i in range(int(start), int(stop))]


def read_split(
    run_dir: str | os.PathLike[str],
    source: ImageSource,
    train: Sequence[int] | None = None,
    test: Sequence[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The ``(train, test)`` indices recorded in ``run_dir/split.json``, checked against ``source``.

    A moved data set (another path, the same names) is accepted with a warning. ``train`` /
    ``test``, when given, must equal the recorded ones (e.g. a changed ``test_count``).

    Raises:
        InvalidInputError: no or an unreadable split file, or the data (count or names) or the
            split changed since the run started.
    """
    path = Path(run_dir) / SPLIT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != _SPLIT_FORMAT:
            raise ValueError(f"not a {_SPLIT_FORMAT} file")
        count, digest = int(record["count"]), str(record["names_sha256"])
        saved_train, saved_test = _expand(record["train"]["ranges"]), _expand(record["test"]["ranges"])
        test_names = list(record["test"]["names"])
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist: the run folder has no recorded train/test split") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a readable split file: {exc}") from exc
    names = source.names
    if count != len(names):
        raise InvalidInputError(
            f"the training data changed since the run started: {path} records {count} images, "
            f"{source.path} now has {len(names)}; resume with the original data or start a new run"
        )
    if digest != _names_sha256(names):
        changed = [n for n, i in zip(test_names, saved_test, strict=False) if i >= len(names) or names[i] != n]
        detail = f" (e.g. test image {changed[0]!r} is gone or moved)" if changed else ""
        raise InvalidInputError(
            f"the training data changed since the run started: the image names of {source.path} differ from "
            f"those recorded in {path}{detail}; resume with the original data or start a new run"
        )
    if str(source.path) != record.get("source"):
        logger.warning("the data moved: %s was recorded, %s has the same images", record.get("source"), source.path)
    if (train is not None and list(train) != saved_train) or (test is not None and list(test) != saved_test):
        raise InvalidInputError(
            f"the split differs from the one recorded in {path} ({len(saved_train)} train / {len(saved_test)} test "
            f"images recorded); resume with the original test_count or start a new run"
        )
    return saved_train, saved_test


# -- samples ----------------------------------------------------------------------------------------
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


class InpaintingDataset(Dataset[dict[str, Any]]):
    """Masked training samples of the images ``indices`` of ``source``, prepared at ``resolution``.

    Sample ``i`` (``dataset[i]``, or ``dataset[(epoch, i)]`` as :func:`make_loader` asks) is
    ``{"image": (3, R, R) float32 in [-1, 1], "known": (1, R, R) float32 (1 = observed,
    0 = hole), "index": int}`` where ``index`` is the image's index in ``source``. The flip, the
    mask, the colour change and the blur are drawn, in that order, from
    ``np.random.default_rng([seed, epoch, index])``: they depend on nothing else (not the
    worker, the batch or the rank), and change every epoch.

    Args:
        mask_kinds: kinds of :func:`dpinpaint.masks.generate_mask` to draw (``"irregular"``
            free-form strokes + boxes, ``"regular"`` one rectangle at a random position).
        regular_probability: with both kinds, the probability of a rectangle (default 0.5: the
            paper evaluates both kinds alike and states no mixture).
        hole_ratio: ``(lo, hi)``: every mask's hole fraction is in ``[lo, hi)`` (``(0, hi)`` when
            ``lo == 0``), target uniform in the range; default Table 1's 0-60%.
        flip: a horizontal flip with probability 1/2 (StyleGAN2's ``--mirror``).
        color_probability: the probability of a :func:`random_color_change` (default 0: never;
            the flips and masks do not depend on it).
        blur_probability: the probability of a :func:`random_blur` (default 0: never; the flips,
            masks and colour changes do not depend on it).

    Raises:
        InvalidInputError: bad arguments (checked here, not at the first sample).
    """

    def __init__(
        self,
        source: ImageSource,
        indices: Sequence[int],
        resolution: int,
        *,
        seed: int,
        mask_kinds: Sequence[str] = MASK_KINDS,
        regular_probability: float = DEFAULT_REGULAR_PROBABILITY,
        hole_ratio: tuple[float, float] = DEFAULT_HOLE_RATIO,
        flip: bool = True,
        color_probability: float = 0.0,
        blur_probability: float = 0.0,
    ) -> None:
        self.source = source
        self.indices = _check_indices("dataset", indices, len(source))
        self.resolution = _check_positive("resolution", resolution)
        self.seed = _check_positive("seed", seed, minimum=0)
        kinds = tuple(mask_kinds)
        if not kinds or any(k not in MASK_KINDS for k in kinds) or len(set(kinds)) != len(kinds):
            raise InvalidInputError(f"mask_kinds must be distinct kinds among {MASK_KINDS}, got {mask_kinds!r}")
        self.mask_kinds = kinds
        self.regular_probability = _check_probability("regular_probability", regular_probability)
        try:
            lo, hi = (float(v) for v in hole_ratio)
        except (TypeError, ValueError):
            raise InvalidInputError(f"hole_ratio must be a pair (lo, hi), got {hole_ratio!r}") from None
        if not 0.0 <= lo < hi <= 1.0:
            raise InvalidInputError(f"hole_ratio must satisfy 0 <= lo < hi <= 1, got {hole_ratio!r}")
        self.hole_ratio: tuple[float, float] = (lo, hi)
        self.flip: bool = bool(flip)
        self.color_probability = _check_probability("color_probability", color_probability)
        self.blur_probability = _check_probability("blur_probability", blur_probability)
        self.epoch: int = 0

    def __len__(self) -> int:
        return len(self.indices)

    def set_epoch(self, epoch: int) -> None:
        """The epoch used by ``dataset[i]`` (keys ``(epoch, i)`` carry their own)."""
        self.epoch = _check_positive("epoch", epoch, minimum=0)

    def _kind(self, rng: np.random.Generator) -> str:
        if len(self.mask_kinds) == 1:
            return self.mask_kinds[0]
        return "regular" if rng.random() < self.regular_probability else "irregular"

    def sample(self, i: int, epoch: int) -> dict[str, Any]:
        """Sample ``i`` (a position in :attr:`indices`) of ``epoch``; see the class docstring."""
        if not _is_int(i) or not -len(self) <= i < len(self):
            raise IndexError(f"sample {i!r} is out of range for {len(self)} samples")
        index = self.indices[i]
        r = self.resolution
        im = self.source.open(index)
        if min(im.size) < r:
            raise InvalidInputError(f"{self.source.label(index)} is {im.width}x{im.height}, smaller than {r} px")
        pixels = prepare_image(im, r)  # (R, R, 3) uint8
        rng = np.random.default_rng([self.seed, epoch, index])
        if self.flip and rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        hole = generate_mask(r, r, kind=self._kind(rng), ratio=self.hole_ratio, rng=rng)  # (R, R) bool
        if self.color_probability and rng.random() < self.color_probability:
            pixels = random_color_change(pixels, rng)
        if self.blur_probability and rng.random() < self.blur_probability:
            pixels = random_blur(pixels, rng)
        image = torch.from_numpy(np.ascontiguousarray(pixels.transpose(2, 0, 1))).float().div_(127.5).sub_(1.0)
        known = torch.from_numpy(~hole).float()[None]
        return {"image": image, "known": known, "index": index}

    def __getitem__(self, key: int | tuple[int, int]) -> dict[str, Any]:
        if isinstance(key, tuple):
            epoch, i = key
            return self.sample(i, epoch)
        return self.sample(key, self.epoch)


# -- sampling ---------------------------------------------------------------------------------------
class ResumableSampler(Sampler[int]):
    """A seeded permutation per epoch, sharded across ranks, resumable mid-epoch.

    Epoch ``e`` orders ``range(length)`` by ``np.random.default_rng([seed, e]).permutation``
    (identity with ``shuffle=False``), then, like ``DistributedSampler``, rank ``r`` takes
    positions ``r, r + world_size, ...`` of it:

    - ``drop_last=True`` (training): the order is cut to a multiple of ``world_size *
      batch_size``, so every rank runs the same number of full batches (each epoch drops other
      images: the permutation changes);
    - ``drop_last=False``: the order is padded by repeating its start to a multiple of
      ``world_size`` (every image is seen; the last batch may be smaller, equally on every rank).

    The state is ``(epoch, position)`` where ``position`` counts the samples of the epoch's order
    already consumed by **all** ranks together (the same on every rank): after each step call
    :meth:`advance` with ``batch_size * world_size``, and :meth:`next_epoch` when an epoch's
    iteration ends (or :meth:`set_epoch`, DistributedSampler style). Iteration yields this rank's
    remaining indices from ``position``; it does not change the state, so prefetching is harmless.

    Raises:
        InvalidInputError: bad arguments, or ``drop_last`` with fewer than ``world_size *
            batch_size`` images (no full batch).
    """

    def __init__(
        self,
        length: int,
        *,
        seed: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
        shuffle: bool = True,
    ) -> None:
        self.length = _check_positive("length", length)
        self.seed = _check_positive("seed", seed, minimum=0)
        self.batch_size = _check_positive("batch_size", batch_size)
        self.world_size = _check_positive("world_size", world_size)
        self.rank = _check_positive("rank", rank, minimum=0)
        if self.rank >= self.world_size:
            raise InvalidInputError(f"rank must be in [0, {self.world_size}), got {rank!r}")
        self.drop_last, self.shuffle = bool(drop_last), bool(shuffle)
        step = self.world_size * self.batch_size
        if self.drop_last:
            self.total = self.length // step * step
            if self.total == 0:
                raise InvalidInputError(
                    f"{self.length} training images cannot fill one batch of {self.batch_size} on each of "
                    f"{self.world_size} process(es); use more images or a smaller batch"
                )
        else:
            self.total = math.ceil(self.length / self.world_size) * self.world_size
        self.epoch = 0
        self.position = 0

    @property
    def per_rank(self) -> int:
        """Samples per epoch on each rank."""
        return self.total // self.world_size

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's global order, ``(total,)`` int64 (after dropping or padding)."""
        base = np.random.default_rng([self.seed, epoch]).permutation(self.length) if self.shuffle else None
        order = np.arange(self.length) if base is None else base
        if self.total > self.length:
            order = np.resize(order, self.total)  # repeats the start
        return order[: self.total].astype(np.int64)

    def iter_with_epoch(self) -> Iterator[tuple[int, int]]:
        """``(epoch, index)`` for this rank's remaining samples of the current epoch (snapshot at start)."""
        epoch, position = self.epoch, self.position
        mine = self.order(epoch)[self.rank : self.total : self.world_size]
        for index in mine[position // self.world_size :]:
            yield epoch, int(index)

    def __iter__(self) -> Iterator[int]:
        for _, index in self.iter_with_epoch():
            yield index

    def __len__(self) -> int:
        """This rank's remaining samples in the current epoch."""
        return (self.total - self.position) // self.world_size

    def advance(self, count: int) -> None:
        """``count`` more samples of the epoch were consumed by all ranks (``batch_size * world_size`` a step)."""
        count = _check_positive("count", count, minimum=0)
        if count % self.world_size:
            raise InvalidInputError(f"advance by a multiple of world_size={self.world_size}, got {count}")
        if self.position + count > self.total:
            raise InvalidInputError(
                f"advance({count}) goes past the end of epoch {self.epoch} ({self.position} of {self.total} "
                f"consumed); call next_epoch() when an epoch ends"
            )
        self.position += count

    def next_epoch(self) -> None:
        """Start the next epoch at position 0."""
        self.epoch, self.position = self.epoch + 1, 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` at position 0, unless it is the current epoch (a restored position is kept)."""
        epoch = _check_positive("epoch", epoch, minimum=0)
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the same on every rank (save it from rank 0, load it on all)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "length": self.length,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "drop_last": self.drop_last,
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (of :meth:`state_dict`).

        Raises:
            InvalidInputError: a state from a sampler with another order (seed, length, batch size,
                world size, drop_last or shuffle): resuming it would not continue the same data order.
        """
        try:
            epoch, position = int(state["epoch"]), int(state["position"])
            recorded = {k: state[k] for k in ("seed", "length", "batch_size", "world_size", "drop_last", "shuffle")}
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a ResumableSampler state: {exc!r}") from None
        mine = self.state_dict()
        changed = [f"{k} {v!r} -> {mine[k]!r}" for k, v in recorded.items() if v != mine[k]]
        if changed:
            raise InvalidInputError(
                f"cannot resume the data order: the sampler changed ({', '.join(changed)}); "
                f"resume with the original settings or start a new run"
            )
        if epoch < 0 or not 0 <= position <= self.total or position % self.world_size:
            raise InvalidInputError(f"bad sampler state: epoch {epoch}, position {position} of {self.total}")
        self.epoch, self.position = epoch, position


class _EpochKeys(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` so that workers (persistent or not) use the sampler's epoch."""

    def __init__(self, sampler: ResumableSampler) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return self.sampler.iter_with_epoch()

    def __len__(self) -> int:
        return len(self.sampler)


def _worker_init(worker_id: int) -> None:
    """In each DataLoader worker: own zip handle, one compute thread (the workers are the parallelism)."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, InpaintingDataset):
        info.dataset.source.reset()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(
    dataset: InpaintingDataset,
    sampler: ResumableSampler,
    batch_size: int | None = None,
    workers: int = 0,
    *,
    pin_memory: bool | None = None,
    prefetch_factor: int = 2,
    multiprocessing_context: Any = None,
) -> DataLoader[dict[str, Any]]:
    """A ``DataLoader`` of ``dataset`` in ``sampler``'s order: batches of ``{"image": (B, 3, R, R),
    "known": (B, 1, R, R), "index": (B,) int64}``.

    Create it once and iterate it every epoch (workers persist when ``workers > 0``): each
    iteration starts at the sampler's current ``(epoch, position)``. The batches are identical
    for any number of workers. ``pin_memory`` defaults to ``torch.cuda.is_available()``.

    Raises:
        InvalidInputError: ``batch_size`` differs from the sampler's, the sampler's length from the
            dataset's, or a negative ``workers``.
    """
    if batch_size is not None and batch_size != sampler.batch_size:
        raise InvalidInputError(f"batch_size {batch_size} differs from the sampler's {sampler.batch_size}")
    if sampler.length != len(dataset):
        raise InvalidInputError(f"the sampler covers {sampler.length} samples, the dataset has {len(dataset)}")
    workers = _check_positive("workers", workers, minimum=0)
    extra: dict[str, Any] = {}
    if workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": prefetch_factor, "worker_init_fn": _worker_init}
        # Forking a process whose OpenMP / torch threads are running can deadlock the child (seen
        # in the test-suite): workers start from a clean forkserver (spawn where there is none).
        if multiprocessing_context is None:
            methods = multiprocessing.get_all_start_methods()
            multiprocessing_context = "forkserver" if "forkserver" in methods else "spawn"
        extra["multiprocessing_context"] = multiprocessing_context
    return DataLoader(
        dataset,  # type: ignore[arg-type]  # keys are (epoch, index) pairs
        batch_size=sampler.batch_size,
        sampler=_EpochKeys(sampler),
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=False,  # the sampler already dropped or padded
        generator=torch.Generator().manual_seed(dataset.seed),  # the global torch RNG is left alone
        **extra,
    )
