"""The data order: a seeded permutation per epoch, sharded across ranks, resumable mid-epoch."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from torch.utils.data import Sampler

from ...errors import InvalidInputError
from .checks import check_positive

__all__ = ["ResumableSampler", "EpochKeysSampler"]


class ResumableSampler(Sampler[int]):
    """A seeded permutation per epoch, sharded across ranks, resumable mid-epoch.

    Epoch ``e`` orders ``range(length)`` by ``np.random.default_rng([seed, e]).permutation``
    (identity with ``shuffle=False``), then, like ``DistributedSampler``, rank ``r`` takes
    positions ``r, r + world_size, ...`` of it:

    - ``drop_last=True`` (training): the order is cut to a multiple of ``world_size *
      batch_size``, so every rank runs the same number of full batches (each epoch drops other
      images: the permutation changes);
    - ``drop_last=False``: the order is padded by repeating its start to a multiple of
      ``world_size`` (every image is seen; the last batch may be smaller, equally on every rank).

    The state is ``(epoch, position)`` where ``position`` counts the samples of the epoch's order
    already consumed by **all** ranks together (the same on every rank): after each step call
    :meth:`advance` with ``batch_size * world_size``, and :meth:`next_epoch` when an epoch's
    iteration ends (or :meth:`set_epoch`, DistributedSampler style). Iteration yields this rank's
    remaining indices from ``position``; it does not change the state, so prefetching is harmless.

    Raises:
        InvalidInputError: bad arguments, or ``drop_last`` with fewer than ``world_size *
            batch_size`` images (no full batch).
    """

    def __init__(
        self,
        length: int,
        *,
        seed: int,
        batch_size: int,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
        shuffle: bool = True,
    ) -> None:
        self.length = check_positive("length", length)
        self.seed = check_positive("seed", seed, minimum=0)
        self.batch_size = check_positive("batch_size", batch_size)
        self.world_size = check_positive("world_size", world_size)
        self.rank = check_positive("rank", rank, minimum=0)
        if self.rank >= self.world_size:
            raise InvalidInputError(f"rank must be in [0, {self.world_size}), got {rank!r}")
        self.drop_last, self.shuffle = bool(drop_last), bool(shuffle)
        step = self.world_size * self.batch_size
        if self.drop_last:
            self.total = self.length // step * step
            if self.total == 0:
                raise InvalidInputError(
                    f"{self.length} training images cannot fill one batch of {self.batch_size} on each of "
                    f"{self.world_size} process(es); use more images or a smaller batch"
                )
        else:
            self.total = math.ceil(self.length / self.world_size) * self.world_size
        self.epoch = 0
        self.position = 0

    @property
    def per_rank(self) -> int:
        """Samples per epoch on each rank."""
        return self.total // self.world_size

    def order(self, epoch: int) -> np.ndarray:
        """The epoch's global order, ``(total,)`` int64 (after dropping or padding)."""
        base = np.random.default_rng([self.seed, epoch]).permutation(self.length) if self.shuffle else None
        order = np.arange(self.length) if base is None else base
        if self.total > self.length:
            order = np.resize(order, self.total)  # repeats the start
        return order[: self.total].astype(np.int64)

    def iter_with_epoch(self) -> Iterator[tuple[int, int]]:
        """``(epoch, index)`` for this rank's remaining samples of the current epoch (snapshot at start)."""
        epoch, position = self.epoch, self.position
        mine = self.order(epoch)[self.rank : self.total : self.world_size]
        for index in mine[position // self.world_size :]:
            yield epoch, int(index)

    def __iter__(self) -> Iterator[int]:
        for _, index in self.iter_with_epoch():
            yield index

    def __len__(self) -> int:
        """This rank's remaining samples in the current epoch."""
        return (self.total - self.position) // self.world_size

    def advance(self, count: int) -> None:
        """``count`` more samples of the epoch were consumed by all ranks (``batch_size * world_size`` a step)."""
        count = check_positive("count", count, minimum=0)
        if count % self.world_size:
            raise InvalidInputError(f"advance by a multiple of world_size={self.world_size}, got {count}")
        if self.position + count > self.total:
            raise InvalidInputError(
                f"advance({count}) goes past the end of epoch {self.epoch} ({self.position} of {self.total} "
                f"consumed); call next_epoch() when an epoch ends"
            )
        self.position += count

    def next_epoch(self) -> None:
        """Start the next epoch at position 0."""
        self.epoch, self.position = self.epoch + 1, 0

    def set_epoch(self, epoch: int) -> None:
        """Start ``epoch`` at position 0, unless it is the current epoch (a restored position is kept)."""
        epoch = check_positive("epoch", epoch, minimum=0)
        if epoch != self.epoch:
            self.epoch, self.position = epoch, 0

    def state_dict(self) -> dict[str, Any]:
        """JSON-able state; the same on every rank (save it from rank 0, load it on all)."""
        return {
            "epoch": self.epoch,
            "position": self.position,
            "seed": self.seed,
            "length": self.length,
            "batch_size": self.batch_size,
            "world_size": self.world_size,
            "drop_last": self.drop_last,
            "shuffle": self.shuffle,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (of :meth:`state_dict`).

        Raises:
            InvalidInputError: a state from a sampler with another order (seed, length, batch size,
                world size, drop_last or shuffle): resuming it would not continue the same data order.
        """
        try:
            epoch, position = int(state["epoch"]), int(state["position"])
            recorded = {k: state[k] for k in ("seed", "length", "batch_size", "world_size", "drop_last", "shuffle")}
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a ResumableSampler state: {exc!r}") from None
        mine = self.state_dict()
        changed = [f"{k} {v!r} -> {mine[k]!r}" for k, v in recorded.items() if v != mine[k]]
        if changed:
            raise InvalidInputError(
                f"cannot resume the data order: the sampler changed ({', '.join(changed)}); "
                f"resume with the original settings or start a new run"
            )
        if epoch < 0 or not 0 <= position <= self.total or position % self.world_size:
            raise InvalidInputError(f"bad sampler state: epoch {epoch}, position {position} of {self.total}")
        self.epoch, self.position = epoch, position


class EpochKeysSampler(Sampler[tuple[int, int]]):
    """Yields ``(epoch, index)`` so that workers (persistent or not) use the sampler's epoch."""

    def __init__(self, sampler: ResumableSampler) -> None:
        self.sampler = sampler

    def __iter__(self) -> Iterator[tuple[int, int]]:
        return self.sampler.iter_with_epoch()

    def __len__(self) -> int:
        return len(self.sampler)
