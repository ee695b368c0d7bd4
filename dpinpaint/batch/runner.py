"""Running a batch: :class:`BatchRunner` decodes images in background threads while the model runs,
batches the network, writes every output atomically, and reports one :class:`Record` per image; a
bad image or mask is reported and the run goes on.
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InvalidInputError
from ..image_io.write import save_image
from ..options import InpaintOptions, InversionConfig
from ..version import __version__
from .plan import Pair

if TYPE_CHECKING:
    from ..inpainter import Inpainter
    from ..pipeline import Prepared

__all__ = ["Record", "Summary", "BatchRunner"]

logger = logging.getLogger(__name__)


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


class BatchRunner:
    """Inpaint a list of :class:`Pair` with background decoding and atomic writes.

    Args:
        inpainter: the model.
        options: the per-call settings (:class:`~dpinpaint.options.InpaintOptions`; default: its defaults).
        inpaint_kwargs, seed, inversion: deprecated spellings of fields of ``options``
            (``inpaint_kwargs`` holds ``inpaint``'s keyword arguments); they override it.
        batch_size: windows per forward pass (None: the inpainter's).
        workers: background threads that decode inputs and encode outputs (0: all in this thread).
        quality: JPEG/WebP quality (None: a JPEG source's own quantisation tables, else 95).
    """

    def __init__(
        self,
        inpainter: Inpainter,
        options: InpaintOptions | None = None,
        *,
        inpaint_kwargs: dict[str, Any] | None = None,
        seed: int | None = None,
        inversion: InversionConfig | None = None,
        batch_size: int | None = None,
        workers: int = 2,
        quality: int | None = None,
    ) -> None:
        if workers < 0:
            raise InvalidInputError(f"--workers must be >= 0, got {workers}")
        overrides = dict(inpaint_kwargs or {})
        if seed is not None:
            overrides["seed"] = seed
        if inversion is not None:
            overrides["inversion"] = inversion
        self.inpainter = inpainter
        self.options = inpainter.options(options, **overrides)
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
        prepared = self.inpainter.prepare(str(pair.image), str(pair.mask), self.options)
        return prepared, time.perf_counter() - t0

    def _encode(self, pair: Pair, result: Any, source_seconds: float, notes: list[str]) -> Record:
        """Write the result (runs in a worker); ``notes`` are the remarks made while preparing it."""
        t0 = time.perf_counter()
        assert pair.output is not None
        written = save_image(result.image, pair.output, quality=self.quality, png_hint="use --format png")
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
            model=self.inpainter.name,
            revision=self.inpainter.revision,
            dpinpaint=__version__,
        )

    def _records(self, pairs: list[Pair], pool: ThreadPoolExecutor | None) -> Iterator[Record]:
        """Records in the order of ``pairs`` (failures too), whatever ``workers`` and ``batch_size``."""
        ahead = max(2, 2 * self.workers) + self.batch_size  # decodes in flight
        todo = deque(pairs)
        decoding: deque[tuple[Pair, Future[Any]]] = deque()
        writing: deque[Future[Record]] = deque()
        # (pair, prepared, decode seconds); prepared None: decoding failed, the third item is the failure's Record
        batch: list[tuple[Pair, Prepared | None, Any]] = []

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
            windows = sum(len(job.windows) for _, job, _ in batch if job is not None)
            if batch and (windows >= self.batch_size or not decoding):
                self._run_batch(batch, pool, writing)
                batch = []
            while writing and (writing[0].done() or len(writing) > ahead):
                yield _result_or_failure(writing.popleft())
        while writing:
            yield _result_or_failure(writing.popleft())

    def _run_batch(
        self,
        batch: list[tuple[Pair, Prepared | None, Any]],
        pool: ThreadPoolExecutor | None,
        writing: deque[Future[Record]],
    ) -> None:
        """Run the network on the batch and queue, in order, the encoding of each result (or its failure)."""
        t0 = time.perf_counter()
        jobs = [job for _, job, _ in batch if job is not None]
        try:
            # With a seed, each window runs alone after seeding, so results do not depend on the
            # batch (its size, the shard, a resumed run).
            done = list(
                self.inpainter.complete(jobs, self.options, details=True, batch_size=self.batch_size, progress=False)
            )
            results = iter(done)
        except Exception as exc:
            error = _describe(exc)
            for pair, job, failure in batch:
                writing.append(_done(failure if job is None else self.record(pair, "failed", error=error)))
            return
        per_window = (time.perf_counter() - t0) / max(1, sum(len(j.windows) for j in jobs))
        for pair, job, seconds in batch:
            if job is None:  # a decoding failure, kept in its place so that records come out in order
                writing.append(_done(seconds))
                continue
            result = next(results)
            future = self._submit(
                pool, self._encode, pair, result, seconds + per_window * len(job.windows), list(job.notes)
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
