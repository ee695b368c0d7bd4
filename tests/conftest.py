"""Shared fixtures: seeded RNG, a session-wide tiny DualPathNet and input factories.

The shared models are read-only: a test that changes weights, accumulates gradients or
monkeypatches a sub-module builds its own model (the tiny preset builds in ~30 ms).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch

from dpinpaint import DualPathNet, ModelConfig, get_preset

Batch = tuple[torch.Tensor, torch.Tensor]


@pytest.fixture(autouse=True)
def _seed() -> None:
    """Every test starts from the same global RNG state (thread count is left alone)."""
    torch.manual_seed(0)


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
