"""Argument checks shared by the training-data modules; each raises :class:`~dpinpaint.errors.InvalidInputError`."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError

__all__ = ["is_int", "check_probability", "check_positive", "check_indices"]


def is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def check_probability(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) <= 1.0:
        raise InvalidInputError(f"{name} must be in [0, 1], got {value!r}")
    return float(value)


def check_positive(name: str, value: Any, minimum: int = 1) -> int:
    if not is_int(value) or value < minimum:
        raise InvalidInputError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_indices(name: str, indices: Sequence[int], n: int) -> list[int]:
    out = []
    for i in indices:
        if not is_int(i) or not 0 <= i < n:
            raise InvalidInputError(f"{name} index {i!r} is not an image index in [0, {n})")
        out.append(int(i))
    return out
