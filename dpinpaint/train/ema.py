"""The exponential moving average of a :class:`~dpinpaint.DualPathNet`'s trained weights (``ema_kimg``)."""

from __future__ import annotations

import copy
from typing import Any

import torch

from ..models import DualPathNet

__all__ = ["WeightAverage"]


class WeightAverage:
    """An averaged copy :attr:`net` of ``model``, moved half the way to it every ``ema_kimg`` thousand images.

    The copy starts from ``model``'s weights and follows its trained parameters (those with
    ``requires_grad``; loading weights into either copies in place, so the pairing holds); buffers
    are copied as they are. The frozen StyleGAN2 ``G_s`` is never trained, so the copy shares it
    with the model instead of duplicating it (115 MB of float32 weights for the 256x256 presets).
    """

    def __init__(self, model: DualPathNet, ema_kimg: float) -> None:
        frozen = model.stylegan if model.config.uses_inversion else None
        memo: dict[int, Any] = {} if frozen is None else {id(frozen): frozen}
        self.model, self.ema_kimg = model, ema_kimg
        self.net: DualPathNet = copy.deepcopy(model, memo).eval().requires_grad_(False)
        pairs = [(a, p) for a, p in zip(self.net.parameters(), model.parameters(), strict=True) if p.requires_grad]
        self._averaged: list[torch.Tensor] = [a for a, _ in pairs]
        self._trained: list[torch.Tensor] = [p for _, p in pairs]

    @torch.no_grad()
    def update(self, images: int) -> None:
        """``images`` more images were trained on (all processes together)."""
        beta = 0.5 ** (images / (self.ema_kimg * 1000))
        if self._averaged:
            torch._foreach_lerp_(self._averaged, self._trained, 1.0 - beta)
        for a, b in zip(self.net.buffers(), self.model.buffers(), strict=True):
            a.copy_(b)
