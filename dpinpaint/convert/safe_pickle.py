"""Reading pickle-based weight files without executing anything from them.

Three containers hold pickles:

- PyTorch files written by ``torch.save`` (rosinality checkpoints; zip or the legacy
  non-zip layout): read with ``torch.load(weights_only=True)``, with exactly one extra
  allowed class (``argparse.Namespace``, which rosinality stores under ``args``) made
  safe for the duration of the call only (:class:`torch.serialization.safe_globals`).
- NVIDIA network pickles (stylegan2-ada-pytorch / stylegan3): plain pickles whose
  modules go through ``torch_utils.persistence``, which embeds each module's source code
  and ``exec``-s it on load. :class:`RestrictedUnpickler` maps every global name it meets
  through an allow-list of functions (:mod:`.pickle_allowlist`): a persistent object becomes a
  :class:`PersistentObject` holding its state (parameters, buffers, sub-modules, init
  arguments); the embedded source is kept as text and never executed. Tensors are
  rebuilt from their storages, which torch pickles as ``torch.save`` bytes: those are
  read with ``torch.load(weights_only=True)`` (``torch.storage._load_from_bytes`` itself
  turns weights-only loading off, so it is never called).
- NVIDIA TensorFlow pickles (``dnnlib.tflib.network.Network`` objects): the same
  unpickler turns each network into a :class:`TFNetwork` holding its state (its numpy
  variables and the build function's source, never executed).

Any other global name (``os.system``, ``builtins.eval``, any module to import) stops
loading with :class:`~dpinpaint.errors.UnsafeCheckpointError` before anything is
imported or called.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import types
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from ..errors import CheckpointError, DPInpaintError, UnsafeCheckpointError, UnsupportedFormatError
from .file_faults import check_loaded, raised_by_the_file, read_failure, weights_only_load
from .pickle_allowlist import NVIDIA_PYTORCH_GLOBALS, NVIDIA_TF_GLOBALS, EasyDict, PersistentObject, TFNetwork

__all__ = [
    "ACCEPTED_FORMATS",
    "NVIDIA_PYTORCH_GLOBALS",
    "NVIDIA_TF_GLOBALS",
    "PersistentObject",
    "TFNetwork",
    "EasyDict",
    "RestrictedUnpickler",
    "detect_container",
    "load_pickle",
    "check_tensor_extents",
    "load_torch_file",
    "unsupported_format_error",
]

logger = logging.getLogger(__name__)

#: Human-readable list of what :func:`dpinpaint.convert.load_stylegan2` reads.
ACCEPTED_FORMATS: tuple[str, ...] = (
    "rosinality/stylegan2-pytorch checkpoint (.pt written by torch.save, holding 'g_ema' or a generator state dict)",
    "NVIDIA stylegan2-ada-pytorch / stylegan3 network pickle (.pkl holding 'G_ema', StyleGAN2 architecture)",
    "NVIDIA TensorFlow StyleGAN2 network pickle (.pkl holding dnnlib.tflib.network.Network objects (G, D, Gs))",
    "a dpinpaint StyleGAN2 checkpoint folder (config.json + stylegan2.safetensors, written by 'dpinpaint convert')",
)

# Magic number that opens a legacy (non-zip) torch.save file: pickle protocol 2, LONG1 of
# 10 bytes, 0x1950a86a20f9469cfc6c little-endian.
_TORCH_LEGACY_MAGIC = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little")


def unsupported_format_error(path: str | os.PathLike[str], why: str) -> UnsupportedFormatError:
    """An :class:`UnsupportedFormatError` naming the file, the reason and the accepted formats."""
    formats = "".join(f"\n  - {f}" for f in ACCEPTED_FORMATS)
    return UnsupportedFormatError(f"{path}: {why}. Accepted StyleGAN2 formats:{formats}")


def detect_container(path: str | os.PathLike[str]) -> str:
    """Which container ``path`` is, from its first bytes (nothing is unpickled).

    Returns:
        ``"folder"`` (a dpinpaint StyleGAN2 checkpoint folder), ``"torch-zip"``,
        ``"torch-legacy"`` or ``"pickle"``.

    Raises:
        CheckpointError: the path does not exist or the file is empty.
        UnsupportedFormatError: none of the above (the message lists the accepted formats).
    """
    p = Path(path)
    if p.is_dir():
        if (p / "config.json").is_file():
            return "folder"
        raise unsupported_format_error(p, "this folder has no config.json")
    if not p.is_file():
        raise CheckpointError(f"{p} does not exist")
    size = p.stat().st_size
    if size == 0:
        raise CheckpointError(f"{p} is empty (an interrupted download or copy?); download it again")
    with open(p, "rb") as fh:
        head = fh.read(16)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(p) as zf:
                names = zf.namelist()
        except Exception as exc:  # BadZipFile, and what zipfile's parsing raises on other damage
            if not raised_by_the_file(exc):
                raise
            raise CheckpointError(
                f"{p} is a damaged or truncated zip file ({exc}): if it is a torch.save checkpoint, download it again"
            ) from exc
        if any(n.endswith("data.pkl") for n in names):
            return "torch-zip"
        raise unsupported_format_error(p, "this zip archive is not a torch.save file (it has no data.pkl)")
    if head.startswith(_TORCH_LEGACY_MAGIC):
        return "torch-legacy"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{":
        raise unsupported_format_error(
            p, "this looks like a bare safetensors file; pass the folder that holds it and its config.json"
        )
    raise unsupported_format_error(p, f"unrecognised file header {head[:8]!r}")


# --------------------------------------------------------------------------------------------
# torch.save files
# --------------------------------------------------------------------------------------------
def load_torch_file(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU, allowing ``argparse.Namespace`` for this call only.

    What it yields is checked by :func:`~.file_faults.check_loaded` (dense tensors within their
    storages, bounded nesting) before any converter sees it.

    Raises:
        UnsafeCheckpointError: the pickle refers to a global outside torch's weights-only
            allow-list plus ``argparse.Namespace`` (nothing was executed).
        CheckpointError: the file is truncated, corrupted or holds what no weights file holds.
    """
    loaded = weights_only_load(path, str(path), "the torch.save pickle", allow=(argparse.Namespace,))
    return check_loaded(loaded, str(path))


