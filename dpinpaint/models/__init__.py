"""Networks: StyleGAN2 (G_s, D_s), the style encoder E_s, the feed-forward path E/G, its D, and DualPathNet."""

from .discriminator import PICNetDiscriminator
from .dual_path import DualPathNet, DualPathOutput
from .feedforward import FeedForwardEncoder, FeedForwardGenerator
from .fusion import DeformableFusion
from .spectral import apply_spectral_norm, fold_spectral_norm
from .style_encoder import StyleEncoder
from .stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "DualPathNet",
    "DualPathOutput",
    "StyleGAN2Generator",
    "StyleGAN2Discriminator",
    "StyleEncoder",
    "FeedForwardEncoder",
    "FeedForwardGenerator",
    "DeformableFusion",
    "PICNetDiscriminator",
    "apply_spectral_norm",
    "fold_spectral_norm",
]
