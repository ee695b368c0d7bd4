"""Low-level operators: deformable convolution, FIR filtering and fused activations."""

from .deform_conv import modulated_deform_conv2d, torchvision_kernels_available

__all__ = ["modulated_deform_conv2d", "torchvision_kernels_available"]
