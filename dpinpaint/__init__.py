"""dpinpaint: Dual-path Image Inpainting with Auxiliary GAN Inversion (CVPR 2022).

``import dpinpaint`` is light: the public names below are imported from their modules on first
use (PEP 562), so a command-line error, ``dpinpaint --version`` or ``dpinpaint list`` need not
load torch. It never imports torchvision: its compiled kernels are optional and probed lazily
by :mod:`dpinpaint.ops`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

if TYPE_CHECKING:
    from .config import FeedForwardConfig, ModelConfig, StyleEncoderConfig, StyleGAN2Config, get_preset, list_presets
    from .convert import load_stylegan2
    from .errors import DPInpaintError
    from .inpainter import Inpainter, InpaintResult
    from .models import DualPathNet, DualPathOutput
    from .registry import PretrainedModel, list_models

#: Where each public name lives.
_EXPORTS = {
    "Inpainter": "inpainter",
    "InpaintResult": "inpainter",
    "list_models": "registry",
    "PretrainedModel": "registry",
    "load_stylegan2": "convert",
    "ModelConfig": "config",
    "StyleGAN2Config": "config",
    "StyleEncoderConfig": "config",
    "FeedForwardConfig": "config",
    "get_preset": "config",
    "list_presets": "config",
    "DualPathNet": "models",
    "DualPathOutput": "models",
    "DPInpaintError": "errors",
}

__all__ = [
    "Inpainter",
    "InpaintResult",
    "list_models",
    "PretrainedModel",
    "load_stylegan2",
    "ModelConfig",
    "StyleGAN2Config",
    "StyleEncoderConfig",
    "FeedForwardConfig",
    "get_preset",
    "list_presets",
    "DualPathNet",
    "DualPathOutput",
    "DPInpaintError",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'dpinpaint' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
