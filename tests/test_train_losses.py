"""The paper's losses (eq. 8-14) against their definitions with probabilities."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpinpaint.metrics import ssim
from dpinpaint.train.losses import (
    LossWeights,
    discriminator_loss,
    feedforward_loss,
    generator_adversarial_loss,
    inversion_loss,
    l1_loss,
    photo_realism_loss,
    ssim_loss,
)


def _logits() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(8, 1, generator=gen, dtype=torch.float64) * 3, torch.randn(
        8, 1, generator=gen, dtype=torch.float64
    )


def test_adversarial_terms_match_the_equations() -> None:
    real, fake = _logits()
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    torch.testing.assert_close(photo_realism_loss(fake), torch.log(1 - d_fake).mean())  # eq. 8
    torch.testing.assert_close(discriminator_loss(real, fake), -torch.log(d_real).mean() - torch.log(1 - d_fake).mean())
    torch.testing.assert_close(generator_adversarial_loss(fake), -torch.log(d_fake).mean())  # eq. 13


def test_extreme_logits_stay_finite_with_gradients() -> None:
    logits = torch.tensor([[-200.0], [0.0], [200.0]], requires_grad=True)
    for loss in (photo_realism_loss(logits), generator_adversarial_loss(logits), discriminator_loss(logits, logits)):
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_weighted_sums_and_their_parts() -> None:
    _, fake = _logits()
    gt = torch.zeros(2, 3, 4, 4, dtype=torch.float64)
    out = torch.full_like(gt, 0.5)
    assert l1_loss(gt, out).item() == 0.5
    total, parts = inversion_loss(fake, gt, out)
    torch.testing.assert_close(total, photo_realism_loss(fake) + 20 * 0.5)  # eq. 10, lambda_sr = 20
    assert parts["L_sr"] == 0.5 and parts["L_inv"] == total.item()
    total, parts = feedforward_loss(fake, gt, out, LossWeights(lambda_r=2.0))
    torch.testing.assert_close(total, 2 * 0.5 + generator_adversarial_loss(fake))  # eq. 14
    assert set(parts) == {"L_r", "L_adv_G", "L_ff"}
    assert LossWeights() == LossWeights(20.0, 20.0)


def test_hole_weight_counts_hole_pixels_that_many_times() -> None:
    gt = torch.zeros(1, 3, 2, 2, dtype=torch.float64)
    out = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64).view(1, 1, 2, 2).expand(1, 3, 2, 2)
    known = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=torch.float64).view(1, 1, 2, 2)
    assert l1_loss(gt, out, known).item() == 2.5  # hole_weight 1: the paper's plain mean
    assert l1_loss(gt, out, known, hole_weight=6.0).item() == (1 + 2 + 6 * 3 + 6 * 4) / 4
    _, fake = _logits()
    total, parts = feedforward_loss(fake, gt, out, LossWeights(lambda_r=1.0, hole_weight=6.0), known)
    assert parts["L_r"] == 45 / 4
    torch.testing.assert_close(total, 45 / 4 + generator_adversarial_loss(fake))
    with pytest.raises(ValueError, match="needs the mask"):
        feedforward_loss(fake, gt, out, LossWeights(hole_weight=6.0))


def test_ssim_loss_is_one_minus_the_metric_of_the_composite() -> None:
    gen = torch.Generator().manual_seed(1)
    gt = torch.rand(2, 3, 20, 24, generator=gen, dtype=torch.float64) * 2 - 1
    out = (gt + 0.3 * torch.randn(gt.shape, generator=gen, dtype=torch.float64)).clamp(-1, 1)
    known = (torch.rand(2, 1, 20, 24, generator=gen) > 0.4).double()
    composite = known * gt + (1 - known) * out

    def metric(a: torch.Tensor, b: torch.Tensor) -> float:  # dpinpaint.metrics.ssim per image, on [0, 1]
        values = [
            ssim(x.permute(1, 2, 0).numpy() / 2 + 0.5, y.permute(1, 2, 0).numpy() / 2 + 0.5, 1.0) for x, y in zip(a, b)
        ]
        return float(np.mean(values))

    assert ssim_loss(gt, composite).dtype == torch.float64
    assert ssim_loss(gt, composite).item() == pytest.approx(1 - metric(gt, composite), abs=1e-12)
    assert ssim_loss(gt, out, known).item() == pytest.approx(1 - metric(gt, composite), abs=1e-12)
    with pytest.raises(ValueError, match="at least 7x7"):
        ssim_loss(gt[..., :6, :], out[..., :6, :])
    assert ssim_loss(gt, gt).item() == pytest.approx(0.0, abs=1e-12)
    # Only the hole gets gradients.
    out = out.clone().requires_grad_(True)
    ssim_loss(gt, out, known).backward()
    assert out.grad is not None
    assert (out.grad * known).abs().max() == 0 and (out.grad * (1 - known)).abs().max() > 0


def test_lambda_ssim_adds_the_ssim_term() -> None:
    _, fake = _logits()
    gen = torch.Generator().manual_seed(2)
    gt = torch.rand(1, 3, 16, 16, generator=gen, dtype=torch.float64) * 2 - 1
    out = torch.zeros_like(gt)
    known = torch.ones(1, 1, 16, 16, dtype=torch.float64)
    known[..., 4:12, 4:12] = 0
    plain, parts = feedforward_loss(fake, gt, out, LossWeights(lambda_r=1.0), known)
    assert "L_ssim" not in parts
    total, parts = feedforward_loss(fake, gt, out, LossWeights(lambda_r=1.0, lambda_ssim=3.0), known)
    torch.testing.assert_close(total, plain + 3 * ssim_loss(gt, out, known))
    assert parts["L_ssim"] == pytest.approx(ssim_loss(gt, out, known).item()) and parts["L_ff"] == total.item()
    with pytest.raises(ValueError, match="needs the mask"):
        feedforward_loss(fake, gt, out, LossWeights(lambda_ssim=1.0))
