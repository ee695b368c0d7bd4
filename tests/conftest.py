"""Shared fixtures: seeded RNG, ``device="auto"`` meaning the CPU, a stand-in for
torchvision's deformable-convolution kernel, a session-wide tiny DualPathNet and input factories.

The shared models are read-only: a test that changes weights, accumulates gradients or
monkeypatches a sub-module builds its own model (the tiny preset builds in ~30 ms).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from dpinpaint import DualPathNet, ModelConfig, get_preset
from dpinpaint.device import AUTO_DEVICE_ENV
from dpinpaint.ops import deform_conv, modulated_deform_conv2d

Batch = tuple[torch.Tensor, torch.Tensor]


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global RNG state (thread count is left alone)."""
    torch.manual_seed(0)


@pytest.fixture(scope="session", autouse=True)
def _auto_means_cpu() -> Iterator[None]:
    """Tests mean the CPU: ``device="auto"`` resolves to it in every test and in the processes
    tests start (the CLI, torchrun), through ``DPINPAINT_DEVICE=cpu``.

    On a machine with CUDA (or Apple MPS), ``"auto"`` would pick the accelerator and
    ``dtype="auto"`` bfloat16 or float16, so tests written for the CPU's float32 results would
    compare other numbers. Session-scoped, so it holds before module-scoped fixtures build
    models. Tests of the accelerator (marked ``gpu``, tests/test_gpu.py) name ``device="cuda"``.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(AUTO_DEVICE_ENV, "cpu")
        yield


@dataclass
class StandInCall:
    """One call of :class:`StandInKernel`: the dtypes it was given and whether autocast was on."""

    dtypes: tuple[torch.dtype, ...]
    autocast: bool
    input: torch.Tensor = field(repr=False)


class StandInKernel:
    """Stands in for torchvision's compiled ``deform_conv2d`` where it does not load (the CPU here).

    Like the real CUDA kernel it refuses bfloat16 (``NotImplementedError: "deformable_im2col"
    not implemented for 'BFloat16'``) and tensors of mixed dtypes; otherwise it computes with
    the pure-PyTorch backend. ``calls`` records what it was given.
    """

    def __init__(self) -> None:
        self.calls: list[StandInCall] = []

    def __call__(
        self,
        input: torch.Tensor,
        offset: torch.Tensor,
        weight: torch.Tensor,
        bias: torch.Tensor | None = None,
        stride: tuple[int, int] = (1, 1),
        padding: tuple[int, int] = (0, 0),
        dilation: tuple[int, int] = (1, 1),
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        tensors = [t for t in (input, offset, weight, bias, mask) if t is not None]
        dtypes = tuple(t.dtype for t in tensors)
        self.calls.append(StandInCall(dtypes, torch.is_autocast_enabled(input.device.type), input))
        if torch.bfloat16 in dtypes:
            raise NotImplementedError("\"deformable_im2col\" not implemented for 'BFloat16'")
        if len(set(dtypes)) > 1:
            raise RuntimeError(f"expected all tensors of one dtype, got {dtypes}")
        return modulated_deform_conv2d(input, offset, mask, weight, bias, stride, padding, dilation, backend="torch")


@pytest.fixture
def torchvision_standin(monkeypatch: pytest.MonkeyPatch) -> StandInKernel:
    """Make ``backend="auto"``/``"torchvision"`` use a :class:`StandInKernel` for this test.

    The module's lookup ``_torchvision_deform_conv2d`` is cached (functools.cache); replacing
    the function itself bypasses its cache, and monkeypatch puts the cached original back.
    """
    kernel = StandInKernel()
    monkeypatch.setattr(deform_conv, "_torchvision_deform_conv2d", lambda: kernel)
    return kernel


def build_net(config: ModelConfig, seed: int = 0) -> DualPathNet:
    """A DualPathNet in eval mode with weights drawn from ``seed``."""
    torch.manual_seed(seed)
    return DualPathNet(config).eval()


def random_batch(batch: int, resolution: int, seed: int = 0, hole_fraction: float = 0.4) -> Batch:
    """``(image (B, 3, R, R) in [-1, 1], known (B, 1, R, R) in {0, 1})`` with random holes.

    Every sample has both observed and missing pixels.
    """
    gen = torch.Generator().manual_seed(seed)
    image = torch.rand(batch, 3, resolution, resolution, generator=gen) * 2 - 1
    known = (torch.rand(batch, 1, resolution, resolution, generator=gen) >= hole_fraction).float()
    known[:, :, 0, 0] = 1.0
    known[:, :, -1, -1] = 0.0
    return image, known


@pytest.fixture(scope="session")
def tiny_config() -> ModelConfig:
    return get_preset("tiny")


@pytest.fixture(scope="session")
def tiny_net(tiny_config: ModelConfig) -> DualPathNet:
    """Shared tiny model: do not modify it."""
    return build_net(tiny_config)


@pytest.fixture(scope="session")
def make_net() -> Callable[..., DualPathNet]:
    return build_net


@pytest.fixture(scope="session")
def make_batch() -> Callable[..., Batch]:
    return random_batch


def signal_when(proc: subprocess.Popen[Any], ready: Callable[[], bool], sig: int, timeout: float = 120.0) -> bool:
    """Send ``sig`` to ``proc`` as soon as ``ready()`` holds (polled every 10 ms).

    Returns False, sending nothing, if the process ended first (or ``timeout`` passed).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        if ready():
            break
        time.sleep(0.01)
    if proc.poll() is not None or time.monotonic() >= deadline:
        return False
    os.kill(proc.pid, sig)
    return True
