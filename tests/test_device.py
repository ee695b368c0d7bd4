"""Choosing the device and dtype: "auto", explicit choices, and refusals with useful messages."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dpinpaint.device import AUTO_DEVICE_ENV, DTYPE_NAMES, resolve_device, resolve_dtype
from dpinpaint.errors import InvalidInputError

HAS_CUDA = torch.cuda.is_available()
HAS_MPS = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
CPU = torch.device("cpu")
CUDA = torch.device("cuda")


@pytest.fixture(autouse=True)
def _auto_means_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests check what "auto" itself picks: undo conftest's DPINPAINT_DEVICE=cpu."""
    monkeypatch.delenv(AUTO_DEVICE_ENV, raising=False)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend one CUDA device is present (nothing is allocated on it)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)


# -- resolve_device ---------------------------------------------------------------------------------
@pytest.mark.skipif(HAS_CUDA or HAS_MPS, reason="this machine has an accelerator")
@pytest.mark.parametrize("device", ["auto", None])
def test_auto_is_cpu_without_accelerators(device: Any) -> None:
    assert resolve_device(device) == CPU


@pytest.mark.parametrize("device", ["cpu", "cpu:0", CPU, torch.device("cpu", 0)])
def test_cpu_spellings(device: Any) -> None:
    assert resolve_device(device).type == "cpu"


@pytest.mark.parametrize("device", ["gpu", "", "auto ", "CPU", "cuda:x", "cpu:-1", 1.5, [], object()])
def test_bad_device_values(device: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown device.*'auto', 'cpu', 'cuda'"):
        resolve_device(device)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1", torch.device("cuda")])
def test_cuda_without_cuda_is_refused(device: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"CUDA is not available; use device='cpu'"):
        resolve_device(device)


@pytest.mark.skipif(HAS_MPS, reason="this machine has MPS")
def test_mps_without_mps_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="MPS is not available"):
        resolve_device("mps")


def test_meta_device_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="meta"):
        resolve_device("meta")


@pytest.mark.skipif(bool(getattr(torch, "xpu", None) and torch.xpu.is_available()), reason="this machine has an XPU")
def test_other_backends_are_checked_for_availability() -> None:
    with pytest.raises(InvalidInputError, match="not available"):
        resolve_device("xpu")


def test_auto_prefers_cuda(fake_cuda: None) -> None:
    assert resolve_device("auto") == CUDA
    assert resolve_device(None) == CUDA
    assert resolve_device("cuda:0") == torch.device("cuda", 0)


def test_cuda_index_beyond_the_device_count(fake_cuda: None) -> None:
    with pytest.raises(InvalidInputError, match=r"'cuda:3' does not exist: 1 CUDA device"):
        resolve_device("cuda:3")


def test_auto_prefers_mps_over_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("mps")


@pytest.mark.parametrize("value", ["", "auto", " auto "])
def test_env_unset_or_auto_leaves_auto_alone(value: str, fake_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTO_DEVICE_ENV, value)
    assert resolve_device("auto") == CUDA


def test_env_says_what_auto_means(fake_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTO_DEVICE_ENV, "cpu")
    assert resolve_device("auto") == CPU and resolve_device(None) == CPU
    assert resolve_device("cuda") == CUDA  # an explicit device is not overridden
    monkeypatch.setenv(AUTO_DEVICE_ENV, "cuda:0")
    assert resolve_device("auto") == torch.device("cuda", 0)


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_env_is_checked_like_an_explicit_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(AUTO_DEVICE_ENV, "gpu")
    with pytest.raises(InvalidInputError, match=r"DPINPAINT_DEVICE='gpu'.*unknown device"):
        resolve_device("auto")
    monkeypatch.setenv(AUTO_DEVICE_ENV, "cuda")
    with pytest.raises(InvalidInputError, match=r"DPINPAINT_DEVICE='cuda'.*CUDA is not available"):
        resolve_device("auto")


# -- resolve_dtype ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["auto", None])
def test_auto_dtype_per_device(dtype: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_dtype(dtype, CPU) == torch.float32
    assert resolve_dtype(dtype, torch.device("mps")) == torch.float16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype(dtype, CUDA) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype(dtype, CUDA) == torch.float16


@pytest.mark.parametrize("name", sorted(DTYPE_NAMES))
def test_every_dtype_name_on_an_accelerator(name: str) -> None:
    assert resolve_dtype(name, CUDA) == DTYPE_NAMES[name]
    assert resolve_dtype(f"torch.{name}", CUDA) == DTYPE_NAMES[name]


def test_dtype_names_cover_the_three_float_types() -> None:
    assert set(DTYPE_NAMES.values()) == {torch.float32, torch.float16, torch.bfloat16}
    for name in ("float32", "fp32", "float16", "fp16", "half", "bfloat16", "bf16"):
        assert name in DTYPE_NAMES


@pytest.mark.parametrize("dtype", ["float32", "fp32", "float", "torch.float32", torch.float32])
def test_float32_on_cpu(dtype: Any) -> None:
    assert resolve_dtype(dtype, CPU) == torch.float32


@pytest.mark.parametrize("dtype", ["fp16", "float16", "half", torch.float16, "bf16", torch.bfloat16])
def test_half_precision_on_cpu_is_refused(dtype: Any) -> None:
    with pytest.raises(InvalidInputError, match=r"on the CPU.*dtype='float32'"):
        resolve_dtype(dtype, CPU)


@pytest.mark.parametrize("dtype", ["float64", "int8", "FP32", "", "fp 16"])
def test_unknown_dtype_names(dtype: str) -> None:
    with pytest.raises(InvalidInputError, match=r"unknown dtype.*'float32'"):
        resolve_dtype(dtype, CUDA)


@pytest.mark.parametrize("dtype", [torch.float64, torch.int8, torch.uint8, torch.bool, 3, float, object()])
def test_non_float_or_foreign_dtypes(dtype: Any) -> None:
    with pytest.raises(InvalidInputError, match="float32, float16 or bfloat16"):
        resolve_dtype(dtype, CUDA)
