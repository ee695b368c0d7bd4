"""Batch inpainting of files and folders (what ``dpinpaint inpaint`` runs).

- :mod:`dpinpaint.batch.plan`: which files are read and written (:func:`plan_outputs`: images,
  masks, shards, output paths, outputs that exist), decided before any model is loaded;
- :mod:`dpinpaint.batch.runner`: :class:`BatchRunner` runs the plan (background decoding,
  batched network passes, atomic writes, one :class:`Record` per image).

Every name of the former ``dpinpaint/batch.py`` module is importable from here.
"""

from __future__ import annotations

from ..files import IMAGE_EXTENSIONS, find_images
from ..image_io.write import save_image
from .plan import (
    OUTPUT_FORMATS,
    OUTPUT_SUFFIXES,
    BatchPlan,
    Pair,
    check_writable,
    output_path,
    pair_masks,
    parse_shard,
    plan_outputs,
    select_shard,
)
from .runner import BatchRunner, Record, Summary

__all__ = [
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "OUTPUT_SUFFIXES",
    "Pair",
    "Record",
    "Summary",
    "BatchPlan",
    "BatchRunner",
    "find_images",
    "pair_masks",
    "select_shard",
    "parse_shard",
    "output_path",
    "plan_outputs",
    "check_writable",
    "save_image",
]
