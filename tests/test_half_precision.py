"""Half precision (bfloat16, float16) through the models on the CPU, with a torchvision stand-in.

torchvision's CUDA ``deform_conv2d`` has no bfloat16 kernel; the stand-in (tests/conftest.py)
refuses bfloat16 the same way, so these tests show on any machine that a model cast to a half
type runs through the deformable fusion, returns the caller's dtype and stays close to float32.
"""

from __future__ import annotations

import pytest
import torch

from dpinpaint import DualPathNet
from dpinpaint.inversion import InversionConfig, initial_latent, optimize_latent
from dpinpaint.models.fusion import DeformableFusion

HALF = [torch.bfloat16, torch.float16]
IDS = ["bf16", "fp16"]
#: Bounds on |half - float32| for outputs in [-1, 1] of the tiny random model. Measured with
#: torch 2.13 on the CPU: bfloat16 mean 0.007 / max 0.05, float16 mean 0.0009 / max 0.007
#: (bfloat16 keeps 8 significant bits, float16 11).
MEAN_ERROR = {torch.bfloat16: 0.02, torch.float16: 0.003}
MAX_ERROR = {torch.bfloat16: 0.15, torch.float16: 0.03}


def _half_copy(net: DualPathNet, dtype: torch.dtype) -> DualPathNet:
    copy = DualPathNet(net.config).eval()
    copy.load_state_dict(net.state_dict())
    return copy.to(dtype)


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_deformable_fusion_in_half_precision(torchvision_standin, dtype: torch.dtype) -> None:
    torch.manual_seed(3)
    fusion = DeformableFusion(8, 6).eval()
    with torch.no_grad():  # non-zero offsets, so that the samples fall between pixels
        fusion.predictor.weight.normal_(0, 0.05)
    f_s, f_g = torch.randn(2, 8, 32, 32), torch.randn(2, 6, 32, 32)
    with torch.no_grad():
        fused32, offset32, _ = fusion(f_s, f_g)
        fused, offset, modulation = fusion.to(dtype)(f_s.to(dtype), f_g.to(dtype))
    assert fused.dtype == offset.dtype == modulation.dtype == dtype
    assert offset32.abs().max() > 0.5  # the fusion really deforms
    # float32, then the half copy: the kernel sees float32 both times
    assert [c.dtypes for c in torchvision_standin.calls] == [(torch.float32,) * 5] * 2
    rel = (fused.float() - fused32).norm() / fused32.norm()
    assert rel < 8 * torch.finfo(dtype).eps, float(rel)


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
def test_dual_path_net_cast_to_half_precision(torchvision_standin, tiny_net, make_batch, dtype: torch.dtype) -> None:
    assert tiny_net.config.uses_inversion and tiny_net.config.uses_feedforward
    image, known = make_batch(2, tiny_net.config.resolution, seed=4)
    with torch.no_grad():
        ref = tiny_net(image, known)
        net = _half_copy(tiny_net, dtype)
        out = net(image.to(dtype), known.to(dtype))
    deformable = len(tiny_net.config.deformable_resolutions)
    assert deformable > 0 and len(torchvision_standin.calls) == 2 * deformable  # ref and half run
    assert all(c.dtypes == (torch.float32,) * 5 for c in torchvision_standin.calls)
    for name in ("output", "generated", "inversion"):
        half, full = getattr(out, name), getattr(ref, name)
        assert half.dtype == dtype, name
        err = (half.float() - full).abs()
        assert err.mean() < MEAN_ERROR[dtype] and err.max() < MAX_ERROR[dtype], (
            name,
            float(err.mean()),
            float(err.max()),
        )
    observed = known.bool().expand_as(image)
    assert torch.equal(out.output[observed], image.to(dtype)[observed])  # the input's bits


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.slow
def test_dual_path_net_half_with_float32_image_keeps_its_bits(torchvision_standin, tiny_net, make_batch, dtype) -> None:
    """The network runs in its own dtype; the composite keeps the caller's float32 image."""
    image, known = make_batch(1, tiny_net.config.resolution, seed=5)
    with torch.no_grad():
        out = _half_copy(tiny_net, dtype)(image, known)
    assert out.output.dtype == torch.float32 and out.generated.dtype == dtype
    observed = known.bool().expand_as(image)
    assert torch.equal(out.output[observed], image[observed])


@pytest.mark.parametrize("dtype", HALF, ids=IDS)
@pytest.mark.slow
def test_optimised_inversion_of_a_half_precision_model(tiny_net, make_batch, dtype: torch.dtype) -> None:
    """Adam keeps a float32 latent: in float16 its eps rounds to 0 and tiny gradients would give NaN."""
    net = _half_copy(tiny_net, dtype)
    image, known = make_batch(2, tiny_net.config.resolution, seed=6)
    image, known = image.to(dtype), known.to(dtype)
    with torch.inference_mode():
        init = initial_latent(net, image * known, known, "optimize")
    latent, trace = optimize_latent(net, image, known, init, InversionConfig("optimize", steps=12, lr=0.05))
    assert latent.dtype == dtype and torch.isfinite(latent).all()
    losses = torch.stack(trace.losses, dim=1)
    assert losses.dtype == torch.float32 and torch.isfinite(losses).all()
    assert (losses[:, -1] < losses[:, 0]).all(), losses
    with torch.no_grad():
        out = net(image, known, latent=latent)
    assert out.output.dtype == dtype and torch.isfinite(out.output).all()
