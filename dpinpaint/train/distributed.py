"""Training on several processes (``torchrun``): the process group, barriers and DDP wrappers."""

from __future__ import annotations

import os

from torch import nn

__all__ = ["init_distributed", "barrier", "wrap_ddp"]


def init_distributed(device_type: str) -> tuple[int, int]:
    """``(rank, world_size)``; initialises the process group under ``torchrun`` (NCCL for CUDA, else Gloo)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


def barrier(world_size: int) -> None:
    """Wait for every process (nothing to wait for on one)."""
    if world_size > 1:
        import torch.distributed as dist

        dist.barrier()


def wrap_ddp(modules: dict[str, nn.Module], world_size: int) -> dict[str, nn.Module]:
    """``modules`` each wrapped in ``DistributedDataParallel`` on several processes, else as they are.

    Each trained sub-network is wrapped on its own: a step runs only some of them (see
    :mod:`dpinpaint.train.loss`), and a wrapper of the whole model would wait for gradients of the others.
    """
    if world_size == 1:
        return dict(modules)
    from torch.nn.parallel import DistributedDataParallel as DDP

    return {name: DDP(m, find_unused_parameters=False) for name, m in modules.items()}
