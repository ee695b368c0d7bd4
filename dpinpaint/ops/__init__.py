"""Low-level operators: deformable convolution, FIR filtering, fused activations and Poisson blending."""

from .deform_conv import modulated_deform_conv2d, torchvision_kernels_available
from .harmonic import flat_detail, harmonic_fill, local_contrast, poisson_blend

__all__ = [
    "modulated_deform_conv2d",
    "torchvision_kernels_available",
    "harmonic_fill",
    "poisson_blend",
    "local_contrast",
    "flat_detail",
]
