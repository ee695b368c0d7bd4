"""Exceptions that users can cause.

Every error raised because of user input (a bad argument, a bad configuration, an
unusable backend, an unreadable file, a model that cannot be found) is a
:class:`DPInpaintError`. Subclasses also derive from the matching built-in exception, so
``except ValueError`` / ``except OSError`` keep working for callers that do not know this
package.
"""

from __future__ import annotations

__all__ = [
    "DPInpaintError",
    "ConfigError",
    "InvalidInputError",
    "ImageReadError",
    "BackendUnavailableError",
    "CheckpointError",
    "UnsupportedFormatError",
    "UnsafeCheckpointError",
    "ModelNotFoundError",
    "ModelNotCachedError",
    "ModelAccessError",
    "HubConnectionError",
    "DPInpaintWarning",
]


class DPInpaintError(Exception):
    """Base class of every error this package raises on purpose."""


class ConfigError(DPInpaintError, ValueError):
    """A :class:`~dpinpaint.ModelConfig` (or a sub-config) is inconsistent or unknown."""


class InvalidInputError(DPInpaintError, ValueError):
    """A tensor or argument passed to the library has the wrong shape, type or values."""


class ImageReadError(InvalidInputError):
    """An image or mask file is missing, empty, truncated or not an image."""


class BackendUnavailableError(DPInpaintError, RuntimeError):
    """An explicitly requested compute backend (e.g. torchvision's kernels) cannot load."""


class CheckpointError(DPInpaintError, ValueError):
    """A checkpoint (folder or weights file) is incomplete, corrupted or does not fit the model.

    Raised for missing / unexpected keys and shape mismatches (the message names the key),
    truncated or corrupted safetensors files, and folders that are not checkpoints.
    """


class UnsupportedFormatError(CheckpointError):
    """A weights file is in none of the formats this package reads (the message lists them)."""


class UnsafeCheckpointError(CheckpointError):
    """A pickle-based file refers to something outside the allow-list of harmless globals.

    Nothing from such a file is executed: loading stops at the first disallowed reference.
    """


class ModelNotFoundError(DPInpaintError, FileNotFoundError):
    """A model name, Hub repository, revision or file does not exist."""


class ModelNotCachedError(ModelNotFoundError):
    """Offline (``local_files_only=True`` or ``HF_HUB_OFFLINE=1``) and the model is not in the cache."""


class ModelAccessError(DPInpaintError, PermissionError):
    """A Hub repository is gated or private and the token (if any) does not grant access."""


class HubConnectionError(DPInpaintError, ConnectionError):
    """The Hub could not be reached (and the model is not cached)."""


class DPInpaintWarning(UserWarning):
    """Something worked but probably not as the caller meant (an empty mask, a nearly full mask)."""
