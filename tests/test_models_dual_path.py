"""Tests for :class:`dpinpaint.models.DualPathNet` (paper section 3.1-3.2, DESIGN.md section 1)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F

from dpinpaint import DualPathNet, DualPathOutput, get_preset, list_presets
from dpinpaint.config import ModelConfig
from dpinpaint.errors import DPInpaintError, InvalidInputError
from dpinpaint.models import DeformableFusion

MakeNet = Callable[..., DualPathNet]
MakeBatch = Callable[..., tuple[torch.Tensor, torch.Tensor]]


def _deformable_resolutions(net: DualPathNet) -> set[int]:
    found = set()
    for name, module in net.named_modules():
        if isinstance(module, DeformableFusion):
            assert name.startswith("generator.fusions."), name
            found.add(int(name.rsplit(".", 1)[1]))
    return found


def _block_input_widths(net: DualPathNet) -> dict[int, int]:
    """Input channels of the decoder block ``L^i`` that leaves each fusion resolution."""
    widths = {}
    for key, block in net.generator.blocks.items():
        first_conv = next(m for m in block.modules() if isinstance(m, torch.nn.Conv2d))
        widths[int(key)] = first_conv.in_channels
    return widths


def _check_output_shapes(out: DualPathOutput, config: ModelConfig, batch: int) -> None:
    r, k, g = config.resolution, config.deform_kernel_size, config.offset_groups
    image_shape = (batch, 3, r, r)
    assert out.output.shape == image_shape
    if config.uses_feedforward:
        assert out.generated is not None and out.generated.shape == image_shape
    else:
        assert out.generated is None
    if config.uses_inversion:
        assert out.inversion is not None and out.inversion.shape == image_shape
        assert out.latent is not None
        assert out.latent.shape == (batch, config.stylegan.n_latent, config.stylegan.w_dim)
    else:
        assert out.inversion is None and out.latent is None
    expected = set(config.deformable_resolutions) if config.paths == "dual" and config.fusion == "deformable" else set()
    assert set(out.offsets) == expected
    assert set(out.modulations) == expected
    for res in expected:
        assert out.offsets[res].shape == (batch, 2 * g * k * k, res, res)
        assert out.modulations[res].shape == (batch, g * k * k, res, res)


def _check_composite(out: DualPathOutput, image: torch.Tensor, known: torch.Tensor, fill: torch.Tensor) -> None:
    """Observed pixels are the input's bits; missing pixels are ``fill``'s."""
    keep = known.bool().expand_as(image)
    bits = {torch.float64: torch.int64, torch.float32: torch.int32, torch.float16: torch.int16}[image.dtype]
    assert out.output.dtype == image.dtype
    assert torch.equal(out.output.view(bits)[keep], image.view(bits)[keep])
    assert torch.equal(out.output[~keep], fill.to(image.dtype)[~keep])


# --------------------------------------------------------------------------------------
# Shapes for every preset (one batch-1 forward per 256 preset)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(list_presets()))
@pytest.mark.slow
def test_preset_forward(name: str, make_net: MakeNet, make_batch: MakeBatch) -> None:
    config = get_preset(name)
    net = make_net(config)
    batch = 2 if config.resolution <= 64 else 1
    image, known = make_batch(batch, config.resolution)
    with torch.no_grad():
        out = net(image, known)
    _check_output_shapes(out, config, batch)
    _check_composite(out, image, known, out.generated)
    deformable = set(config.deformable_resolutions) if config.paths == "dual" else set()  # demo: feed-forward only
    assert _deformable_resolutions(net) == deformable
    for res in deformable:  # DCNv2 init
        assert torch.all(out.offsets[res] == 0)
        assert torch.all(out.modulations[res] == 0.5)
    assert torch.isfinite(out.output).all()
    assert out.generated.abs().max() <= 1.0  # tanh output


def test_custom_offset_groups_and_kernel(make_net: MakeNet, make_batch: MakeBatch, tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(offset_groups=2, deform_kernel_size=5, deformable_resolutions=(16, 64))
    net = make_net(config)
    image, known = make_batch(1, 64)
    with torch.no_grad():
        out = net(image, known)
    _check_output_shapes(out, config, 1)
    assert out.offsets[16].shape == (1, 100, 16, 16)
    assert out.modulations[64].shape == (1, 50, 64, 64)
    assert _deformable_resolutions(net) == {16, 64}


# --------------------------------------------------------------------------------------
# Eq. 5: observed pixels are copied bit for bit
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_observed_pixels_bit_identical(seed: int, tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(2, 64, seed=seed, hole_fraction=0.2 + 0.3 * seed)
    # Signed zeros and the extreme values must survive too.
    image[0, :, :8, :8] = -0.0
    image[1, 0, :4, :] = -1.0
    image[1, 1, :4, :] = 1.0
    known[:, :, :8, :8] = 1.0
    with torch.no_grad():
        out = tiny_net(image, known)
    _check_composite(out, image, known, out.generated)
    assert torch.signbit(out.output[0, :, :8, :8]).all()


def test_observed_pixels_survive_nan_generator(make_net: MakeNet, make_batch: MakeBatch) -> None:
    net = make_net(get_preset("tiny"))
    with torch.no_grad():
        net.generator.blocks["64"][3].weight.fill_(float("nan"))  # the output conv
    image, known = make_batch(2, 64)
    image[:, :, :4, :4] = -0.0
    with torch.no_grad():
        out = net(image, known)
    assert torch.isnan(out.generated).all()
    keep = known.bool().expand_as(image)
    assert torch.equal(out.output.view(torch.int32)[keep], image.view(torch.int32)[keep])
    assert torch.signbit(out.output[:, :, :4, :4][keep[:, :, :4, :4]]).all()
    assert torch.isnan(out.output[~keep]).all()  # the holes carry the NaN


def test_observed_pixels_survive_monkeypatched_fill(
    make_net: MakeNet, make_batch: MakeBatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = make_net(get_preset("tiny"))

    def poisoned(masked, known, features=None):
        fill = torch.full_like(masked, float("nan"))
        fill[:, 0] = float("inf")
        fill[:, 1] = -float("inf")
        return fill, {}, {}

    monkeypatch.setattr(net, "feedforward", poisoned)
    image, known = make_batch(1, 64, seed=5)
    with torch.no_grad():
        out = net(image, known)
    keep = known.bool().expand_as(image)
    assert torch.equal(out.output.view(torch.int32)[keep], image.view(torch.int32)[keep])
    assert torch.isinf(out.output[0, 0][~known[0, 0].bool()]).all()


@pytest.mark.slow
def test_bool_and_integer_masks_give_the_same_output(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64, seed=3)
    with torch.no_grad():
        ref = tiny_net(image, known).output
        as_bool = tiny_net(image, known.bool()).output
        as_long = tiny_net(image, known.long()).output
    assert torch.equal(ref, as_bool)
    assert torch.equal(ref, as_long)


@pytest.mark.slow
def test_missing_pixels_of_the_input_are_ignored(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64, seed=4)
    other = torch.where(known.bool(), image, -image.flip(-1))
    with torch.no_grad():
        a = tiny_net(image, known)
        b = tiny_net(other, known)
    assert torch.equal(a.output, b.output)
    assert torch.equal(a.latent, b.latent)


def test_fully_observed_image_is_returned_unchanged(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, _ = make_batch(1, 64)
    with torch.no_grad():
        out = tiny_net(image, torch.ones(1, 1, 64, 64))
    assert torch.equal(out.output, image)


# --------------------------------------------------------------------------------------
# Ablations are configuration
# --------------------------------------------------------------------------------------


def test_concat_fusion_has_no_deformable_modules(
    make_net: MakeNet, make_batch: MakeBatch, tiny_config: ModelConfig, tiny_net: DualPathNet
) -> None:
    config = tiny_config.replace(fusion="concat")
    net = make_net(config)
    assert not any(isinstance(m, DeformableFusion) for m in net.modules())
    assert len(net.generator.fusions) == 0
    assert sum(p.numel() for p in net.generator.parameters()) < sum(p.numel() for p in tiny_net.generator.parameters())
    # Same decoder widths: concat(f_s, f_g) at every resolution.
    assert _block_input_widths(net) == _block_input_widths(tiny_net)
    image, known = make_batch(1, 64)
    with torch.no_grad():
        out = net(image, known)
    _check_output_shapes(out, config, 1)
    assert out.offsets == {} and out.modulations == {}
    _check_composite(out, image, known, out.generated)


def test_dual_deformable_structure(tiny_net: DualPathNet, tiny_config: ModelConfig) -> None:
    assert _deformable_resolutions(tiny_net) == set(tiny_config.deformable_resolutions) == {32, 64}
    widths = _block_input_widths(tiny_net)
    for r in tiny_config.fusion_resolutions:
        assert widths[r] == tiny_config.stylegan.channels_at(r) + tiny_config.decoder_channels_at(r)
    for r, fusion in tiny_net.generator.fusions.items():
        assert fusion.f_s_channels == tiny_config.stylegan.channels_at(int(r))
        assert fusion.f_g_channels == tiny_config.decoder_channels_at(int(r))


def test_feedforward_only(make_net: MakeNet, make_batch: MakeBatch, tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(paths="feedforward")
    net = make_net(config)
    assert not hasattr(net, "stylegan") and not hasattr(net, "style_encoder")
    assert not any(isinstance(m, DeformableFusion) for m in net.modules())
    assert {name for name, _ in net.named_children()} == {"encoder", "generator"}
    widths = _block_input_widths(net)
    for r in config.fusion_resolutions:
        assert widths[r] == config.decoder_channels_at(r)  # no f_s concatenated
    image, known = make_batch(2, 64)
    with torch.no_grad():
        out = net(image, known)
        net.train()  # no G_s to keep frozen: must not fail
    _check_output_shapes(out, config, 2)
    _check_composite(out, image, known, out.generated)


def test_inversion_only(make_net: MakeNet, make_batch: MakeBatch, tiny_config: ModelConfig) -> None:
    config = tiny_config.replace(paths="inversion")
    net = make_net(config)
    assert not hasattr(net, "encoder") and not hasattr(net, "generator")
    assert {name for name, _ in net.named_children()} == {"stylegan", "style_encoder"}
    image, known = make_batch(2, 64)
    with torch.no_grad():
        out = net(image, known)
    _check_output_shapes(out, config, 2)
    assert out.generated is None
    _check_composite(out, image, known, out.inversion)


def test_inversion_only_survives_infinite_generator(
    make_net: MakeNet, make_batch: MakeBatch, tiny_config: ModelConfig
) -> None:
    net = make_net(tiny_config.replace(paths="inversion"))
    with torch.no_grad():
        net.stylegan.to_rgbs[-1].bias.fill_(float("inf"))
    image, known = make_batch(1, 64)
    with torch.no_grad():
        out = net(image, known)
    assert not torch.isfinite(out.inversion).any()
    _check_composite(out, image, known, out.inversion)


def test_state_dict_prefixes(tiny_net: DualPathNet) -> None:
    prefixes = {key.split(".", 1)[0] for key in tiny_net.state_dict()}
    assert prefixes == {"stylegan", "style_encoder", "encoder", "generator"}
    assert "stylegan.w_avg" in tiny_net.state_dict()


# --------------------------------------------------------------------------------------
# Training behaviour: frozen G_s, gradients, DCNv2 initialisation
# --------------------------------------------------------------------------------------


def test_stylegan_is_frozen(make_net: MakeNet) -> None:
    net = make_net(get_preset("tiny"))
    assert all(not p.requires_grad for p in net.stylegan.parameters())
    for part in (net.style_encoder, net.encoder, net.generator):
        assert all(p.requires_grad for p in part.parameters())
    net.train()
    assert net.training and net.style_encoder.training and net.generator.training
    assert not net.stylegan.training
    assert not any(m.training for m in net.stylegan.modules())
    assert net.train(True) is net
    net.eval()
    assert not net.training and not net.stylegan.training


@pytest.mark.slow
def test_backward_reaches_trainable_parts(make_net: MakeNet, make_batch: MakeBatch) -> None:
    net = make_net(get_preset("tiny")).train()
    image, known = make_batch(2, 64)
    out = net(image, known)
    (out.output.square().mean() + out.inversion.abs().mean()).backward()
    assert all(p.grad is None for p in net.stylegan.parameters())
    for name in ("style_encoder", "encoder", "generator"):
        part = getattr(net, name)
        missing = [n for n, p in part.named_parameters() if p.grad is None]
        assert missing == [], f"{name}: no gradient for {missing}"
        total = sum(p.grad.abs().sum().item() for p in part.parameters())
        assert total > 0, name
    # The DCN offset/modulation predictor learns from the start.
    for fusion in net.generator.fusions.values():
        assert fusion.predictor.weight.grad.abs().sum() > 0


def test_output_gradient_reaches_style_encoder_through_feedforward_path(
    make_net: MakeNet, make_batch: MakeBatch
) -> None:
    """Only the composited output (no inversion loss): E_s learns through F_s and the fusion."""
    net = make_net(get_preset("tiny")).train()
    image, known = make_batch(1, 64)
    net(image, known).output.sum().backward()
    assert sum(p.grad.abs().sum().item() for p in net.style_encoder.parameters() if p.grad is not None) > 0


def test_deformable_fusion_starts_at_dcnv2_init() -> None:
    torch.manual_seed(0)
    fusion = DeformableFusion(6, 5, kernel_size=3, offset_groups=2)
    f_s, f_g = torch.randn(2, 6, 9, 9), torch.randn(2, 5, 9, 9)
    with torch.no_grad():
        fused, offset, modulation = fusion(f_s, f_g)
    assert fused.shape == (2, 11, 9, 9)
    assert offset.shape == (2, 36, 9, 9) and modulation.shape == (2, 18, 9, 9)
    assert torch.all(offset == 0)
    assert torch.all(modulation == 0.5)
    # Zero offsets, modulation 0.5: half a regular convolution of f_s (bias unmodulated).
    with torch.no_grad():
        fusion.bias.normal_()
        fused = fusion(f_s, f_g)[0]
        expected = 0.5 * F.conv2d(f_s, fusion.weight, padding=1) + fusion.bias.view(1, -1, 1, 1)
    torch.testing.assert_close(fused[:, :6], expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(fused[:, 6:], f_g)


def test_net_offsets_start_at_zero(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64, seed=9)
    with torch.no_grad():
        out = tiny_net(image, known)
    for res in (32, 64):
        assert torch.all(out.offsets[res] == 0)
        assert torch.all(out.modulations[res] == 0.5)


# --------------------------------------------------------------------------------------
# latent=, batch independence, determinism
# --------------------------------------------------------------------------------------


def test_latent_argument_overrides_style_encoder(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64)
    with torch.no_grad():
        default = tiny_net(image, known)
        own = tiny_net(image, known, latent=default.latent)
        latent_a = tiny_net.stylegan.w_avg.expand(1, 10, 64).clone()
        latent_b = latent_a + torch.randn(1, 10, 64)
        out_a = tiny_net(image, known, latent=latent_a)
        out_b = tiny_net(image, known, latent=latent_b)
    assert torch.equal(own.output, default.output)
    assert out_a.latent is latent_a
    assert not torch.allclose(out_a.inversion, out_b.inversion, atol=1e-3)
    holes = ~known.bool().expand_as(image)
    assert not torch.allclose(out_a.output[holes], out_b.output[holes], atol=1e-4)
    assert not torch.allclose(out_a.output[holes], default.output[holes], atol=1e-4)
    with torch.no_grad():
        expected = tiny_net.synthesize(latent_b)[0]
    assert torch.equal(out_b.inversion, expected)


@pytest.mark.parametrize("shape", [(1, 10), (1, 9, 64), (1, 10, 32), (2, 10, 64)])
def test_latent_of_wrong_shape_raises(shape: tuple[int, ...], tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64)
    with pytest.raises(InvalidInputError, match=r"latent must have shape \(1, 10, 64\), got"):
        tiny_net(image, known, latent=torch.zeros(shape))


def test_invert_adds_w_avg(make_net: MakeNet, make_batch: MakeBatch) -> None:
    net = make_net(get_preset("tiny"))
    image, known = make_batch(1, 64)
    masked = image * known
    with torch.no_grad():
        before = net.invert(masked, known)
        net.stylegan.w_avg.fill_(0.25)
        after = net.invert(masked, known)
        direct = net.style_encoder(masked, known)
    torch.testing.assert_close(after - before, torch.full_like(before, 0.25))
    torch.testing.assert_close(after, direct + 0.25)


def test_batch_independence(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(2, 64, seed=11)
    with torch.no_grad():
        pair = tiny_net(image, known)
        single = tiny_net(image[:1], known[:1])
        other = tiny_net(image[1:], known[1:])
    torch.testing.assert_close(pair.output[:1], single.output, rtol=0, atol=1e-4)
    torch.testing.assert_close(pair.output[1:], other.output, rtol=0, atol=1e-4)
    torch.testing.assert_close(pair.latent[:1], single.latent, rtol=0, atol=1e-4)
    for res in single.offsets:
        torch.testing.assert_close(pair.offsets[res][:1], single.offsets[res], rtol=0, atol=1e-4)


@pytest.mark.slow
def test_determinism_and_noise_modes(make_net: MakeNet, make_batch: MakeBatch) -> None:
    net = make_net(get_preset("tiny"))
    with torch.no_grad():
        for name, p in net.stylegan.named_parameters():
            if name.endswith("noise.weight"):
                p.fill_(0.5)
    image, known = make_batch(1, 64)
    with torch.no_grad():
        a = net(image, known, noise_mode="const")
        b = net(image, known, noise_mode="const")
        r1 = net(image, known, noise_mode="random")
        r2 = net(image, known, noise_mode="random")
        none = net(image, known, noise_mode="none")
    for field in ("output", "generated", "inversion", "latent"):
        assert torch.equal(getattr(a, field), getattr(b, field)), field
    assert not torch.allclose(r1.inversion, r2.inversion, atol=1e-3)
    assert not torch.allclose(none.inversion, a.inversion, atol=1e-3)
    with pytest.raises(InvalidInputError, match=r"noise_mode"):
        net(image, known, noise_mode="fixed")


# --------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------


def _good() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(2, 3, 64, 64, generator=gen) * 2 - 1
    known = (torch.rand(2, 1, 64, 64, generator=gen) > 0.5).float()
    return image, known


def _with(image: torch.Tensor | None = None, known: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    good_image, good_known = _good()
    return (good_image if image is None else image), (good_known if known is None else known)


def _nan_image() -> torch.Tensor:
    image = _good()[0]
    image[1, 2, 5, 7] = float("nan")
    return image


def _inf_image() -> torch.Tensor:
    image = _good()[0]
    image[0, 0, 0, 0] = -float("inf")
    return image


BAD_INPUTS: dict[str, tuple[Callable[[], tuple[torch.Tensor, torch.Tensor]], str]] = {
    "3d-image": (lambda: _with(image=_good()[0][0]), r"image must have shape \(B, 3, 64, 64\), got \(3, 64, 64\)"),
    "4-channels": (
        lambda: _with(image=torch.zeros(2, 4, 64, 64)),
        r"image must have shape \(B, 3, 64, 64\), got \(2, 4, 64, 64\)",
    ),
    "1-channel": (
        lambda: _with(image=torch.zeros(2, 1, 64, 64)),
        r"image must have shape \(B, 3, 64, 64\), got \(2, 1, 64, 64\)",
    ),
    "wrong-size": (
        lambda: (torch.zeros(2, 3, 32, 32), torch.ones(2, 1, 32, 32)),
        r"image is 32x32 but this model works at 64x64",
    ),
    "non-square": (lambda: (torch.zeros(1, 3, 64, 48), torch.ones(1, 1, 64, 48)), r"image is 64x48"),
    "soft-mask": (
        lambda: _with(known=torch.full((2, 1, 64, 64), 0.5)),
        r"known must contain only 0 \(missing\) and 1 \(observed\)",
    ),
    "mask-255": (lambda: _with(known=torch.full((2, 1, 64, 64), 255.0)), r"known must contain only 0"),
    "mask-nan": (lambda: _with(known=torch.full((2, 1, 64, 64), float("nan"))), r"known must contain only 0"),
    "mask-no-channel-dim": (
        lambda: _with(known=torch.ones(2, 64, 64)),
        r"known must have shape \(2, 1, 64, 64\).*got \(2, 64, 64\)",
    ),
    "mask-three-channels": (
        lambda: _with(known=torch.ones(2, 3, 64, 64)),
        r"known must have shape \(2, 1, 64, 64\).*got \(2, 3, 64, 64\)",
    ),
    "mask-batch-mismatch": (
        lambda: _with(known=torch.ones(1, 1, 64, 64)),
        r"known must have shape \(2, 1, 64, 64\).*got \(1, 1, 64, 64\)",
    ),
    "mask-wrong-size": (lambda: _with(known=torch.ones(2, 1, 32, 32)), r"known must have shape \(2, 1, 64, 64\)"),
    "nan-image": (lambda: _with(image=_nan_image()), r"image contains NaN or infinite values"),
    "inf-image": (lambda: _with(image=_inf_image()), r"image contains NaN or infinite values"),
    "uint8-range-as-float": (
        lambda: _with(image=(_good()[0] + 1) * 127.5),
        r"image values must be in \[-1, 1\], got \[.*, 255\].*x / 127.5 - 1",
    ),
    "below-minus-one": (
        lambda: _with(image=_good()[0] - 1.5),
        r"image values must be in \[-1, 1\]",
    ),
    "uint8-image": (
        lambda: _with(image=((_good()[0] + 1) * 127.5).to(torch.uint8)),
        r"image must be a floating-point tensor in \[-1, 1\], got dtype torch.uint8",
    ),
    "int64-image": (
        lambda: _with(image=torch.zeros(2, 3, 64, 64, dtype=torch.int64)),
        r"floating-point tensor.*torch.int64",
    ),
    "numpy-image": (lambda: (_good()[0].numpy(), _good()[1]), r"image and known must be torch tensors"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_raises(case: str, tiny_net: DualPathNet) -> None:
    make, message = BAD_INPUTS[case]
    image, known = make()
    with pytest.raises(InvalidInputError, match=message) as info:
        tiny_net(image, known)
    assert isinstance(info.value, DPInpaintError)
    assert isinstance(info.value, ValueError)


def test_slightly_out_of_range_is_tolerated(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64)
    image[0, 0, 0, 0] = 1.0005  # rounding from uint8 conversions
    with torch.no_grad():
        out = tiny_net(image, known)
    _check_composite(out, image, known, out.generated)


def test_float64_image_works_or_raises_invalid_input(tiny_net: DualPathNet, make_batch: MakeBatch) -> None:
    image, known = make_batch(1, 64)
    try:
        with torch.no_grad():
            out = tiny_net(image.double(), known.double())
    except InvalidInputError:
        return
    _check_composite(out, image.double(), known, out.generated)


def test_empty_batch_works_or_raises_invalid_input(tiny_net: DualPathNet) -> None:
    try:
        with torch.no_grad():
            out = tiny_net(torch.zeros(0, 3, 64, 64), torch.zeros(0, 1, 64, 64))
    except InvalidInputError:
        return
    assert out.output.shape == (0, 3, 64, 64)


def test_output_dataclass_defaults() -> None:
    out = DualPathOutput(output=torch.zeros(1))
    assert out.generated is None and out.inversion is None and out.latent is None
    assert out.offsets == {} and out.modulations == {}
    other = DualPathOutput(output=torch.zeros(1))
    assert out.offsets is not other.offsets  # no shared mutable default
    assert {f.name for f in dataclasses.fields(DualPathOutput)} == {
        "output",
        "generated",
        "inversion",
        "latent",
        "offsets",
        "modulations",
    }
