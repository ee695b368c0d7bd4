"""Training data: image sources, StyleGAN2-style preparation, the split, masked samples, a resumable sampler.

One module per job; every name below is importable from here (``from dpinpaint.train.data import X``):

- :mod:`.sources`: :class:`ImageSource`, the images of a folder (recursive) or of a ``.zip``
  archive in a fixed order (sorted by relative POSIX path / member name, so a folder and a zip
  of it agree); :func:`validate_source`, run before training: every image must open and be at
  least the model resolution on its short side, or training does not start;
- :func:`prepare_image` (in :mod:`dpinpaint.image_io`, re-exported here): centre crop to a square,
  Lanczos resize (what StyleGAN2's ``dataset_tool.py`` does; also used by :mod:`dpinpaint.evaluate`);
- :mod:`.split`: :func:`split_indices`, :func:`write_split`, :func:`read_split`: the split by file
  order (FFHQ convention: the last 5,000 images are the test set), recorded as ``split.json`` in
  the run folder and checked again on resume;
- :mod:`.dataset`: :class:`InpaintingDataset`, ``{"image", "known", "index"}`` samples whose mask,
  flip, optional colour change (:func:`adjust_colors`) and optional blur (:func:`random_blur`,
  both in :mod:`.augment`) are a function of ``(seed, epoch, image index)`` only, so they do not
  depend on workers or batching;
- :mod:`.sampler`: :class:`ResumableSampler`, a seeded permutation per epoch, sharded across
  ranks, whose state ``(epoch, position)`` resumes mid-epoch with exactly the remaining order;
- :mod:`.loader`: :func:`make_loader`, the ``DataLoader`` (workers, epoch-tagged keys, zip
  handles per process);
- :mod:`.checks`: the argument checks they share.

Tensors: ``image`` is ``(3, R, R)`` float32 in ``[-1, 1]``; ``known`` is ``(1, R, R)`` float32,
1 = observed, 0 = hole (the paper's ``M``; the public "white = fill" masks are its complement).
"""

from __future__ import annotations

from ...image_io import prepare_image
from .augment import (
    BLUR_SIGMA_RANGE,
    COLOR_GAMMA_RANGE,
    COLOR_SATURATION_RANGE,
    adjust_colors,
    random_blur,
    random_color_change,
)
from .dataset import DEFAULT_HOLE_RATIO, DEFAULT_REGULAR_PROBABILITY, InpaintingDataset
from .loader import make_loader
from .sampler import ResumableSampler
from .sources import DatasetReport, ImageSource, validate_source
from .split import FFHQ_TEST_COUNT, SPLIT_FILE, read_split, split_indices, write_split

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
    "COLOR_SATURATION_RANGE",
    "COLOR_GAMMA_RANGE",
    "BLUR_SIGMA_RANGE",
]
