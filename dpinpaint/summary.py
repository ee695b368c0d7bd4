"""Per-module parameter counts and FLOPs of one forward pass (what ``dpinpaint info`` prints)."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.flop_counter import FlopCounterMode

from .config import ModelConfig
from .models import DualPathNet

__all__ = ["ModelSummary", "summarize"]


@dataclass(frozen=True)
class ModelSummary:
    """Parameters and forward FLOPs per top-level sub-module of a :class:`DualPathNet`.

    FLOPs count multiply-adds of matmuls and convolutions as 2 FLOPs each (PyTorch's
    ``FlopCounterMode``); elementwise work and the bilinear sampling of the deformable
    convolution are not counted.
    """

    name: str
    resolution: int
    batch_size: int
    params: dict[str, int]
    flops: dict[str, int]

    @property
    def total_params(self) -> int:
        return sum(self.params.values())

    @property
    def total_flops(self) -> int:
        return sum(self.flops.values())

    def format(self) -> str:
        """A fixed-width table, one row per sub-module and a total."""
        lines = [
            f"model {self.name}: {self.resolution}x{self.resolution}, forward at batch {self.batch_size}",
            f"{'module':<16}{'parameters':>16}{'GFLOPs':>12}",
        ]
        for key in self.params:
            lines.append(f"{key:<16}{self.params[key]:>16,}{self.flops.get(key, 0) / 1e9:>12.2f}")
        lines.append(f"{'total':<16}{self.total_params:>16,}{self.total_flops / 1e9:>12.2f}")
        return "\n".join(lines)


def summarize(config: ModelConfig, batch_size: int = 1, model: DualPathNet | None = None) -> ModelSummary:
    """Build the model (random weights: counts do not depend on values) and run one counted forward."""
    net = model if model is not None else DualPathNet(config)
    was_training = net.training
    net.eval()
    params = {name: sum(p.numel() for p in child.parameters()) for name, child in net.named_children()}
    r = config.resolution
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(batch_size, 3, r, r, generator=gen) * 2 - 1
    known = (torch.rand(batch_size, 1, r, r, generator=gen) > 0.3).float()
    counter = FlopCounterMode(display=False, depth=2)
    with torch.no_grad(), counter:
        net(image, known)
    net.train(was_training)
    by_module = counter.get_flop_counts()
    prefix = type(net).__name__ + "."
    flops = {name: int(sum(by_module.get(prefix + name, {}).values())) for name in params}
    if "stylegan" in flops:
        # G_s runs through its ``synthesis`` method, which module hooks do not see: it gets the rest.
        flops["stylegan"] = int(counter.get_total_flops()) - sum(v for k, v in flops.items() if k != "stylegan")
    return ModelSummary(config.name, r, batch_size, params, flops)
