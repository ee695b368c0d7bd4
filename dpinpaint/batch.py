"""Batch inpainting of files and folders (what ``dpinpaint inpaint`` runs).

- :func:`find_images` lists the image files of the inputs (files and folders);
- :func:`pair_masks` gives each image its mask: one mask file for all, or, in a mask folder,
  ``<stem><suffix>.<ext>`` (``photo.png`` + ``photo_mask.png``) then ``<stem>.<ext>``, at the
  same relative path (the plain stem only in another folder than the image's: next to the
  image, ``photo.jpg`` is another image); images without a mask are kept, with ``mask=None``,
  to be reported;
- :func:`select_shard` keeps a deterministic ``1/N`` of the pairs (by a hash of each image's
  relative path, so it does not depend on the order or the number of files);
- :class:`BatchRunner` decodes images in background threads while the model runs, batches the
  network, writes every output atomically, and reports one :class:`Record` per image; a bad
  image or mask is reported and the run goes on.
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .errors import InvalidInputError
from .files import atomic_write
from .image_io import IMAGE_EXTENSIONS  # defined there; re-exported here for compatibility
from .inversion import InversionConfig
from .version import __version__

__all__ = [
    "IMAGE_EXTENSIONS",
    "OUTPUT_FORMATS",
    "Pair",
    "Record",
    "Summary",
    "BatchRunner",
    "find_images",
    "pair_masks",
    "select_shard",
    "parse_shard",
    "output_path",
    "save_image",
]

logger = logging.getLogger(__name__)

#: ``--format`` values other than ``same``: (PIL format, extension).
OUTPUT_FORMATS = {"png": ("PNG", ".png"), "jpg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
OUTPUT_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}  # suffix -> --format


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


@dataclass(frozen=True)
class Pair:
    """One unit of work: an image, its mask (None: none was found), and where the result goes."""

    image: Path
    relative: str  # the image's path relative to its input root (POSIX), used for outputs and sharding
    mask: Path | None = None
    output: Path | None = None


@dataclass
class Record:
    """The outcome of one image; :meth:`to_json` is one line of ``--json`` output."""

    input: str
    mask: str | None
    output: str | None
    status: str  # "ok", "failed" or "skipped"
    seconds: float = 0.0
    strategy: str | None = None
    error: str | None = None
    #: remarks on a successful image that a script may want to see (e.g. "alpha dropped", an empty mask).
    notes: list[str] = field(default_factory=list)
    #: what made the output: the model as given (name, Hub id or folder), its Hub commit, dpinpaint's version.
    model: str | None = None
    revision: str | None = None
    dpinpaint: str | None = None

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


@dataclass
class Summary:
    """Counts of a run."""

    succeeded: int = 0
    failed: int = 0
    skipped: int = 0
    seconds: float = 0.0
    records: list[Record] = field(default_factory=list)

    def add(self, record: Record) -> None:
        self.records.append(record)
        if record.status == "ok":
            self.succeeded += 1
        elif record.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1

    def line(self) -> str:
        total = self.succeeded + self.failed + self.skipped
        rate = f", {self.succeeded / self.seconds:.2f} images/s" if self.seconds > 0 and self.succeeded else ""
        return (
            f"{total} image(s): {self.succeeded} succeeded, {self.failed} failed, {self.skipped} skipped "
            f"in {self.seconds:.1f} s{rate}"
        )


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
            if not _is_image(f):
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


def pair_masks(images: list[tuple[Path, str]], mask: str | os.PathLike[str], suffix: str = "_mask") -> list[Pair]:
    """Give each image its mask (see the module docstring); ``mask=None`` where none exists.

    Raises:
        InvalidInputError: ``mask`` does not exist.
    """
    mask = Path(mask)
    if mask.is_file():
        pairs = [Pair(image, rel, mask) for image, rel in images if image.resolve() != mask.resolve()]
        if images and not pairs:
            raise InvalidInputError(
                f"--mask {mask} is also the only input image; the mask is a separate file of the image's size "
                "(white = fill), e.g. photo_mask.png beside photo.jpg"
            )
        return pairs
    if not mask.is_dir():
        raise InvalidInputError(f"--mask {mask} does not exist (give a mask file or a folder of masks)")
    by_stem: dict[str, list[Path]] = {}
    for f in mask.rglob("*"):
        if f.is_file() and _is_image(f):
            by_stem.setdefault(f.relative_to(mask).with_suffix("").as_posix(), []).append(f)
    pairs = []
    for image, rel in images:
        stem = Path(rel).with_suffix("").as_posix()
        found = None
        for key in (stem + suffix, stem) if suffix else (stem,):
            candidates = sorted(p for p in by_stem.get(key, []) if p.resolve() != image.resolve())
            if key == stem:  # a same-stem file next to the image is another image (photo.jpg), not its mask
                candidates = [p for p in candidates if p.parent.resolve() != image.parent.resolve()]
            if candidates:
                found = candidates[0]
                break
        pairs.append(Pair(image, rel, found))
    return pairs


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise InvalidInputError(f"--shard must look like K/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise InvalidInputError(f"--shard K/N needs 0 <= K < N (shards are numbered from 0), got {text!r}")
    return k, n


def select_shard(pairs: list[Pair], k: int, n: int) -> list[Pair]:
    """The pairs of shard ``k`` of ``n``: those whose relative path hashes to ``k`` (stable across runs and machines)."""
    if n == 1:
        return list(pairs)
    return [p for p in pairs if int(hashlib.sha1(p.relative.encode("utf-8")).hexdigest(), 16) % n == k]


def output_path(out_dir: Path, relative: str, fmt: str) -> Path:
    """Where the result of ``relative`` goes: same relative path, extension set by ``fmt`` (``same`` keeps it)."""
    target = out_dir / relative
    if fmt == "same":
        return target
    return target.with_suffix(OUTPUT_FORMATS[fmt][1])


def save_image(image: Image.Image, path: Path, *, source: Image.Image | None = None, quality: int = 95) -> list[str]:
    """Write ``image`` atomically in the format of ``path``'s extension; returns notes (e.g. alpha dropped).

    EXIF (with the orientation already applied, so without an orientation tag) and the ICC
    profile of the input are kept when the format stores them.
    """
    notes: list[str] = []
    fmt = Image.registered_extensions().get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(f"cannot write {path.suffix!r} files; use --format png, jpg or webp")
    info = dict(image.info)
    if fmt in ("JPEG", "WEBP") and image.mode in ("I;16", "I"):
        # Image.convert("L") clips 16-bit values at 255 (a near-white image): scale to 8 bits instead.
        notes.append(f"16-bit image written with 8 bits: {fmt} has no 16-bit mode (use --format png to keep it)")
        image = Image.fromarray(_to_8bit(image), mode="L")
    if fmt == "JPEG" and image.mode not in ("L", "RGB", "CMYK"):
        if image.mode in ("RGBA", "LA", "PA"):
            notes.append("alpha dropped: JPEG has no alpha channel (use --format png or webp to keep it)")
        image = image.convert("L" if image.mode in ("LA", "1") else "RGB")
    if fmt == "WEBP" and image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if image.mode in ("LA", "PA") else "RGB")
    kwargs: dict[str, Any] = {}
    icc = info.get("icc_profile")
    if icc and _icc_fits(icc, image.mode):
        kwargs["icc_profile"] = icc
    if info.get("dpi") and fmt in ("JPEG", "PNG", "TIFF", "WEBP"):
        kwargs["dpi"] = info["dpi"]
    exif = info.get("exif")
    if exif and fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        kwargs["exif"] = exif
    if fmt in ("JPEG", "WEBP"):
        kwargs["quality"] = quality
        notes.append(
            f"re-encoded as {fmt} (lossy): pixels outside the mask are close to the input's, not identical; "
            "use --format png to keep them bit for bit"
        )
    if fmt == "JPEG":
        kwargs["subsampling"] = 0 if quality >= 90 else -1
    atomic_write(
        path, lambda tmp: image.save(tmp, format=fmt, **kwargs), verify=lambda tmp: _check_image(tmp, fmt, image)
    )
    return notes


#: The bytes a whole file of these formats ends with (JPEG's EOI marker, PNG's IEND chunk).
_TRAILERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND\xaeB`\x82"}


def _check_image(path: str, fmt: str, written: Image.Image) -> None:
    """Check that the file just written is whole: a full disk that the encoder did not report raises.

    JPEG and PNG files must end with their end marker and a WebP file must be as long as its RIFF
    header says (cheap: no decoding on the hot path); other formats are decoded.
    """
    if fmt in _TRAILERS or fmt == "WEBP":
        with open(path, "rb") as fh:
            head = fh.read(12)
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - 16))
            tail = fh.read()
        if fmt in _TRAILERS:
            whole = tail.endswith(_TRAILERS[fmt])
        else:
            whole = head[:4] == b"RIFF" and int.from_bytes(head[4:8], "little") + 8 == size
        if not whole:
            raise OSError(errno.EIO, f"the written {fmt} file is incomplete ({size} bytes); is the disk full?")
        return
    try:
        with Image.open(path) as im:
            im.load()
            size = im.size
    except Exception as exc:
        raise OSError(
            errno.EIO, f"the written file does not decode ({type(exc).__name__}: {exc}); is the disk full?"
        ) from exc
    if size != written.size:
        raise OSError(
            errno.EIO, f"the written file holds {size[0]}x{size[1]} pixels, not {written.size[0]}x{written.size[1]}"
        )


def _to_8bit(image: Image.Image) -> Any:
    arr = np.asarray(image).astype(np.float64)
    return np.clip(np.round(arr / 257.0), 0, 255).astype(np.uint8)


# The colour space signature of an ICC profile (header bytes 16..20) that fits each PIL mode.
_ICC_SPACES = {"RGB": b"RGB ", "RGBA": b"RGB ", "L": b"GRAY", "LA": b"GRAY", "CMYK": b"CMYK"}


def _icc_fits(icc: bytes, mode: str) -> bool:
    """Whether an ICC profile describes ``mode``'s colours (a CMYK profile on an RGB image does not)."""
    wanted = _ICC_SPACES.get(mode)
    return wanted is None or len(icc) < 20 or icc[16:20] == wanted


