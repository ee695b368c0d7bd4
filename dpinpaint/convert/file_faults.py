"""Telling a weight file's faults from this package's bugs, and checking what a file yields.

Every failure a file can cause surfaces as a :class:`~dpinpaint.errors.CheckpointError` (or
:class:`~dpinpaint.errors.UnsafeCheckpointError`), and nothing else is swallowed:

- :func:`raised_by_the_file` decides whether an exception that came out of reading a file was
  raised by the reading machinery (``pickle``'s opcodes, ``torch.load``'s reader, a builtin
  applied to the file's values: a missing memo key, an opcode on an empty stack, a bad zip
  entry) or by this package's own code (a bug, which must show as it is). Readers catch
  ``Exception`` only around the file's parsing and re-raise whatever this package raised;
- :func:`weights_only_load` is the one ``torch.load(weights_only=True)`` call of the converters
  (``torch.save`` files and the tensor storages inside NVIDIA pickles), translating its failures;
- :func:`check_loaded` walks what a file yielded, once, before any converter touches it: every
  tensor must be dense, in memory, and address no more elements than its storage holds; the
  structure must be at most :data:`MAX_DEPTH` levels deep (a converter formatting or hashing a
  100,000-level structure would exhaust the interpreter's recursion limit); shared and cyclic
  references are visited once;
- :func:`describe` formats a file's value for an error message without the failures that
  ``repr`` itself can raise on hostile values (integers of more than 4300 digits).
"""

from __future__ import annotations

import io
import os
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, DPInpaintError, UnsafeCheckpointError

__all__ = ["MAX_DEPTH", "check_loaded", "describe", "raised_by_the_file", "read_failure", "weights_only_load"]

#: Deepest nesting a weight file may hold (real files: under 20 levels).
MAX_DEPTH = 64

# Frames name their files as the modules were imported (not resolved): compare with both spellings.
_PACKAGE = (
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep,
    str(Path(__file__).resolve().parents[1]) + os.sep,
)
_UNSUPPORTED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def raised_by_the_file(exc: BaseException) -> bool:
    """True unless the innermost frame of ``exc``'s traceback is this package's code.

    An exception raised inside the pickle machinery, ``torch.load`` or a builtin called with the
    file's values (their innermost Python frame is outside this package) is the file's fault; one
    raised by a line of this package (an allow-list function, a converter) is a bug to be shown.
    """
    tb, innermost = exc.__traceback__, None
    while tb is not None:
        innermost = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return innermost is None or not os.path.abspath(innermost).startswith(_PACKAGE)  # str.startswith takes a tuple


def read_failure(exc: BaseException, source: str) -> CheckpointError:
    """The :class:`CheckpointError` for a file that the reading machinery could not parse."""
    if isinstance(exc, EOFError):
        return CheckpointError(f"{source} is truncated (the pickle ends early); download it again")
    if isinstance(exc, RecursionError):
        return CheckpointError(f"{source} is corrupted or hostile: it is nested too deeply to read")
    if isinstance(exc, MemoryError):
        return CheckpointError(f"{source} is corrupted (reading it ran out of memory); download it again")
    return CheckpointError(
        f"{source} is truncated or corrupted and cannot be read ({type(exc).__name__}: {str(exc)[:200]}); "
        "download it again"
    )


def weights_only_load(
    data: str | os.PathLike[str] | bytes, source: str, what: str, allow: tuple[type, ...] = ()
) -> Any:
    """``torch.load(data, weights_only=True)`` on CPU, with the classes ``allow`` allowed for this call only.

    ``what`` names the pickle in messages (``"the torch.save pickle"``).

    Raises:
        UnsafeCheckpointError: a global outside torch's weights-only allow-list plus ``allow``
            (nothing was executed).
        CheckpointError: anything else the bytes make torch's reader fail on.
    """
    file: Any = io.BytesIO(data) if isinstance(data, bytes) else data
    try:
        with torch.serialization.safe_globals(list(allow)), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return torch.load(file, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        match = _UNSUPPORTED_GLOBAL.search(text)
        if match or "Weights only load failed" in text:
            name = f"'{match.group(1)}'" if match else "a global outside the allow-list"
            raise UnsafeCheckpointError(
                f"{source}: refused to load: {what} refers to {name}, which a weights file never needs (allowed: "
                "tensors, storages, containers, argparse.Namespace). Nothing from the file was executed. "
                "Re-export the weights as a plain state dict if the file is yours."
            ) from None
        raise read_failure(exc, source) from exc
    except Exception as exc:
        if isinstance(exc, DPInpaintError) or not raised_by_the_file(exc):
            raise
        raise read_failure(exc, source) from exc


def describe(value: Any, limit: int = 60) -> str:
    """A short text for a file's ``value`` in an error message (never raises on hostile values)."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return repr(value) if value.bit_length() <= 64 else f"an integer of {value.bit_length()} bits"
    if isinstance(value, (str, bytes)):
        text = repr(value[:limit])
        return text + ("..." if len(value) > limit else "")
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _check_tensor(t: torch.Tensor, source: str) -> None:
    if t.layout != torch.strided:
        raise CheckpointError(
            f"{source}: a tensor of shape {tuple(t.shape)} is stored as {t.layout} (sparse or quantised); a weights "
            "file holds dense tensors: re-export it with .to_dense() on every tensor"
        )
    if t.device.type != "cpu":
        raise CheckpointError(
            f"{source}: a tensor of shape {tuple(t.shape)} is on the {t.device.type!r} device and holds no values "
            "(a meta tensor?); re-export the file from a model whose weights are loaded"
        )
    held = t.untyped_storage().nbytes() // max(1, t.element_size())
    if t.numel() > held:
        raise CheckpointError(
            f"{source}: a tensor of shape {tuple(t.shape)} ({t.numel():,} elements) is an expanded view of "
            f"{held:,} stored elements; a weights file never holds one (the file is corrupted or hostile)"
        )


def check_loaded(obj: Any, source: str) -> Any:
    """``obj`` unchanged if it is fit for a converter, else :class:`CheckpointError` (see the module docstring).

    Walks dict keys and values, lists, tuples, sets and objects' ``__dict__`` (iteratively: the
    walk itself never recurses).
    """
    seen: set[int] = set()
    todo: list[tuple[Any, int]] = [(obj, 0)]
    while todo:
        item, depth = todo.pop()
        if id(item) in seen or isinstance(item, (str, bytes, bytearray, int, float, complex, type(None))):
            continue
        seen.add(id(item))
        if depth > MAX_DEPTH:
            raise CheckpointError(
                f"{source}: the data is nested more than {MAX_DEPTH} levels deep; a weights file never is "
                "(the file is corrupted or hostile)"
            )
        if isinstance(item, torch.Tensor):
            _check_tensor(item, source)
            continue
        children: Any = ()
        if isinstance(item, dict):
            children = [*item.keys(), *item.values()]
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = item
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            children = vars(item).values()
        todo.extend((child, depth + 1) for child in children)
    return obj
