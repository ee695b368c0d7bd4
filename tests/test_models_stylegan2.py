"""Tests for :mod:`dpinpaint.models.stylegan2` against the slow reference port.

``tests/support/reference_stylegan2.py`` is a literal rosinality-style port with the same
state-dict keys. dpinpaint's generator folds styles into one convolution for a batch of
one and modulates activations around a shared convolution for larger batches, so every
parity check runs at batch 1 and at batch 3.
"""

from __future__ import annotations

import pytest
import torch

from dpinpaint import get_preset
from dpinpaint.config import StyleGAN2Config
from dpinpaint.errors import ConfigError, DPInpaintError, InvalidInputError
from dpinpaint.models import StyleGAN2Discriminator, StyleGAN2Generator
from support.reference_stylegan2 import ReferenceDiscriminator, ReferenceGenerator

SMALL = StyleGAN2Config(resolution=32, channels=(48, 40, 24, 16), z_dim=40, w_dim=40, n_mlp=2)
# Asymmetric FIR: catches a missing/extra kernel flip in the up-sampling and blur paths.
SMALL_ASYM = StyleGAN2Config(
    resolution=64, channels=(32, 32, 24, 16, 8), z_dim=32, w_dim=32, n_mlp=2, blur_kernel=(1, 2, 3, 1)
)


def _n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _ref_channels(config: StyleGAN2Config) -> dict[int, int]:
    return dict(zip(config.resolutions, config.channels))