class BatchRunner:
    """Inpaint a list of :class:`Pair` with background decoding and atomic writes.

    Args:
        inpainter: the model.
        inpaint_kwargs: ``strategy``, ``invert_mask``, ``mask_from_alpha``, ``mask_threshold``.
        seed: see :meth:`~dpinpaint.Inpainter.inpaint`.
        inversion: the inversion strategy (default: learned); see :mod:`dpinpaint.inversion`.
        batch_size: windows per forward pass (None: the inpainter's).
        workers: background threads that decode inputs and encode outputs (0: all in this thread).
        quality: JPEG/WebP quality.
    """

    def __init__(
        self,
        inpainter: Any,
        *,
        inpaint_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        inversion: InversionConfig | None = None,
        batch_size: int | None = None,
        workers: int = 2,
        quality: int = 95,
    ) -> None:
        if workers < 0:
            raise InvalidInputError(f"--workers must be >= 0, got {workers}")
        self.inpainter = inpainter
        self.inpaint_kwargs = dict(inpaint_kwargs or {})
        self.seed = seed
        self.inversion = inversion
        self.batch_size = batch_size or inpainter.batch_size
        self.workers = workers
        self.quality = quality

    def run(self, pairs: list[Pair], on_record: Callable[[Record], None] | None = None) -> Summary:
        """Process ``pairs`` in order (outputs must be set); ``on_record`` sees each record as it completes."""
        summary = Summary()
        start = time.perf_counter()

        def emit(record: Record) -> None:
            summary.add(record)
            if on_record is not None:
                on_record(record)

        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="dpinpaint-io") if self.workers else None
        try:
            for record in self._records(pairs, pool):
                emit(record)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        summary.seconds = time.perf_counter() - start
        return summary

    # -- the pipeline ----------------------------------------------------------------------
    def _submit(self, pool: ThreadPoolExecutor | None, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        if pool is not None:
            return pool.submit(fn, *args)
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            future.set_exception(exc)
        return future

    def _decode(self, pair: Pair) -> tuple[Any, float]:
        """Read the image and mask and cut the network inputs (runs in a worker)."""
        t0 = time.perf_counter()
        job = self.inpainter._prepare(str(pair.image), str(pair.mask), **self.inpaint_kwargs)
        return job, time.perf_counter() - t0

    def _encode(self, pair: Pair, result: Any, source_seconds: float, notes: list[str]) -> Record:
        """Write the result (runs in a worker); ``notes`` are the remarks made while preparing it."""
        t0 = time.perf_counter()
        assert pair.output is not None
        written = save_image(result.image, pair.output, quality=self.quality)
        record = self.record(pair, "ok", source_seconds + time.perf_counter() - t0)
        record.strategy = ",".join(result.strategy)
        record.notes = [*notes, *written]
        return record

    def record(self, pair: Pair, status: str, seconds: float = 0.0, error: str | None = None) -> Record:
        """The :class:`Record` of ``pair`` with this runner's model, its revision and dpinpaint's version."""
        return Record(
            input=str(pair.image),
            mask=None if pair.mask is None else str(pair.mask),
            output=None if pair.output is None or status == "failed" else str(pair.output),
            status=status,
            seconds=round(seconds, 4),
            error=error,
            model=getattr(self.inpainter, "name", None),
            revision=getattr(self.inpainter, "revision", None),
            dpinpaint=__version__,
        )

    def _records(self, pairs: list[Pair], pool: ThreadPoolExecutor | None) -> Iterator[Record]:
        """Records in the order of ``pairs`` (failures too), whatever ``workers`` and ``batch_size``."""
        ahead = max(2, 2 * self.workers) + self.batch_size  # decodes in flight
        todo = deque(pairs)
        decoding: deque[tuple[Pair, Future[Any]]] = deque()
        writing: deque[Future[Record]] = deque()
        # (pair, job, decode seconds); job None: decoding failed, the third item is the failure's Record
        batch: list[tuple[Pair, Any, Any]] = []

        def fill() -> None:
            while todo and len(decoding) < ahead:
                pair = todo.popleft()
                if pair.mask is None:
                    decoding.append((pair, _failed(f"no mask found for {pair.image}")))
                else:
                    decoding.append((pair, self._submit(pool, self._decode, pair)))

        fill()
        while decoding or batch:
            if decoding:
                pair, future = decoding.popleft()
                fill()
                try:
                    job, seconds = future.result()
                except Exception as exc:
                    batch.append((pair, None, self.record(pair, "failed", error=_describe(exc))))
                else:
                    batch.append((pair, job, seconds))
            windows = sum(len(job.inputs) for _, job, _ in batch if job is not None)
            if batch and (windows >= self.batch_size or not decoding):
                self._run_batch(batch, pool, writing)
                batch = []
            while writing and (writing[0].done() or len(writing) > ahead):
                yield _result_or_failure(writing.popleft())
        while writing:
            yield _result_or_failure(writing.popleft())

    def _run_batch(
        self, batch: list[tuple[Pair, Any, Any]], pool: ThreadPoolExecutor | None, writing: deque[Future[Record]]
    ) -> None:
        """Run the network on the batch and queue, in order, the encoding of each result (or its failure)."""
        t0 = time.perf_counter()
        jobs = [job for _, job, _ in batch if job is not None]
        try:
            # With a seed, Inpainter._forward runs each window alone after seeding, so results do not
            # depend on the batch (its size, the shard, a resumed run).
            done = list(
                self.inpainter._complete(
                    jobs, self.seed, None, True, None, self.batch_size, inversion=self.inversion, progress=False
                )
            )
            results = iter(done)
        except Exception as exc:
            error = _describe(exc)
            for pair, job, failure in batch:
                writing.append(_done(failure if job is None else self.record(pair, "failed", error=error)))
            return
        per_window = (time.perf_counter() - t0) / max(1, sum(len(j.inputs) for j in jobs))
        for pair, job, seconds in batch:
            if job is None:  # a decoding failure, kept in its place so that records come out in order
                writing.append(_done(seconds))
                continue
            result = next(results)
            future = self._submit(
                pool, self._encode, pair, result, seconds + per_window * len(job.inputs), list(job.notes)
            )
            future.pair = pair  # type: ignore[attr-defined]
            writing.append(future)


def _done(record: Record) -> Future[Record]:
    future: Future[Record] = Future()
    future.set_result(record)
    return future


def _failed(message: str) -> Future[Any]:
    future: Future[Any] = Future()
    future.set_exception(InvalidInputError(message + " (masks pair by stem: photo.png + photo_mask.png)"))
    return future


def _describe(exc: BaseException) -> str:
    return str(exc) if exc.__class__.__module__.startswith("dpinpaint") else f"{type(exc).__name__}: {exc}"


def _result_or_failure(future: Future[Record]) -> Record:
    try:
        return future.result()
    except Exception as exc:
        pair: Pair = future.pair  # type: ignore[attr-defined]
        return Record(str(pair.image), str(pair.mask), None, "failed", 0.0, None, _describe(exc))
