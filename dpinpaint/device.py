"""Choosing the device and dtype a model runs in (``device="auto"``, ``dtype="auto"``)."""

from __future__ import annotations

import os

import torch

from .errors import InvalidInputError

__all__ = ["resolve_device", "resolve_dtype", "cpu_has_native_bf16", "DTYPE_NAMES", "AUTO_DEVICE_ENV"]

#: Environment variable that says which device ``device="auto"`` means (e.g. ``cpu`` keeps the
#: jobs of a GPU machine, and the processes they start, on the CPU). Unset, empty or ``auto``:
#: CUDA, then MPS, then the CPU.
AUTO_DEVICE_ENV = "DPINPAINT_DEVICE"

#: Accepted dtype spellings.
DTYPE_NAMES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "float": torch.float32,
    "float16": torch.float16,
    "fp16": torch.float16,
    "half": torch.float16,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
}


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so oneDNN's bf16 kernels are fast.

    Without it PyTorch emulates bfloat16 on the CPU, which is slower than float32.
    """
    check = getattr(getattr(torch.ops, "mkldnn", None), "_is_mkldnn_bf16_supported", None)
    try:
        return bool(torch.backends.mkldnn.is_available() and check is not None and check())
    except RuntimeError:
        return False


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def resolve_device(device: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or None) picks CUDA, then Apple MPS, then the CPU; anything else is checked.

    ``"auto"`` means the device named by the environment variable ``DPINPAINT_DEVICE``
    (:data:`AUTO_DEVICE_ENV`) when that is set, e.g. ``DPINPAINT_DEVICE=cpu``.

    Raises:
        InvalidInputError: an unknown device string, or a device this machine does not have.
    """
    if device is None or device == "auto":
        chosen = os.environ.get(AUTO_DEVICE_ENV, "").strip()
        if chosen and chosen != "auto":
            try:
                return resolve_device(chosen)
            except InvalidInputError as exc:
                raise InvalidInputError(f"{AUTO_DEVICE_ENV}={chosen!r} (what device 'auto' means): {exc}") from exc
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise InvalidInputError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda', 'cuda:1' or 'mps'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(f"device {device!r} was requested but CUDA is not available; use device='cpu'")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InvalidInputError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s)")
    if dev.type == "mps" and not _mps_available():
        raise InvalidInputError(f"device {device!r} was requested but MPS is not available; use device='cpu'")
    if dev.type == "meta":
        raise InvalidInputError("device 'meta' holds no data and cannot run inference; use 'cpu', 'cuda' or 'mps'")
    if dev.type not in ("cpu", "cuda", "mps"):  # xpu, hpu, ...: ask the backend's module when there is one
        backend = getattr(torch, dev.type, None)
        available = getattr(backend, "is_available", None)
        if callable(available) and not available():
            raise InvalidInputError(f"device {device!r} was requested but it is not available; use device='cpu'")
    return dev


def resolve_dtype(dtype: str | torch.dtype | None, device: torch.device) -> torch.dtype:
    """``"auto"`` (or None): float32 on the CPU, bfloat16 on CUDA when supported else float16, float16 on MPS.

    Raises:
        InvalidInputError: an unknown or non-floating dtype, or half precision on the CPU.
    """
    if dtype is None or dtype == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        if device.type == "mps":
            return torch.float16
        return torch.float32
    if isinstance(dtype, str):
        if dtype.removeprefix("torch.") not in DTYPE_NAMES:
            raise InvalidInputError(f"unknown dtype {dtype!r}; use 'auto', {', '.join(map(repr, DTYPE_NAMES))}")
        dtype = DTYPE_NAMES[dtype.removeprefix("torch.")]
    if not isinstance(dtype, torch.dtype) or dtype not in set(DTYPE_NAMES.values()):
        raise InvalidInputError(f"dtype must be float32, float16 or bfloat16, got {dtype!r}")
    if device.type == "cpu" and dtype != torch.float32:
        raise InvalidInputError(
            f"dtype {dtype} on the CPU is slow and loses precision for no gain; use dtype='float32' (or 'auto')"
        )
    return dtype
