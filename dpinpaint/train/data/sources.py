"""Training images: a folder (recursive) or a zip archive in a fixed order, and their check before training."""

from __future__ import annotations

import io
import os
import threading
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, UnidentifiedImageError

from ...errors import ImageReadError, InvalidInputError
from ...image_io import IMAGE_EXTENSIONS, decode_image, open_image_file, too_small
from .checks import check_positive

__all__ = ["ImageSource", "DatasetReport", "validate_source", "MAX_MEMBER_BYTES"]

_MAX_NAMED = 5  # offenders named in a validation error
#: The largest archive member read (uncompressed, as its zip header declares; zipfile never reads
#: past that). 256 MiB holds a 64-megapixel image in any format; a zip bomb's member is refused
#: before anything is decompressed.
MAX_MEMBER_BYTES = 256 * 1024 * 1024


def _decode(data: bytes, label: str) -> Image.Image:
    """Decode image bytes fully, applying the EXIF orientation (:func:`dpinpaint.image_io.decode_image`)."""
    if not data:
        raise ImageReadError(f"image {label} is empty (0 bytes)")
    return decode_image(io.BytesIO(data), label)[0]


def _is_image_name(relative: str) -> bool:
    parts = relative.split("/")
    if any(p.startswith(".") or p == "__MACOSX" for p in parts):
        return False
    return os.path.splitext(parts[-1])[1].lower() in IMAGE_EXTENSIONS


def _list_folder(root: Path) -> list[str]:
    """Relative POSIX paths of the images under ``root`` (symlinked folders followed once; hidden ones skipped)."""
    found: list[str] = []
    seen: set[str] = set()
    for folder, dirs, files in os.walk(root, followlinks=True):
        real = os.path.realpath(folder)
        if real in seen:  # a symlink loop or a folder linked twice
            dirs[:] = []
            continue
        seen.add(real)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # a deterministic walk
        rel = Path(folder).relative_to(root).as_posix()
        for name in files:
            relative = name if rel == "." else f"{rel}/{name}"
            if _is_image_name(relative):
                found.append(relative)
    return sorted(found)


