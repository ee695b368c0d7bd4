"""Sanity tests for the slow StyleGAN2 reference port (tests/support/reference_stylegan2.py)."""

from __future__ import annotations

import pytest
import torch

from support.reference_stylegan2 import (
    ReferenceDiscriminator,
    ReferenceGenerator,
    upfirdn2d_native,
)

TINY_CHANNELS: dict[int, int] = {4: 32, 8: 32, 16: 16, 32: 8}


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _tiny_generator() -> ReferenceGenerator:
    torch.manual_seed(0)
    return ReferenceGenerator(32, style_dim=32, n_mlp=2, channels=TINY_CHANNELS)


def _tiny_discriminator() -> ReferenceDiscriminator:
    torch.manual_seed(0)
    return ReferenceDiscriminator(32, channels=TINY_CHANNELS)


# --------------------------------------------------------------------------- #
# upfirdn2d_native
# --------------------------------------------------------------------------- #
def _upfirdn2d_loops(x: torch.Tensor, kernel: torch.Tensor, up: int, down: int, pad: tuple[int, int]) -> torch.Tensor:
    """Direct definition: upsample by zero insertion, pad/crop, convolve, subsample."""
    b, c, h, w = x.shape
    kh, kw = kernel.shape
    p0, p1 = pad
    ups = torch.zeros(b, c, h * up, w * up, dtype=x.dtype)
    ups[:, :, ::up, ::up] = x
    hp, wp = h * up + p0 + p1, w * up + p0 + p1
    padded = torch.zeros(b, c, hp, wp, dtype=x.dtype)
    for yy in range(hp):
        for xx in range(wp):
            sy, sx = yy - p0, xx - p0
            if 0 <= sy < h * up and 0 <= sx < w * up:
                padded[:, :, yy, xx] = ups[:, :, sy, sx]
    out_h, out_w = hp - kh + 1, wp - kw + 1
    full = torch.zeros(b, c, out_h, out_w, dtype=x.dtype)
    for oy in range(out_h):
        for ox in range(out_w):
            acc = torch.zeros(b, c, dtype=x.dtype)
            for ky in range(kh):
                for kx in range(kw):
                    # true convolution: kernel flipped relative to correlation
                    acc += padded[:, :, oy + ky, ox + kx] * kernel[kh - 1 - ky, kw - 1 - kx]
            full[:, :, oy, ox] = acc
    return full[:, :, ::down, ::down]


@pytest.mark.parametrize(
    "up,down,pad",
    [
        (1, 1, (1, 1)),
        (2, 1, (2, 1)),
        (1, 2, (2, 2)),
        (1, 2, (1, 1)),
        (2, 1, (-1, 2)),
        (1, 1, (0, -1)),
    ],
)
def test_upfirdn2d_native_matches_direct_definition(up: int, down: int, pad: tuple[int, int]) -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 3, 5, 5, dtype=torch.float64)
    kernel = torch.randn(4, 4, dtype=torch.float64)  # asymmetric: checks the flip
    got = upfirdn2d_native(x, kernel, up=up, down=down, pad=pad)
    want = _upfirdn2d_loops(x, kernel, up, down, pad)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want)


# --------------------------------------------------------------------------- #
# Parameter counts of the config-f 256 networks
# --------------------------------------------------------------------------- #
def test_config_f_256_parameter_counts() -> None:
    gen = ReferenceGenerator(256, 512, 8, channel_multiplier=2)
    disc = ReferenceDiscriminator(256, channel_multiplier=2)
    assert _n_params(gen) == 30_034_338
    assert _n_params(disc) == 28_864_129
    assert gen.n_latent == 14
    assert gen.num_layers == 13


# --------------------------------------------------------------------------- #
# Shapes
# --------------------------------------------------------------------------- #
def test_tiny_generator_shapes() -> None:
    gen = _tiny_generator()
    assert gen.n_latent == 8
    z = torch.randn(3, 32)
    w = gen.style(z)
    assert w.shape == (3, 32)
    w_plus = w.unsqueeze(1).repeat(1, gen.n_latent, 1)
    img = gen(w_plus)
    assert isinstance(img, torch.Tensor)
    assert img.shape == (3, 3, 32, 32)
    assert torch.isfinite(img).all()

    img2, feats = gen(w_plus, noise_mode="const", return_features=True)
    torch.testing.assert_close(img2, img)
    assert sorted(feats) == [4, 8, 16, 32]
    for res, feat in feats.items():
        assert feat.shape == (3, TINY_CHANNELS[res], res, res)


def test_tiny_generator_noise_modes() -> None:
    gen = _tiny_generator()
    w_plus = torch.randn(2, gen.n_latent, 32)
    # Noise weights are initialised to zero, so both modes agree ...
    torch.testing.assert_close(gen(w_plus, noise_mode="const"), gen(w_plus, noise_mode="none"))
    # ... and differ once the noise strengths are non-zero.
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    assert not torch.allclose(gen(w_plus, noise_mode="const"), gen(w_plus, noise_mode="none"))
    with pytest.raises(ValueError):
        gen(w_plus, noise_mode="random")
    with pytest.raises(ValueError):
        gen(w_plus[:, :-1])


def test_tiny_discriminator_shapes() -> None:
    disc = _tiny_discriminator()
    for batch in (1, 2, 4, 8):
        out = disc(torch.randn(batch, 3, 32, 32))
        assert out.shape == (batch, 1)
        assert torch.isfinite(out).all()


