"""Files: writing them so that a killed process never leaves a truncated file under the final name
(:func:`atomic_write`), and finding the images among inputs and folders (:func:`find_images`)."""

from __future__ import annotations

import errno
import logging
import os
import secrets
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from .errors import InvalidInputError

__all__ = [
    "atomic_write",
    "TEMP_SUFFIX",
    "remove_stale_temporaries",
    "temporary_name",
    "IMAGE_EXTENSIONS",
    "is_image_file",
    "find_images",
]

logger = logging.getLogger(__name__)

#: File extensions read as images (case-insensitive).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")

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


def is_image_file(path: Path) -> bool:
    """Whether ``path`` has an image extension (:data:`IMAGE_EXTENSIONS`) and is not hidden."""
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def find_images(
    inputs: Iterable[str | os.PathLike[str]],
    *,
    recursive: bool = False,
    exclude_suffix: str | None = None,
    exclude_dirs: Iterable[str | os.PathLike[str]] = (),
    on_skip: Callable[[Path, str], None] | None = None,
) -> list[tuple[Path, str]]:
    """``(file, relative path)`` of every image among ``inputs`` (files, and the images in folders).

    Folders are listed in sorted order (sub-folders with ``recursive``); a file named
    directly is taken whatever its extension. Files whose stem ends with ``exclude_suffix``
    (masks sitting next to their images), hidden files and files under ``exclude_dirs``
    (the output folder, when it is strictly inside an input folder) are left out of folders.
    What a folder holds but cannot be read is reported to ``on_skip(path, why)`` (default: a
    logged warning), never dropped silently: folders that cannot be listed, symbolic links to
    folders (not followed, so no loop), broken links and image names that are no regular file
    (a FIFO, a socket).

    Raises:
        InvalidInputError: an input that does not exist.
    """
    excluded = [Path(d).resolve() for d in exclude_dirs]
    if on_skip is None:
        on_skip = _log_skip

    found: list[tuple[Path, str]] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            root = path.resolve()
            # Only folders strictly inside this input: writing back into the input folder itself is allowed.
            inside = [d for d in excluded if d != root and d.is_relative_to(root)]
            for f in sorted(_folder_images(path, recursive, on_skip)):
                if exclude_suffix and f.stem.endswith(exclude_suffix):
                    continue
                if inside and any(f.resolve().is_relative_to(d) for d in inside):
                    continue
                found.append((f, f.relative_to(path).as_posix()))
        elif path.is_file():
            found.append((path, path.name))
        else:
            raise InvalidInputError(f"input {path} does not exist")
    return found


def _folder_images(folder: Path, recursive: bool, on_skip: Callable[[Path, str], None]) -> Iterator[Path]:
    """The image files of ``folder`` (and its sub-folders), reporting what cannot be read."""

    def unreadable(exc: OSError) -> None:
        on_skip(Path(exc.filename or folder), f"cannot list this folder ({exc.strerror or exc})")

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unreadable):
        here = Path(dirpath)
        for name in dirnames if recursive else ():
            if (here / name).is_symlink():
                on_skip(here / name, "a symbolic link to a folder, not followed (name it as an input to include it)")
        for name in filenames:
            f = here / name
            if not is_image_file(f):
                continue
            if f.is_file():
                yield f
            elif f.is_symlink() and not f.exists():
                on_skip(f, "a broken symbolic link")
            else:
                on_skip(f, "not a regular file (a FIFO, socket or device)")
        if not recursive:
            break


def _log_skip(path: Path, why: str) -> None:
    logger.warning("skipped %s: %s", path, why)