#: The pure-Python unpickler, whose opcodes can be hooked one by one (typeshed calls it the C one).
_PythonUnpickler: Any = pickle._Unpickler


class RestrictedUnpickler(_PythonUnpickler):
    """An unpickler whose every global reference goes through ``allowed``.

    ``allowed`` maps ``(module, name)`` to the object returned for it (functions and
    stub classes written in :mod:`.pickle_allowlist`); anything else raises
    :class:`UnsafeCheckpointError` without importing the module. Persistent ids are refused.

    ``BUILD`` (set an object's state) is only allowed on objects this load created, never on
    an allow-listed global itself, a class, a function or a module: otherwise a file could set
    attributes of the allow-list's functions or classes for the rest of the process. That check
    needs the pure-Python unpickler (the C one cannot be hooked per opcode); weight pickles
    hold few opcodes (their arrays are single byte strings), so it costs little.
    """

    dispatch: ClassVar[dict[int, Callable[..., None]]] = dict(_PythonUnpickler.dispatch)

    def __init__(self, file: Any, allowed: dict[tuple[str, str], Any], source: str) -> None:
        super().__init__(file)
        self._allowed = allowed
        self._source = source
        self._globals: set[int] = set()

    def load_build(self) -> None:
        target = self.stack[-2] if len(self.stack) >= 2 else None
        if id(target) in self._globals or isinstance(
            target, (type, types.FunctionType, types.BuiltinFunctionType, types.ModuleType)
        ):
            raise UnsafeCheckpointError(
                f"{self._source}: refused to load: the pickle sets the state of "
                f"{getattr(target, '__qualname__', type(target).__name__)!r}, a global rather than an object it "
                "built. Nothing from the file was imported or executed."
            )
        _PythonUnpickler.load_build(self)

    dispatch[pickle.BUILD[0]] = load_build

    def find_class(self, module: str, name: str) -> Any:
        try:
            found = self._allowed[(module, name)]
            self._globals.add(id(found))
            return found
        except KeyError:
            raise UnsafeCheckpointError(
                f"{self._source}: refused to load: the pickle refers to '{module}.{name}', which is not in the "
                "allow-list of harmless globals (tensors, numpy arrays, NVIDIA persistence records, containers). "
                "Nothing from the file was imported or executed. If this is a genuine network pickle, convert it "
                "with the tools of the repository that wrote it to a plain state dict."
            ) from None

    def persistent_load(self, pid: Any) -> Any:
        raise UnsafeCheckpointError(f"{self._source}: refused to load: unexpected persistent id in the pickle")


#: Kept under its former name: :func:`~.file_faults.check_loaded` checks every tensor (and more).
check_tensor_extents = check_loaded


def load_pickle(path: str | os.PathLike[str], allowed: dict[tuple[str, str], Any] | None = None) -> Any:
    """Unpickle ``path`` with :class:`RestrictedUnpickler` (default allow-list: NVIDIA PyTorch + TF).

    Raises:
        UnsafeCheckpointError: a global outside the allow-list.
        CheckpointError: the pickle is truncated or corrupted.
    """
    if allowed is None:
        allowed = {**NVIDIA_TF_GLOBALS, **NVIDIA_PYTORCH_GLOBALS}
    source = str(path)
    try:
        with open(path, "rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            loaded = RestrictedUnpickler(fh, allowed, source).load()
    except DPInpaintError:
        raise
    except Exception as exc:
        # The unpickler's own failures (a GET of a missing memo key, an opcode on an empty stack or
        # on values of the wrong type, a truncated stream) are the file's; what this package's
        # allow-list functions raise other than a DPInpaintError is a bug and shows as it is.
        if not raised_by_the_file(exc):
            raise
        raise read_failure(exc, source) from exc
    return check_loaded(loaded, source)