def test_backward_runs() -> None:
    gen, disc = _tiny_generator(), _tiny_discriminator()
    img = gen(torch.randn(2, gen.n_latent, 32))
    disc(img).sum().backward()
    assert gen.conv1.conv.weight.grad is not None
    assert gen.style[1].weight.grad is None  # style() not used by forward(w_plus)
    assert disc.state_dict(keep_vars=True)["convs.0.0.weight"].grad is not None


# --------------------------------------------------------------------------- #
# State-dict key naming (rosinality) and non-persistent FIR kernels
# --------------------------------------------------------------------------- #
def test_generator_state_dict_keys() -> None:
    gen = ReferenceGenerator(256, 512, 8, channel_multiplier=2)
    sd = gen.state_dict()
    expected = {
        "style.1.weight": (512, 512),
        "style.1.bias": (512,),
        "style.8.weight": (512, 512),
        "style.8.bias": (512,),
        "input.input": (1, 512, 4, 4),
        "conv1.conv.weight": (1, 512, 512, 3, 3),
        "conv1.conv.modulation.weight": (512, 512),
        "conv1.conv.modulation.bias": (512,),
        "conv1.noise.weight": (1,),
        "conv1.activate.bias": (512,),
        "to_rgb1.conv.weight": (1, 3, 512, 1, 1),
        "to_rgb1.conv.modulation.weight": (512, 512),
        "to_rgb1.conv.modulation.bias": (512,),
        "to_rgb1.bias": (1, 3, 1, 1),
        "convs.0.conv.weight": (1, 512, 512, 3, 3),
        "convs.0.conv.modulation.weight": (512, 512),
        "convs.0.noise.weight": (1,),
        "convs.0.activate.bias": (512,),
        "convs.7.conv.weight": (1, 512, 512, 3, 3),
        "convs.8.conv.weight": (1, 256, 512, 3, 3),
        "convs.11.conv.weight": (1, 128, 128, 3, 3),
        "convs.11.activate.bias": (128,),
        "to_rgbs.0.conv.weight": (1, 3, 512, 1, 1),
        "to_rgbs.0.bias": (1, 3, 1, 1),
        "to_rgbs.5.conv.weight": (1, 3, 128, 1, 1),
        "to_rgbs.5.conv.modulation.weight": (128, 512),
        "noises.noise_0": (1, 1, 4, 4),
        "noises.noise_1": (1, 1, 8, 8),
        "noises.noise_2": (1, 1, 8, 8),
        "noises.noise_12": (1, 1, 256, 256),
    }
    for key, shape in expected.items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    assert "style.0.weight" not in sd
    assert "style.9.weight" not in sd
    assert "convs.12.conv.weight" not in sd
    assert "to_rgbs.6.bias" not in sd
    assert "noises.noise_13" not in sd
    assert not [k for k in sd if k.endswith("kernel")]
    # Parameters + 13 noise buffers are everything in the state dict.
    assert len(sd) == len(list(gen.parameters())) + 13
    # FIR kernels still exist as (non-persistent) buffers.
    buffers = dict(gen.named_buffers())
    assert tuple(buffers["convs.0.conv.blur.kernel"].shape) == (4, 4)
    assert tuple(buffers["to_rgbs.0.upsample.kernel"].shape) == (4, 4)
    torch.testing.assert_close(buffers["to_rgbs.0.upsample.kernel"].sum(), torch.tensor(4.0))
    torch.testing.assert_close(buffers["convs.0.conv.blur.kernel"].sum(), torch.tensor(4.0))


def test_discriminator_state_dict_keys() -> None:
    disc = ReferenceDiscriminator(256, channel_multiplier=2)
    sd = disc.state_dict()
    expected = {
        "convs.0.0.weight": (128, 3, 1, 1),
        "convs.0.1.bias": (128,),
        "convs.1.conv1.0.weight": (128, 128, 3, 3),
        "convs.1.conv1.1.bias": (128,),
        "convs.1.conv2.1.weight": (256, 128, 3, 3),
        "convs.1.conv2.2.bias": (256,),
        "convs.1.skip.1.weight": (256, 128, 1, 1),
        "convs.6.conv2.1.weight": (512, 512, 3, 3),
        "final_conv.0.weight": (512, 513, 3, 3),
        "final_conv.1.bias": (512,),
        "final_linear.0.weight": (512, 8192),
        "final_linear.0.bias": (512,),
        "final_linear.1.weight": (1, 512),
        "final_linear.1.bias": (1,),
    }
    for key, shape in expected.items():
        assert key in sd, key
        assert tuple(sd[key].shape) == shape, key
    # bias lives in the activation, the skip conv has no bias at all
    assert "convs.1.conv1.0.bias" not in sd
    assert "convs.1.skip.1.bias" not in sd
    assert "convs.7.conv1.0.weight" not in sd
    assert not [k for k in sd if k.endswith("kernel")]
    assert len(sd) == len(list(disc.parameters()))
    assert tuple(dict(disc.named_buffers())["convs.1.conv2.0.kernel"].shape) == (4, 4)


def test_state_dict_round_trip() -> None:
    gen_a, disc_a = _tiny_generator(), _tiny_discriminator()
    torch.manual_seed(123)
    gen_b = ReferenceGenerator(32, style_dim=32, n_mlp=2, channels=TINY_CHANNELS)
    disc_b = ReferenceDiscriminator(32, channels=TINY_CHANNELS)
    gen_b.load_state_dict(gen_a.state_dict(), strict=True)
    disc_b.load_state_dict(disc_a.state_dict(), strict=True)
    w_plus = torch.randn(2, gen_a.n_latent, 32)
    torch.testing.assert_close(gen_a(w_plus), gen_b(w_plus))
    img = torch.randn(4, 3, 32, 32)
    torch.testing.assert_close(disc_a(img), disc_b(img))
