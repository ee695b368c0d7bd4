"""dpinpaint: Dual-path Image Inpainting with Auxiliary GAN Inversion (CVPR 2022).

``import dpinpaint`` never imports torchvision: its compiled kernels are optional and
probed lazily by :mod:`dpinpaint.ops`.
"""

from .config import FeedForwardConfig, ModelConfig, StyleEncoderConfig, StyleGAN2Config, get_preset, list_presets
from .convert import load_stylegan2
from .errors import DPInpaintError
from .inpainter import Inpainter, InpaintResult
from .models import DualPathNet, DualPathOutput
from .registry import PretrainedModel, list_models
from .version import __version__

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
