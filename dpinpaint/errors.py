"""Exceptions that users can cause.

Every error raised because of user input (a bad argument, a bad configuration, an
unusable backend) is a :class:`DPInpaintError`. Subclasses also derive from the
matching built-in exception, so ``except ValueError`` keeps working for callers that
do not know this package.
"""

from __future__ import annotations

__all__ = [
    "DPInpaintError",
    "ConfigError",
    "InvalidInputError",
    "BackendUnavailableError",
]


class DPInpaintError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DPInpaintError, ValueError):
    """A :class:`~dpinpaint.ModelConfig` (or a sub-config) is inconsistent or unknown."""


class InvalidInputError(DPInpaintError, ValueError):
    """A tensor or argument passed to the library has the wrong shape, type or values."""


class BackendUnavailableError(DPInpaintError, RuntimeError):
    """An explicitly requested compute backend (e.g. torchvision's kernels) cannot load."""