class ImageSource:
    """The images of a folder (recursive) or a ``.zip`` archive, in a fixed order.

    Images are the files with an extension of :data:`dpinpaint.image_io.IMAGE_EXTENSIONS`
    (any case); hidden files, files in hidden folders and ``__MACOSX`` entries are skipped.
    :attr:`names` are relative POSIX paths (folder) or member names (zip), sorted as strings,
    so a zip of a folder lists the same names in the same order.

    A zip is opened lazily, once per process: a copy made by pickling or inherited by ``fork``
    (DataLoader workers) opens its own handle on first use, never sharing a file offset.

    Raises:
        InvalidInputError: the path does not exist, is neither a folder nor a zip archive, the
            zip is corrupted, or there is no image in it.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        p = Path(path).expanduser()
        if not p.exists():
            raise InvalidInputError(f"training data {p} does not exist")
        self.path = p.resolve()
        self._zip: zipfile.ZipFile | None = None
        self._zip_pid = -1
        self._lock = threading.Lock()
        self._members: list[zipfile.ZipInfo] = []
        if p.is_dir():
            self.kind = "folder"
            self._names = _list_folder(p)
        elif p.is_file() and zipfile.is_zipfile(p):
            self.kind = "zip"
            try:
                with zipfile.ZipFile(p) as zf:
                    infos = [i for i in zf.infolist() if not i.is_dir() and _is_image_name(i.filename)]
            except (zipfile.BadZipFile, OSError) as exc:
                raise InvalidInputError(f"training data {p} is not a readable zip archive: {exc}") from exc
            self._members = sorted(infos, key=lambda i: i.filename)
            self._names = [i.filename for i in self._members]
        elif p.suffix.lower() == ".zip":
            raise InvalidInputError(f"training data {p} is not a valid zip archive (corrupted or truncated?)")
        else:
            raise InvalidInputError(f"training data {p} is neither a folder nor a .zip archive of images")
        if not self._names:
            where = "folder" if self.kind == "folder" else "zip archive"
            raise InvalidInputError(
                f"training data {where} {p} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)}"
                f"{', recursively' if self.kind == 'folder' else ''}; hidden files are skipped)"
            )

    def __len__(self) -> int:
        return len(self._names)

    def __repr__(self) -> str:
        return f"ImageSource({str(self.path)!r}, kind={self.kind!r}, images={len(self)})"

    @property
    def names(self) -> list[str]:
        """The images' relative paths / member names, in order (a copy)."""
        return list(self._names)

    def label(self, i: int) -> str:
        """A readable location of image ``i`` for messages: the file, or ``archive.zip:member``."""
        return str(self.path / self._names[i]) if self.kind == "folder" else f"{self.path}:{self._names[i]}"

    def _archive(self) -> zipfile.ZipFile:
        with self._lock:
            if self._zip is None or self._zip_pid != os.getpid():
                self._zip = zipfile.ZipFile(self.path)  # an inherited handle (fork) is dropped, not closed
                self._zip_pid = os.getpid()
            return self._zip

    def read_bytes(self, i: int) -> bytes:
        """The raw bytes of image ``i``.

        Raises:
            ImageReadError: the file or member cannot be read.
        """
        try:
            if self.kind == "folder":
                return (self.path / self._names[i]).read_bytes()
            archive = self._archive()
            info = self._members[i]
            if info.file_size > MAX_MEMBER_BYTES:
                raise ImageReadError(
                    f"{self.label(i)} decompresses to {info.file_size:,} bytes, more than the "
                    f"{MAX_MEMBER_BYTES:,} an image may take (a zip bomb?); remove it from the archive"
                )
            return archive.read(info)
        except (OSError, zipfile.BadZipFile, ValueError) as exc:
            raise ImageReadError(f"cannot read {self.label(i)}: {exc}") from exc

    def open(self, i: int) -> Image.Image:
        """Image ``i``, fully decoded, EXIF orientation applied, as an RGB PIL image.

        Raises:
            ImageReadError: missing, empty, truncated, too large or not an image.
        """
        if self.kind == "folder":
            im, _ = open_image_file(self.path / self._names[i])
        else:
            im = _decode(self.read_bytes(i), self.label(i))
        return im if im.mode == "RGB" else im.convert("RGB")

    def size(self, i: int) -> tuple[int, int]:
        """``(width, height)`` of image ``i`` from its header only (before any EXIF rotation).

        Raises:
            ImageReadError: the header cannot be read.
        """
        label = self.label(i)
        try:
            fp: Any = self.path / self._names[i] if self.kind == "folder" else io.BytesIO(self.read_bytes(i))
            with Image.open(fp) as im:
                return im.size
        except UnidentifiedImageError as exc:
            raise ImageReadError(f"{label} is not an image file Pillow can read") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ImageReadError(f"could not read image {label}: {exc}") from exc

    def reset(self) -> None:
        """Forget the zip handle (it is re-opened on next use); DataLoader workers call this at start."""
        self._zip, self._zip_pid = None, -1

    def close(self) -> None:
        """Close the zip handle of this process, if open."""
        if self._zip is not None and self._zip_pid == os.getpid():
            self._zip.close()
        self.reset()

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_zip"], state["_zip_pid"] = None, -1
        del state["_lock"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()


@dataclass(frozen=True)
class DatasetReport:
    """What :func:`validate_source` found (all images passed)."""

    source: str
    kind: str  # "folder" or "zip"
    count: int
    resolution: int
    min_side: int  # the smallest short side
    max_side: int  # the largest long side
    non_square: int  # images that are centre-cropped
    decoded: bool  # every image was fully decoded (False: headers only)

    def __str__(self) -> str:
        return (
            f"{self.count} images in {self.source} ({self.kind}); short sides >= {self.min_side} px "
            f"(resolution {self.resolution}), {self.non_square} non-square (centre-cropped)"
        )


def validate_source(
    source: ImageSource, resolution: int, *, decode: bool = True, workers: int | None = None
) -> DatasetReport:
    """Check every image before training: it opens, and its short side is at least ``resolution``.

    Args:
        decode: fully decode each image (catches truncated and corrupted files; a few ms per
            image); False reads headers only (fast, but a truncated file fails during training).
        workers: threads reading images (default ``min(8, cpu_count)``).

    Raises:
        InvalidInputError: naming up to 5 offending images with the reason, and their count.
    """
    resolution = check_positive("resolution", resolution)
    workers = min(8, os.cpu_count() or 1) if workers is None else check_positive("workers", workers)

    def check(i: int) -> tuple[int, int] | str:
        try:
            if decode:
                im = source.open(i)
                w, h = im.size
            else:
                w, h = source.size(i)
        except Exception as exc:  # any failure makes the image unusable; report it, keep checking
            return str(exc) if isinstance(exc, InvalidInputError) else f"{source.label(i)}: {exc}"
        return too_small(source.label(i), w, h, resolution) or (w, h)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(check, range(len(source)), chunksize=16))
    bad = [r for r in results if isinstance(r, str)]
    if bad:
        named = "\n".join(f"  - {r}" for r in bad[:_MAX_NAMED])
        more = f"\n  ... and {len(bad) - _MAX_NAMED} more" if len(bad) > _MAX_NAMED else ""
        raise InvalidInputError(
            f"{len(bad)} of {len(source)} images in {source.path} cannot be used for training at resolution "
            f"{resolution} (every image must open and be at least {resolution} px on its short side; "
            f"remove or replace them):\n{named}{more}"
        )
    sizes = [r for r in results if not isinstance(r, str)]
    return DatasetReport(
        source=str(source.path),
        kind=source.kind,
        count=len(source),
        resolution=resolution,
        min_side=min(min(s) for s in sizes),
        max_side=max(max(s) for s in sizes),
        non_square=sum(1 for w, h in sizes if w != h),
        decoded=decode,
    )
