"""The training ``DataLoader``: workers, epoch-tagged keys, a zip handle per process."""

from __future__ import annotations

import multiprocessing
from typing import Any

import cv2
import torch
from torch.utils.data import DataLoader

from ...errors import InvalidInputError
from .checks import check_positive
from .dataset import InpaintingDataset
from .sampler import EpochKeysSampler, ResumableSampler

__all__ = ["make_loader"]


def _worker_init(worker_id: int) -> None:
    """In each DataLoader worker: own zip handle, one compute thread (the workers are the parallelism)."""
    info = torch.utils.data.get_worker_info()
    if info is not None and isinstance(info.dataset, InpaintingDataset):
        info.dataset.source.reset()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)


def make_loader(
    dataset: InpaintingDataset,
    sampler: ResumableSampler,
    batch_size: int | None = None,
    workers: int = 0,
    *,
    pin_memory: bool | None = None,
    prefetch_factor: int = 2,
    multiprocessing_context: Any = None,
) -> DataLoader[dict[str, Any]]:
    """A ``DataLoader`` of ``dataset`` in ``sampler``'s order: batches of ``{"image": (B, 3, R, R),
    "known": (B, 1, R, R), "index": (B,) int64}``.

    Create it once and iterate it every epoch (workers persist when ``workers > 0``): each
    iteration starts at the sampler's current ``(epoch, position)``. The batches are identical
    for any number of workers. ``pin_memory`` defaults to ``torch.cuda.is_available()``.

    Raises:
        InvalidInputError: ``batch_size`` differs from the sampler's, the sampler's length from the
            dataset's, or a negative ``workers``.
    """
    if batch_size is not None and batch_size != sampler.batch_size:
        raise InvalidInputError(f"batch_size {batch_size} differs from the sampler's {sampler.batch_size}")
    if sampler.length != len(dataset):
        raise InvalidInputError(f"the sampler covers {sampler.length} samples, the dataset has {len(dataset)}")
    workers = check_positive("workers", workers, minimum=0)
    extra: dict[str, Any] = {}
    if workers > 0:
        extra = {"persistent_workers": True, "prefetch_factor": prefetch_factor, "worker_init_fn": _worker_init}
        # Forking a process whose OpenMP / torch threads are running can deadlock the child (seen
        # in the test-suite): workers start from a clean forkserver (spawn where there is none).
        if multiprocessing_context is None:
            methods = multiprocessing.get_all_start_methods()
            multiprocessing_context = "forkserver" if "forkserver" in methods else "spawn"
        extra["multiprocessing_context"] = multiprocessing_context
    return DataLoader(
        dataset,  # type: ignore[arg-type]  # keys are (epoch, index) pairs
        batch_size=sampler.batch_size,
        sampler=EpochKeysSampler(sampler),
        num_workers=workers,
        pin_memory=torch.cuda.is_available() if pin_memory is None else pin_memory,
        drop_last=False,  # the sampler already dropped or padded
        generator=torch.Generator().manual_seed(dataset.seed),  # the global torch RNG is left alone
        **extra,
    )