def _randomise_noise_strengths(gen: StyleGAN2Generator, seed: int = 1) -> None:
    """Noise strengths start at 0; make them matter (and differ per layer)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in gen.named_parameters():
            if name.endswith("noise.weight"):
                p.copy_(torch.rand(1, generator=g) * 0.5 + 0.25)


def _pair(config: StyleGAN2Config, seed: int = 0) -> tuple[StyleGAN2Generator, ReferenceGenerator]:
    """A dpinpaint generator and a reference generator holding the same weights."""
    torch.manual_seed(seed)
    gen = StyleGAN2Generator(config).eval()
    _randomise_noise_strengths(gen)
    ref = ReferenceGenerator(
        config.resolution,
        style_dim=config.w_dim,
        n_mlp=config.n_mlp,
        lr_mlp=config.lr_mlp,
        channels=_ref_channels(config),
        blur_kernel=config.blur_kernel,
    ).eval()
    result = ref.load_state_dict(gen.state_dict(), strict=False)
    assert result.missing_keys == []
    assert result.unexpected_keys == ["w_avg"]
    return gen, ref


def _assert_close_scaled(actual: torch.Tensor, expected: torch.Tensor, rel: float = 1e-4) -> None:
    scale = expected.abs().max().item()
    assert scale > 0
    torch.testing.assert_close(actual, expected, rtol=rel, atol=rel * scale)


@pytest.fixture(scope="module")
def small_pair() -> tuple[StyleGAN2Generator, ReferenceGenerator]:
    return _pair(SMALL)


# --------------------------------------------------------------------------------------
# Parameter counts and structure
# --------------------------------------------------------------------------------------


def test_parameter_counts_ffhq_256() -> None:
    config = get_preset("ffhq-256").stylegan
    assert _n_params(StyleGAN2Generator(config)) == 30_034_338
    assert _n_params(StyleGAN2Discriminator(config)) == 28_864_129


def test_state_dict_keys_match_reference(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, ref = small_pair
    ours = set(gen.state_dict())
    assert ours - set(ref.state_dict()) == {"w_avg"}
    assert set(ref.state_dict()) - ours == set()
    for key, value in ref.state_dict().items():
        assert value.shape == gen.state_dict()[key].shape, key
    # FIR kernels are not saved.
    assert not any(k.endswith("kernel") for k in ours)


def test_discriminator_state_dict_keys_match_reference() -> None:
    disc = StyleGAN2Discriminator(SMALL)
    ref = ReferenceDiscriminator(SMALL.resolution, channels=_ref_channels(SMALL))
    assert {k: v.shape for k, v in disc.state_dict().items()} == {k: v.shape for k, v in ref.state_dict().items()}


def test_n_latent_and_w_avg_buffer() -> None:
    gen = StyleGAN2Generator(SMALL)
    assert gen.n_latent == SMALL.n_latent == 8
    assert gen.num_layers == 7
    assert gen.w_avg.shape == (SMALL.w_dim,)
    assert torch.equal(gen.w_avg, torch.zeros(SMALL.w_dim))
    assert "w_avg" in gen.state_dict()
    assert "w_avg" in dict(gen.named_buffers())
    tiny = StyleGAN2Generator(get_preset("tiny").stylegan)
    assert tiny.n_latent == 10 and tiny.w_avg.shape == (64,)


# --------------------------------------------------------------------------------------
# Numerical parity with the reference
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("config", [SMALL, SMALL_ASYM], ids=["small", "asymmetric-fir"])
@pytest.mark.parametrize("noise_mode", ["const", "none"])
def test_synthesis_matches_reference(config: StyleGAN2Config, batch: int, noise_mode: str) -> None:
    gen, ref = _pair(config)
    w_plus = torch.randn(batch, config.n_latent, config.w_dim) * 1.5
    with torch.no_grad():
        image, features = gen.synthesis(w_plus, noise_mode=noise_mode)
        ref_image, ref_features = ref(w_plus, noise_mode=noise_mode, return_features=True)
    assert image.shape == (batch, 3, config.resolution, config.resolution)
    _assert_close_scaled(image, ref_image)
    assert sorted(features) == sorted(ref_features) == config.resolutions
    for res in config.resolutions:
        _assert_close_scaled(features[res], ref_features[res])


def test_batch_entries_match_single_images(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, _ = small_pair
    w_plus = torch.randn(3, SMALL.n_latent, SMALL.w_dim)
    with torch.no_grad():
        batched = gen.synthesis(w_plus)[0]
        singles = torch.cat([gen.synthesis(w_plus[i : i + 1])[0] for i in range(3)])
    _assert_close_scaled(batched, singles)


@pytest.mark.slow
def test_synthesis_matches_reference_config_f_256() -> None:
    config = get_preset("ffhq-256").stylegan
    gen, ref = _pair(config)
    w_plus = torch.randn(1, config.n_latent, config.w_dim)
    with torch.no_grad():
        image, features = gen.synthesis(w_plus)
        ref_image, ref_features = ref(w_plus, return_features=True)
    assert image.shape == (1, 3, 256, 256)
    _assert_close_scaled(image, ref_image)
    assert sorted(features) == [4, 8, 16, 32, 64, 128, 256]
    for res, feat in features.items():
        assert feat.shape == (1, config.channels_at(res), res, res)
        _assert_close_scaled(feat, ref_features[res])


def test_mapping_matches_reference(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, ref = small_pair
    z = torch.randn(5, SMALL.z_dim)
    with torch.no_grad():
        w = gen.mapping(z)
        ref_w = ref.style(z)
    assert w.shape == (5, SMALL.w_dim)
    _assert_close_scaled(w, ref_w, rel=1e-5)


def test_forward_is_mapping_then_synthesis(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, ref = small_pair
    z = torch.randn(2, SMALL.z_dim)
    with torch.no_grad():
        image = gen(z)
        ref_image = ref(ref.style(z).unsqueeze(1).repeat(1, SMALL.n_latent, 1))
    _assert_close_scaled(image, ref_image)


@pytest.mark.parametrize("batch", [4, 2, 1])
def test_discriminator_matches_reference(batch: int) -> None:
    torch.manual_seed(3)
    disc = StyleGAN2Discriminator(SMALL).eval()
    with torch.no_grad():
        for p in disc.parameters():  # biases start at zero: make them matter
            if p.dim() == 1:
                p.normal_(0, 0.1)
    ref = ReferenceDiscriminator(SMALL.resolution, channels=_ref_channels(SMALL)).eval()
    ref.load_state_dict(disc.state_dict(), strict=True)
    image = torch.randn(batch, 3, SMALL.resolution, SMALL.resolution)
    with torch.no_grad():
        logits = disc(image)
        ref_logits = ref(image)
    assert logits.shape == (batch, 1)
    _assert_close_scaled(logits, ref_logits)


def test_discriminator_minibatch_stddev_couples_samples() -> None:
    torch.manual_seed(3)
    disc = StyleGAN2Discriminator(SMALL).eval()
    image = torch.randn(4, 3, SMALL.resolution, SMALL.resolution)
    other = image.clone()
    other[1] += 1.0
    with torch.no_grad():
        a, b = disc(image), disc(other)
    assert not torch.allclose(a[0], b[0])  # sample 0 sees sample 1 through the stddev feature


# --------------------------------------------------------------------------------------
# Noise modes, w_avg and truncation
# --------------------------------------------------------------------------------------


def test_noise_modes(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, _ = small_pair
    w_plus = torch.randn(2, SMALL.n_latent, SMALL.w_dim)
    with torch.no_grad():
        const_a = gen.synthesis(w_plus, noise_mode="const")[0]
        const_b = gen.synthesis(w_plus, noise_mode="const")[0]
        rand_a = gen.synthesis(w_plus, noise_mode="random")[0]
        rand_b = gen.synthesis(w_plus, noise_mode="random")[0]
        none_a = gen.synthesis(w_plus, noise_mode="none")[0]
        none_b = gen.synthesis(w_plus, noise_mode="none")[0]
    assert torch.equal(const_a, const_b)
    assert torch.equal(none_a, none_b)
    # The fixture's noise strengths are non-zero, so the parity tests above exercise the noise.
    assert (const_a - none_a).abs().max() > 1e-2
    assert not torch.allclose(rand_a, rand_b, atol=1e-3)
    assert not torch.allclose(rand_a, const_a, atol=1e-3)


def test_random_noise_differs_per_sample(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, _ = small_pair
    w_plus = torch.randn(1, SMALL.n_latent, SMALL.w_dim).expand(2, -1, -1)
    with torch.no_grad():
        const = gen.synthesis(w_plus, noise_mode="const")[0]
        rand = gen.synthesis(w_plus, noise_mode="random")[0]
    _assert_close_scaled(const[0], const[1])
    assert not torch.allclose(rand[0], rand[1], atol=1e-3)


def test_update_w_avg_is_mean_of_mapping() -> None:
    torch.manual_seed(0)
    gen = StyleGAN2Generator(SMALL)
    result = gen.update_w_avg(num_samples=600, seed=7, batch_size=600)
    assert result is gen.w_avg or torch.equal(result, gen.w_avg)
    z = torch.randn(600, SMALL.z_dim, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        expected = gen.mapping(z).double().mean(dim=0)
    torch.testing.assert_close(gen.w_avg.double(), expected, rtol=1e-5, atol=1e-6)
    assert gen.w_avg.abs().max() > 0
    # Batching does not change the result (beyond summation order).
    smaller_batches = gen.update_w_avg(num_samples=600, seed=7, batch_size=128).clone()
    torch.testing.assert_close(smaller_batches.double(), expected, rtol=1e-5, atol=1e-6)
    # Another seed gives another estimate.
    assert not torch.equal(gen.update_w_avg(num_samples=600, seed=8, batch_size=600), smaller_batches)


def test_truncation() -> None:
    torch.manual_seed(0)
    gen = StyleGAN2Generator(SMALL).eval()
    gen.update_w_avg(num_samples=256, seed=0, batch_size=256)
    z = torch.randn(3, SMALL.z_dim)
    with torch.no_grad():
        w = gen.mapping(z)
        w0 = gen.mapping(z, truncation_psi=0.0)
        w_half = gen.mapping(z, truncation_psi=0.5)
        images = gen(z, truncation_psi=0.0)
    assert w0.shape == (3, SMALL.w_dim)
    assert torch.equal(w0, gen.w_avg.expand(3, -1))
    torch.testing.assert_close(w_half, gen.w_avg + 0.5 * (w - gen.w_avg))
    # psi = 0: every z renders the average image.
    _assert_close_scaled(images[1], images[0])
    _assert_close_scaled(images[2], images[0])


# --------------------------------------------------------------------------------------
# Features, gradients and input errors
# --------------------------------------------------------------------------------------


def test_features_dict_keys_and_shapes() -> None:
    config = get_preset("tiny").stylegan
    gen = StyleGAN2Generator(config)
    w_plus = torch.randn(2, config.n_latent, config.w_dim)
    with torch.no_grad():
        image, features = gen.synthesis(w_plus)
    assert image.shape == (2, 3, 64, 64)
    assert list(features) == [4, 8, 16, 32, 64]
    for res, feat in features.items():
        assert feat.shape == (2, config.channels_at(res), res, res)
    assert [features[r].shape[1] for r in features] == list(config.channels)


def test_gradient_reaches_every_w_plus_entry() -> None:
    gen = StyleGAN2Generator(SMALL)
    gen.requires_grad_(False)
    w_plus = torch.randn(2, SMALL.n_latent, SMALL.w_dim, requires_grad=True)
    image, features = gen.synthesis(w_plus)
    (image.square().mean() + features[16].mean()).backward()
    assert w_plus.grad is not None
    assert torch.isfinite(w_plus.grad).all()
    per_entry = w_plus.grad.abs().sum(dim=(0, 2))
    assert (per_entry > 0).all(), per_entry  # every W+ entry drives some layer


@pytest.mark.slow
def test_gradient_to_w_plus_matches_reference(small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]) -> None:
    gen, ref = small_pair
    w = torch.randn(3, SMALL.n_latent, SMALL.w_dim)
    w_ours = w.clone().requires_grad_(True)
    w_ref = w.clone().requires_grad_(True)
    image = gen.synthesis(w_ours)[0]  # the autograd (not in-place) code path
    ref_image = ref(w_ref)
    _assert_close_scaled(image, ref_image)
    image.sin().sum().backward()
    ref_image.sin().sum().backward()
    gen.zero_grad(set_to_none=True)
    ref.zero_grad(set_to_none=True)
    _assert_close_scaled(w_ours.grad, w_ref.grad, rel=1e-3)


@pytest.mark.parametrize("batch", [1, 3])
def test_inference_and_autograd_paths_agree(
    batch: int, small_pair: tuple[StyleGAN2Generator, ReferenceGenerator]
) -> None:
    """Under no_grad the generator works in place; with autograd it must not, and both agree."""
    gen, _ = small_pair
    w = torch.randn(batch, SMALL.n_latent, SMALL.w_dim)
    with torch.no_grad():
        image, features = gen.synthesis(w)
    w_grad = w.clone().requires_grad_(True)
    image_grad, features_grad = gen.synthesis(w_grad)
    torch.testing.assert_close(image_grad.detach(), image, rtol=1e-6, atol=1e-6)
    for res in features:
        torch.testing.assert_close(features_grad[res].detach(), features[res], rtol=1e-6, atol=1e-6)
    image_grad.sum().backward()  # nothing saved for backward was overwritten
    gen.zero_grad(set_to_none=True)
    assert torch.isfinite(w_grad.grad).all()


@pytest.mark.parametrize(
    "shape",
    [(2, 8), (2, 7, 40), (2, 8, 39), (8, 40), (1, 2, 8, 40)],
    ids=["2d", "wrong-n-latent", "wrong-w-dim", "no-batch", "4d"],
)
def test_bad_w_plus_shape_raises(shape: tuple[int, ...]) -> None:
    gen = StyleGAN2Generator(SMALL)
    with pytest.raises(InvalidInputError, match=r"w_plus must have shape \(B, 8, 40\), got") as info:
        gen.synthesis(torch.zeros(shape))
    assert isinstance(info.value, ValueError) and isinstance(info.value, DPInpaintError)
    assert str(tuple(shape)) in str(info.value)


def test_bad_noise_mode_raises() -> None:
    gen = StyleGAN2Generator(SMALL)
    with pytest.raises(InvalidInputError, match=r"noise_mode must be 'const', 'random' or 'none', got 'fixed'"):
        gen.synthesis(torch.zeros(1, 8, 40), noise_mode="fixed")


def test_bad_z_and_image_shapes_raise() -> None:
    with pytest.raises(InvalidInputError, match=r"z must have shape \(B, 40\)"):
        StyleGAN2Generator(SMALL).mapping(torch.zeros(2, 41))
    with pytest.raises(InvalidInputError, match=r"shape \(B, 3, 32, 32\)"):
        StyleGAN2Discriminator(SMALL)(torch.zeros(2, 3, 64, 64))


def test_odd_blur_kernel_rejected_or_supported() -> None:
    try:
        config = StyleGAN2Config(
            resolution=32, channels=(16, 16, 8, 8), z_dim=16, w_dim=16, n_mlp=1, blur_kernel=(1, 2, 1)
        )
    except ConfigError:
        return
    gen, ref = _pair(config)
    w_plus = torch.randn(1, config.n_latent, config.w_dim)
    with torch.no_grad():
        _assert_close_scaled(gen.synthesis(w_plus)[0], ref(w_plus))


def test_mbstd_features_must_divide_width() -> None:
    try:
        config = StyleGAN2Config(resolution=8, channels=(8, 8), z_dim=8, w_dim=8, mbstd_features=3)
    except ConfigError:
        return
    assert StyleGAN2Discriminator(config)(torch.zeros(2, 3, 8, 8)).shape == (2, 1)
