"""GAN inversion strategies of the paper's Table 3: learned, optimisation-based and hybrid.

- ``"learned"`` (the paper's default): one pass of the style encoder, ``w+ = E_s(I_m, M) + w_avg``.
- ``"optimize"``: start from ``w_avg`` (every one of the ``n_latent`` codes of W+) and run Adam
  on the latent, minimising the reconstruction error of ``I_s = G_s(w+)`` on the **known pixels
  only**, with ``G_s`` frozen.
- ``"hybrid"``: the same optimisation, started from the encoder's code (at 0 steps it *is*
  ``"learned"``).

After the search, the feed-forward path runs once with the features of the optimised latent
(``DualPathNet.forward(..., latent=w)``). Each step costs exactly one ``G_s`` forward and one
backward; the feed-forward path is not touched during the search. Batches optimise one latent
per image in one batched pass; the loss is a sum of per-image means, so images do not
influence each other's updates (Adam is element-wise).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from .models import DualPathNet
from .options import LOSSES, METHODS, InversionConfig

__all__ = ["InversionConfig", "InversionTrace", "METHODS", "LOSSES", "initial_latent", "optimize_latent", "masked_loss"]

logger = logging.getLogger(__name__)


@dataclass
class InversionTrace:
    """``losses[s]``: the per-image loss ``(B,)`` of the latent before step ``s`` (the loss of the
    final latent is that of the ``I_s`` the model renders with it afterwards)."""

    losses: list[torch.Tensor] = field(default_factory=list)


def masked_loss(image: torch.Tensor, target: torch.Tensor, known: torch.Tensor, kind: str = "l1") -> torch.Tensor:
    """Per-image mean error over the known pixels: ``(B, 3, R, R) x2, (B, 1, R, R) -> (B,)``."""
    diff = image - target
    err = diff.abs() if kind == "l1" else diff.square()
    weight = known.expand_as(err)
    return (err * weight).flatten(1).sum(1) / weight.flatten(1).sum(1).clamp_min(1.0)


def initial_latent(model: DualPathNet, masked: torch.Tensor, known: torch.Tensor, method: str) -> torch.Tensor:
    """The starting W+ code ``(B, n_latent, w_dim)``: the encoder's (learned, hybrid) or ``w_avg`` (optimize)."""
    if method == "optimize":
        g = model.stylegan
        return g.w_avg.detach().expand(masked.shape[0], g.n_latent, -1).clone()
    return model.invert(masked, known).detach()


def optimize_latent(
    model: DualPathNet,
    image: torch.Tensor,
    known: torch.Tensor,
    latent: torch.Tensor,
    config: InversionConfig,
    *,
    progress: bool = False,
) -> tuple[torch.Tensor, InversionTrace]:
    """Adam on ``latent`` so that ``G_s(latent)`` matches ``image`` on the known pixels.

    Args:
        model: a :class:`~dpinpaint.DualPathNet` with an inversion path (``G_s`` frozen).
        image: ``(B, 3, R, R)`` in [-1, 1] (hole pixels are ignored).
        known: ``(B, 1, R, R)``, 1 = observed.
        latent: the starting W+ code ``(B, n_latent, w_dim)``.
        progress: show a tqdm bar over the steps (on a terminal).

    Returns:
        ``(optimised latent (detached, in ``latent``'s dtype), trace)``; the trace's losses are
        float32 (float64 for a float64 model).
    """
    from tqdm.auto import tqdm

    g = model.stylegan
    trace = InversionTrace()
    # The latent, the loss and Adam's state stay in float32 (float64 for a float64 model) while G_s
    # runs in the model's dtype: in float16, Adam's eps (1e-8) rounds to 0 and small squared
    # gradients underflow (0 / 0 = NaN); in bfloat16, steps of lr = 0.01 round away near |w| = 1.
    dtype, master = latent.dtype, torch.promote_types(latent.dtype, torch.float32)
    with torch.inference_mode(False), torch.enable_grad():
        # clone(): tensors made under inference mode cannot be saved for backward
        target = (image * known).to(master, copy=True)
        known = known.to(master, copy=True)
        w = latent.to(master, copy=True).requires_grad_(True)
        opt = torch.optim.Adam([w], lr=config.lr)
        bar = tqdm(range(config.steps), disable=None if progress else True, desc="inversion", unit="step", leave=False)
        for _ in bar:
            synth, _ = g.synthesis(w.to(dtype), noise_mode="const")
            loss = masked_loss(synth.to(master), target, known, config.loss)
            trace.losses.append(loss.detach())
            opt.zero_grad(set_to_none=True)
            loss.sum().backward()
            opt.step()
            if not bar.disable:
                bar.set_postfix(loss=f"{float(loss.detach().mean()):.4f}", refresh=False)
    return w.detach().to(dtype), trace
