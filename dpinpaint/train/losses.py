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
- eq. 14: ``L_ff = lambda_r * L_r + lambda_adv * L_adv^G`` with ``lambda_r = 20`` and
  ``lambda_adv = 1`` (the paper's; a smaller ``lambda_adv`` lightens the adversarial term alone).

``hole_weight`` (default 1, the paper's plain L1) weighs the hole pixels of ``L_r`` that many
times the observed ones (partial-convolution style, Liu et al. 2018): only the hole part of
``I_g`` reaches the output (eq. 5), so short training budgets learn it faster this way.

``lambda_ssim`` (default 0: not in the paper) adds ``lambda_ssim * (1 - SSIM)`` to eq. 14, the
SSIM of the composited output ``M * I_gt + (1 - M) * I_g`` against ``I_gt`` (the image the
user gets; SSIM as in :func:`dpinpaint.metrics.ssim`), as in L1+SSIM restoration losses (Zhao
et al. 2017): it optimises directly the structural similarity that evaluations report next to
L1 and PSNR, which weighs local means, contrasts and correlations rather than pixel errors.

``L1`` losses are means over all elements, the usual PyTorch reading of ``||.||_1`` in
inpainting papers (PICNet, CoModGAN); the weights 20 then balance per-pixel and adversarial terms.

``*_terms`` return the parts as tensors (what :class:`dpinpaint.train.loss.DualPathLoss` logs
without a host sync); ``inversion_loss`` / ``feedforward_loss`` return them as floats.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..metrics import SSIM_K1, SSIM_K2, SSIM_WINDOW, ssim_from_moments

__all__ = [
    "LossWeights",
    "photo_realism_loss",
    "l1_loss",
    "inversion_loss",
    "inversion_terms",
    "discriminator_loss",
    "generator_adversarial_loss",
    "feedforward_loss",
    "feedforward_terms",
    "as_floats",
    "ssim_loss",
]


@dataclass(frozen=True)
class LossWeights:
    """The paper's weights: ``lambda_sr`` (eq. 10) and ``lambda_r`` (eq. 14), both 20; ``hole_weight`` 1.

    ``lambda_ssim`` (0 in the paper) weighs :func:`ssim_loss` in ``L_ff``.
    """

    lambda_sr: float = 20.0
    lambda_r: float = 20.0
    hole_weight: float = 1.0
    lambda_ssim: float = 0.0
    lambda_adv: float = 1.0


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


def ssim_loss(target: torch.Tensor, output: torch.Tensor, known: torch.Tensor | None = None) -> torch.Tensor:
    """``1 - SSIM`` of ``(B, C, H, W)`` images in [-1, 1], mean over batch and channels.

    With ``known`` ``(B, 1, H, W)`` (1 = observed), ``output`` is first composited with
    ``target`` (``known * target + (1 - known) * output``), so only the hole is compared and
    only the hole gets gradients. SSIM as in :func:`dpinpaint.metrics.ssim` on the images
    mapped to [0, 1] (its luminance term is not shift-invariant): 7x7 uniform window,
    ``K1 = 0.01``, ``K2 = 0.03``, sample covariance, windows that leave the image dropped
    (the constants are :mod:`dpinpaint.metrics`').
    Computed in float32 (float64 inputs: float64) even under autocast: the variances are
    differences of nearly equal means.
    """
    if min(target.shape[-2:]) < SSIM_WINDOW:
        raise ValueError(
            f"ssim_loss needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels (its window), got {tuple(target.shape)}"
        )
    with torch.autocast(device_type=target.device.type, enabled=False):
        dtype = torch.promote_types(target.dtype, torch.float32)
        target, output = target.to(dtype), output.to(dtype)
        if known is not None:
            known = known.to(dtype)
            output = known * target + (1.0 - known) * output
        x, y = (target + 1.0) / 2.0, (output + 1.0) / 2.0
        pooled = F.avg_pool2d(torch.cat([x, y, x * x, y * y, x * y], dim=1), SSIM_WINDOW, stride=1)
        ux, uy, uxx, uyy, uxy = pooled.chunk(5, dim=1)
        s = ssim_from_moments(ux, uy, uxx, uyy, uxy, SSIM_K1**2, SSIM_K2**2)  # data range 1
        return 1.0 - s.mean()


def inversion_terms(
    fake_logits: torch.Tensor, ground_truth: torch.Tensor, inversion: torch.Tensor, weights: LossWeights = LossWeights()
) -> dict[str, torch.Tensor]:
    """Eq. 10 and its parts as 0-dim tensors: ``L_sp``, ``L_sr`` and ``L_inv = L_sp + lambda_sr * L_sr``.

    The tensors keep their graph (``L_inv`` is the loss to minimise); nothing is read back to the host.
    """
    sp = photo_realism_loss(fake_logits)
    sr = l1_loss(ground_truth, inversion)
    return {"L_sp": sp, "L_sr": sr, "L_inv": sp + weights.lambda_sr * sr}


def inversion_loss(
    fake_logits: torch.Tensor, ground_truth: torch.Tensor, inversion: torch.Tensor, weights: LossWeights = LossWeights()
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 10: ``L_sp + lambda_sr * L_sr``; returns the loss and its parts as floats (:func:`inversion_terms`)."""
    terms = inversion_terms(fake_logits, ground_truth, inversion, weights)
    return terms["L_inv"], as_floats(terms)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 12: ``-E[log D(I_gt)] - E[log(1 - D(I_g))]``."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 13: ``-E[log D(I_g)]``."""
    return F.softplus(-fake_logits).mean()


def feedforward_terms(
    fake_logits: torch.Tensor,
    ground_truth: torch.Tensor,
    generated: torch.Tensor,
    weights: LossWeights = LossWeights(),
    known: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Eq. 14 and its parts as 0-dim tensors: ``L_r``, ``L_adv_G``, ``L_ssim`` (when ``lambda_ssim > 0``) and
    ``L_ff = lambda_r * L_r + lambda_adv * L_adv^G (+ lambda_ssim * L_ssim)``.

    ``known`` ``(B, 1, R, R)`` is needed when ``weights.hole_weight != 1`` or ``lambda_ssim > 0``. The
    tensors keep their graph (``L_ff`` is the loss to minimise); nothing is read back to the host.
    """
    if (weights.hole_weight != 1.0 or weights.lambda_ssim) and known is None:
        raise ValueError("feedforward_loss: hole_weight != 1 or lambda_ssim > 0 needs the mask `known`")
    r = l1_loss(ground_truth, generated, known, weights.hole_weight)
    adv = generator_adversarial_loss(fake_logits)
    total = weights.lambda_r * r + weights.lambda_adv * adv
    terms = {"L_r": r, "L_adv_G": adv}
    if weights.lambda_ssim:
        s = ssim_loss(ground_truth, generated, known)
        total = total + weights.lambda_ssim * s
        terms["L_ssim"] = s
    terms["L_ff"] = total
    return terms


def feedforward_loss(
    fake_logits: torch.Tensor,
    ground_truth: torch.Tensor,
    generated: torch.Tensor,
    weights: LossWeights = LossWeights(),
    known: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Eq. 14: ``lambda_r * L_r + lambda_adv * L_adv^G`` (``+ lambda_ssim * L_ssim``); returns the loss and its
    parts as floats (:func:`feedforward_terms`).

    ``known`` ``(B, 1, R, R)`` is needed when ``weights.hole_weight != 1`` or ``lambda_ssim > 0``.
    """
    terms = feedforward_terms(fake_logits, ground_truth, generated, weights, known)
    return terms["L_ff"], as_floats(terms)


def as_floats(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    """``{name: float}`` of 0-dim tensors, for logging (one host sync per value on an accelerator)."""
    return {name: float(value.detach()) for name, value in terms.items()}
