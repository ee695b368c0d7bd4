"""Writing files so that a killed process never leaves a truncated file under the final name."""

from __future__ import annotations

import errno
import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

__all__ = ["atomic_write", "TEMP_SUFFIX", "remove_stale_temporaries", "temporary_name"]

#: Suffix of the temporary files :func:`atomic_write` creates (hidden: they start with a dot).
TEMP_SUFFIX = ".dpinpaint-tmp"


def temporary_name(path: Path) -> Path:
    """A fresh temporary path next to ``path``: ``.<name>.<random>.dpinpaint-tmp``."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}{TEMP_SUFFIX}")


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[str], object],
    verify: Callable[[str], None] | None = None,
) -> None:
    """Call ``write(temporary_path)``, check the file, then rename it over ``path``.

    The temporary file lives in the same folder (so the rename is atomic on POSIX and
    Windows) and is removed if ``write`` or ``verify`` raises. A process killed part-way leaves
    at most a hidden ``.<name>.*.dpinpaint-tmp`` file, never a partial ``path``. The file gets the
    permissions of any new file (``0o666`` minus the umask), not ``mkstemp``'s ``0o600``, even
    when ``write`` replaces the temporary file by one of its own (``safetensors`` does).

    ``verify(temporary_path)`` raises if what was written is not whole: some writers (Pillow's
    JPEG encoder) ignore a short ``write(2)`` on a full disk or past a file-size limit and
    report success, so only reading the file back tells. An empty file is always refused.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        tmp = temporary_name(path)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:  # pragma: no cover - 48 random bits
            continue
        break
    if os.name == "nt":  # pragma: no cover - an open handle would block the rename there; no flock either
        os.close(fd)
        _write_verified(path, tmp, write, verify)
        return
    # Locked until the file is renamed: remove_stale_temporaries of another run leaves it alone.
    _lock(fd, blocking=True)
    try:
        _write_verified(path, tmp, write, verify)
    finally:
        os.close(fd)


def _write_verified(
    path: Path, tmp: Path, write: Callable[[str], object], verify: Callable[[str], None] | None
) -> None:
    mode = os.stat(tmp).st_mode & 0o777  # what the umask allows a new file
    try:
        write(str(tmp))
        if os.stat(tmp).st_size == 0:
            raise OSError(errno.ENOSPC, f"nothing was written to {path} (is the disk full?)")
        if verify is not None:
            verify(str(tmp))
        if os.stat(tmp).st_mode & 0o777 != mode:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def remove_stale_temporaries(folder: str | os.PathLike[str], targets: Iterable[Path] | None = None) -> int:
    """Delete the temporary files a killed :func:`atomic_write` left under ``folder``; returns how many.

    A temporary that a live :func:`atomic_write` is writing (in any process) is locked and kept.

    With ``targets``, only the temporaries of those final paths are deleted (so a run does not
    delete the files that another run, e.g. another ``--shard`` writing into the same folder,
    is writing right now).
    """
    count = 0
    if targets is None:
        candidates: Iterable[Path] = Path(folder).rglob(f".*{TEMP_SUFFIX}")
    else:
        wanted: dict[Path, set[str]] = {}
        for target in targets:
            wanted.setdefault(target.parent, set()).add(target.name)
        candidates = (
            tmp
            for parent, names in wanted.items()
            if parent.is_dir()
            for tmp in parent.glob(f".*{TEMP_SUFFIX}")
            if tmp.name[1:].rsplit(".", 2)[0] in names
        )
    for tmp in list(candidates):
        if not tmp.is_file():
            continue
        try:
            fd = os.open(tmp, os.O_RDONLY)
        except OSError:  # gone already, or not ours to read
            continue
        try:
            if not _lock(fd, blocking=False):
                continue  # a live atomic_write (another run, another shard) is writing it
            tmp.unlink(missing_ok=True)
            count += 1
        finally:
            os.close(fd)
    return count


def _lock(fd: int, *, blocking: bool) -> bool:
    """Take an exclusive advisory lock (``flock``) on ``fd``; False if another process holds one.

    Where ``flock`` does not exist (Windows) this always succeeds, as before locks were used.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # a file system without locks: behave as without them
        return True
    return True
