"""The train/test split by file order, recorded as ``split.json`` in the run folder and checked on resume."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...files import atomic_write
from .checks import check_indices, check_positive
from .sources import ImageSource

__all__ = ["SPLIT_FILE", "FFHQ_TEST_COUNT", "split_indices", "write_split", "read_split"]

logger = logging.getLogger(__name__)

#: The split file in a run folder.
SPLIT_FILE = "split.json"
#: FFHQ's test set: the last 5,000 of 70,000 images (paper, section 4.1).
FFHQ_TEST_COUNT = 5000
_SPLIT_FORMAT = "dpinpaint-split"


def split_indices(n: int, test_count: int = FFHQ_TEST_COUNT) -> tuple[list[int], list[int]]:
    """``(train, test)`` by file order: the last ``test_count`` images are the test set.

    FFHQ (70,000 images): the first 65,000 train, the last 5,000 test (the paper's text says
    "the first 75,000" but FFHQ has 70,000 images; "the last 5,000" is unambiguous). There is no
    silent smaller default: a data set of at most ``test_count`` images is an error (pass a
    smaller ``test_count``, or 0 for no test set), so a run never trains on a split it did not ask for.

    Raises:
        InvalidInputError: ``n < 1``, ``test_count < 0`` or ``test_count >= n``.
    """
    n = check_positive("the number of images", n)
    test_count = check_positive("test_count", test_count, minimum=0)
    if test_count >= n:
        hint = f"e.g. {max(1, n // 10)} " if n > 1 else ""
        raise InvalidInputError(
            f"the data has {n} image(s): holding out the last {test_count} as the test set leaves no "
            f"training image; pass a smaller test_count ({hint}or 0 for no test set)"
        )
    return list(range(n - test_count)), list(range(n - test_count, n))


def _names_sha256(names: Sequence[str]) -> str:
    return hashlib.sha256(json.dumps(list(names), ensure_ascii=False).encode("utf-8")).hexdigest()


def _ranges(indices: Sequence[int]) -> list[list[int]]:
    """``[0, 1, 2, 5, 6]`` -> ``[[0, 3], [5, 7]]`` (half-open runs, in the given order)."""
    out: list[list[int]] = []
    for i in indices:
        if out and out[-1][1] == i:
            out[-1][1] += 1
        else:
            out.append([i, i + 1])
    return out


def write_split(
    run_dir: str | os.PathLike[str], source: ImageSource, train: Sequence[int], test: Sequence[int]
) -> Path:
    """Record the split as ``run_dir/split.json``; returns its path.

    The file holds the source path and kind, the image count, a sha256 of the ordered name list,
    the train and test indices (as half-open ranges) and the test images' names.

    Raises:
        InvalidInputError: indices out of range or shared by train and test.
    """
    n = len(source)
    train, test = check_indices("train", train, n), check_indices("test", test, n)
    if set(train) & set(test):
        raise InvalidInputError("the train and test sets share images")
    names = source.names
    record = {
        "format": _SPLIT_FORMAT,
        "version": 1,
        "source": str(source.path),
        "kind": source.kind,
        "count": n,
        "names_sha256": _names_sha256(names),
        "train": {"count": len(train), "ranges": _ranges(train)},
        "test": {"count": len(test), "ranges": _ranges(test), "names": [names[i] for i in test]},
    }
    path = Path(run_dir) / SPLIT_FILE
    text = json.dumps(record, indent=1, ensure_ascii=False) + "\n"
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def _expand(ranges: Any) -> list[int]:
    return [i for start, stop in ranges for i in range(int(start), int(stop))]


def read_split(
    run_dir: str | os.PathLike[str],
    source: ImageSource,
    train: Sequence[int] | None = None,
    test: Sequence[int] | None = None,
) -> tuple[list[int], list[int]]:
    """The ``(train, test)`` indices recorded in ``run_dir/split.json``, checked against ``source``.

    A moved data set (another path, the same names) is accepted with a warning. ``train`` /
    ``test``, when given, must equal the recorded ones (e.g. a changed ``test_count``).

    Raises:
        InvalidInputError: no or an unreadable split file, or the data (count or names) or the
            split changed since the run started.
    """
    path = Path(run_dir) / SPLIT_FILE
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("format") != _SPLIT_FORMAT:
            raise ValueError(f"not a {_SPLIT_FORMAT} file")
        count, digest = int(record["count"]), str(record["names_sha256"])
        saved_train, saved_test = _expand(record["train"]["ranges"]), _expand(record["test"]["ranges"])
        test_names = list(record["test"]["names"])
    except FileNotFoundError:
        raise InvalidInputError(f"{path} does not exist: the run folder has no recorded train/test split") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InvalidInputError(f"{path} is not a readable split file: {exc}") from exc
    names = source.names
    if count != len(names):
        raise InvalidInputError(
            f"the training data changed since the run started: {path} records {count} images, "
            f"{source.path} now has {len(names)}; resume with the original data or start a new run"
        )
    if digest != _names_sha256(names):
        changed = [n for n, i in zip(test_names, saved_test, strict=False) if i >= len(names) or names[i] != n]
        detail = f" (e.g. test image {changed[0]!r} is gone or moved)" if changed else ""
        raise InvalidInputError(
            f"the training data changed since the run started: the image names of {source.path} differ from "
            f"those recorded in {path}{detail}; resume with the original data or start a new run"
        )
    if str(source.path) != record.get("source"):
        logger.warning("the data moved: %s was recorded, %s has the same images", record.get("source"), source.path)
    if (train is not None and list(train) != saved_train) or (test is not None and list(test) != saved_test):
        raise InvalidInputError(
            f"the split differs from the one recorded in {path} ({len(saved_train)} train / {len(saved_test)} test "
            f"images recorded); resume with the original test_count or start a new run"
        )
    return saved_train, saved_test
