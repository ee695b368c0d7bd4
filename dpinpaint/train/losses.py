"""The paper's losses (section 3.3, eq. 8-14).

Discriminators output logits ``l`` with ``D(x) = sigmoid(l)``; every log-probability is
computed from the logits (``log D = -softplus(-l)``, ``log(1 - D) = -softplus(l)``), which is
exact and never takes the log of 0.

Inversion path (training ``E_s``; ``G_s`` and ``D_s`` frozen):

- eq. 8, photo-realism: ``L_sp = log(1 - D_s(I_s))``, minimised, i.e. the mean of ``-softplus(l)``;
- eq. 9, reconstruction: ``L_sr = ||I_gt - I_s||_1`` (mean absolute error over pixels and channels);
- eq. 10: ``L_inv = L_sp + lambda_sr * L_sr`` with ``lambda_sr = 20``.

Feed-forward path (training ``E``, ``G`` and the fusion modules against ``D``):

- eq. 11: ``L_r = ||I_gt - I_g||_1``;
- eq. 12, for ``D``: ``-E[log D(I_gt)] - E[log(1 - D(I_g))]`` = ``softplus(-l_real) + softplus(l_fake)``;
- eq. 13, for the generator: ``-E[log D(I_g)]`` = ``softplus(-l_fake)``;
- eq. 14: ``L_ff = lambda_r * L_r + L_adv^G`` with ``lambda_r = 20``.

``hole_weight`` (default 1, the paper's plain L1) weighs the hole pixels of ``L_r`` that many
times the observed ones (partial-convolution style, Liu et al. 2018): only the hole part of
``I_g`` reaches the output (eq. 5), so short training budgets learn it faster this way.

``L1`` losses are means over all elements, the usual PyTorch reading of ``||.||_1`` in
inpainting papers (PICNet, CoModGAN); the weights 20 then balance per-pixel and adversarial terms.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = [
    "LossWeights",
    "photo_realism_loss",
    "l1_loss",
    "inversion_loss",
    "discriminator_loss",
    "generator_adversarial_loss",
    "feedforward_loss",
]


@dataclass(frozen=True)
class LossWeights:
    """The paper's weights: ``lambda_sr`` (eq. 10) and ``lambda_r`` (eq. 14), both 20; ``hole_weight`` 1."""

    lambda_sr: float = 20.0
    lambda_r: float = 20.0
    hole_weight: float = 1.0


def photo_realism_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 8: mean ``log(1 - D_s(I_s))`` from ``D_s``'s logits ``(B, 1)``; minimising it makes ``I_s`` look real."""
    return (-F.softplus(fake_logits)).mean()


def l1_loss(
    target: torch.Tensor, output: torch.Tensor, known: torch.Tensor | None = None, hole_weight: float = 1.0
) -> torch.Tensor:
    """Eq. 9 / 11: mean absolute error between ``(B, 3, R, R)`` images.

    With ``known`` ``(B, 1, R, R)`` (1 = observed) and ``hole_weight != 1``, hole pixels count
    ``hole_weight`` times: ``mean(|target - output| * (known + hole_weight * (1 - known)))``.
    """
    error = (target - output).abs()
    if known is not None and hole_weight != 1.0:
        error = error * (known + hole_weight * (1.0 - known))
    return error.mean()


def inversion_loss(
    fake_logits: torch.Tensor, ground_truth: torch.Tensor, inversion: torch.Tensor, weights: LossWeights = LossWeights()
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 10: ``L_sp + lambda_sr * L_sr``; returns the loss and its parts (for logging)."""
    sp = photo_realism_loss(fake_logits)
    sr = l1_loss(ground_truth, inversion)
    total = sp + weights.lambda_sr * sr
    return total, {"L_sp": float(sp.detach()), "L_sr": float(sr.detach()), "L_inv": float(total.detach())}


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ``-E[log D(I_gt)] - E[log(1 - D(I_g))]``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 13: ``-E[log D(I_g)]``."""
    return F.softplus(-fake_logits).mean()


def feedforward_loss(
    fake_logits: torch.Tensor,
    ground_truth: torch.Tensor,
    generated: torch.Tensor,
    weights: LossWeights = LossWeights(),
    known: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 14: ``lambda_r * L_r + L_adv^G``; returns the loss and its parts (for logging).

    ``known`` ``(B, 1, R, R)`` is needed when ``weights.hole_weight != 1``.
    """
    if weights.hole_weight != 1.0 and known is None:
        raise ValueError("feedforward_loss: hole_weight != 1 needs the mask `known`")
    r = l1_loss(ground_truth, generated, known, weights.hole_weight)
    adv = generator_adversarial_loss(fake_logits)
    total = weights.lambda_r * r + adv
    return total, {"L_r": float(r.detach()), "L_adv_G": float(adv.detach()), "L_ff": float(total.detach())}
