"""Low-level operators: deformable convolution, FIR filtering, fused activations and Poisson blending."""

from .deform_conv import modulated_deform_conv2d, torchvision_kernels_available
from .harmonic import harmonic_fill, poisson_blend

__all__ = ["modulated_deform_conv2d", "torchvision_kernels_available", "harmonic_fill", "poisson_blend"]
