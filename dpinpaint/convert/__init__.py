"""Import pretrained StyleGAN2 checkpoints, safely.

:func:`load_stylegan2` reads

- rosinality/stylegan2-pytorch ``.pt`` checkpoints (``torch.load(weights_only=True)``
  plus ``argparse.Namespace`` for that call only),
- NVIDIA stylegan2-ada-pytorch / stylegan3 network pickles (StyleGAN2 architecture),
- NVIDIA's TensorFlow StyleGAN2 pickles (no TensorFlow needed),
- a folder written by :func:`save_stylegan2_checkpoint` / ``dpinpaint convert``,

and returns this package's :class:`~dpinpaint.models.stylegan2.StyleGAN2Generator` (and
discriminator), with the architecture inferred from the tensors. Pickles are read by a
restricted unpickler (:mod:`.safe_pickle`): nothing from a file is imported or executed.

Modules: :mod:`.load` (format detection, :func:`load_stylegan2`), :mod:`.conversion`
(:func:`convert_stylegan2`, the sample grid), :mod:`.stylegan2_folder` (the converted folder),
:mod:`.weights` (what every converter returns), one converter per format (:mod:`.rosinality`,
:mod:`.nvidia_pytorch`, :mod:`.nvidia_tf`) and :mod:`.safe_pickle` (the restricted unpickler).
This module only re-exports the public names (and, by alias, three names it used to hold).
"""

from __future__ import annotations

from .conversion import ConversionReport, convert_stylegan2, render_sample_grid
from .conversion import sample_seeds as sample_seeds
from .load import W_AVG_SAMPLES as W_AVG_SAMPLES
from .load import count_parameters, load_stylegan2
from .safe_pickle import ACCEPTED_FORMATS
from .stylegan2_folder import (
    STYLEGAN2_CONFIG_NAME,
    STYLEGAN2_WEIGHTS_NAME,
    ConversionInfo,
    is_stylegan2_checkpoint,
    load_stylegan2_checkpoint,
    save_stylegan2_checkpoint,
)
from .weights import ConvertedWeights as ConvertedWeights  # like the two aliases above: kept reachable here

__all__ = [
    "ACCEPTED_FORMATS",
    "ConversionInfo",
    "ConversionReport",
    "load_stylegan2",
    "convert_stylegan2",
    "save_stylegan2_checkpoint",
    "load_stylegan2_checkpoint",
    "is_stylegan2_checkpoint",
    "render_sample_grid",
    "count_parameters",
    "STYLEGAN2_CONFIG_NAME",
    "STYLEGAN2_WEIGHTS_NAME",
]
