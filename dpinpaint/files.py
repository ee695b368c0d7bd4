"""Writing files so that a killed process never leaves a truncated file under the final name."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

__all__ = ["atomic_write", "TEMP_SUFFIX", "remove_stale_temporaries"]

#: Suffix of the temporary files :func:`atomic_write` creates (hidden: they start with a dot).
TEMP_SUFFIX = ".dpinpaint-tmp"


def atomic_write(path: str | os.PathLike[str], write: Callable[[str], object]) -> None:
    """Call ``write(temporary_path)``, then rename the temporary file over ``path``.

    The temporary file lives in the same folder (so the rename is atomic on POSIX and
    Windows) and is removed if ``write`` raises. A process killed part-way leaves at most a
    hidden ``.<name>.*.dpinpaint-tmp`` file, never a partial ``path``.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> int:
    """Delete the temporary files a killed :func:`atomic_write` left under ``folder``; returns how many."""
    count = 0
    for tmp in Path(folder).rglob(f".*{TEMP_SUFFIX}"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            count += 1
    return count
