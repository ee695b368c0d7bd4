"""Parity of the feed-forward path and its discriminator with PICNet's generative path.

The reference is tests/support/reference_picnet.py, a plain transcription of PICNet's blocks
(lyndonzheng/Pluralistic-Inpainting, model/base_function.py, model/network.py,
model/external_function.py). Weights are copied from the reference into dpinpaint's modules
and the outputs compared (to 1e-5), block by block and for the whole path at 256x256.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize

from dpinpaint import get_preset
from dpinpaint.models import DualPathNet, PICNetDiscriminator
from dpinpaint.models import feedforward as ff
from dpinpaint.models.spectral import spectral_norm_conv
from support.reference_picnet import (
    Auto_Attn,
    Output,
    ResBlock,
    ResBlockDecoder,
    ResBlockEncoderOptimized,
    ResDiscriminator,
    SpectralNorm,
    get_norm_layer,
    picnet_discriminator,
    picnet_encoder,
    picnet_generator,
)

TOL = 1e-5


def _n(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad)  # not SpectralNorm's u, v


@torch.no_grad()
def _conv(ours: nn.Module, theirs: nn.Module, rows: int | None = None) -> None:
    """Copy a PICNet conv (plain or in its SpectralNorm) into ours (plain or parametrised); ``rows``: the first ones."""
    spect = isinstance(theirs, SpectralNorm)
    src = theirs.module if spect else theirs
    weight = (src.weight_bar if spect else src.weight)[:rows]
    if parametrize.is_parametrized(ours, "weight"):
        ours.parametrizations.weight.original.copy_(weight)
        if spect:
            ours.parametrizations.weight[0].u.copy_(src.weight_u[:rows])
    else:
        ours.weight.copy_(weight)
    ours.bias.copy_(src.bias[:rows])


@torch.no_grad()
def _block(ours: ff.ResBlock, theirs: nn.Module, rows: int | None = None) -> None:
    """Copy one of PICNet's residual blocks (ResBlock, ResBlockEncoderOptimized, ResBlockDecoder)."""
    _conv(ours.conv1, theirs.conv1)
    _conv(ours.conv2, theirs.conv2, rows)
    _conv(ours.shortcut, theirs.bypass, rows)
    norms = [m for m in theirs.model if isinstance(m, nn.InstanceNorm2d)]
    for mine, src in zip([ours.norm1, ours.norm2] if norms else [], norms, strict=True):
        mine.load_state_dict(src.state_dict())


@torch.no_grad()
def _attention(ours: ff.ShortLongTermAttention, theirs: Auto_Attn) -> None:
    ours.query.load_state_dict(theirs.query_conv.state_dict())
    ours.gamma.copy_(theirs.gamma)
    ours.alpha.copy_(theirs.alpha)
    _block(ours.fuse, theirs.model)


def _randomise(module: nn.Module, seed: int) -> None:
    """Non-trivial vectors (biases, norm affines, attention scales ``gamma``/``alpha``, which start at 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() == 1:
                p.copy_(torch.rand(p.shape, generator=g) * 0.5 + 0.25)


def _sn(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d):
            spectral_norm_conv(m)
    return module


# -- block by block ------------------------------------------------------------------------
@pytest.mark.parametrize("spect", [False, True])
def test_encoder_blocks(spect: bool) -> None:
    torch.manual_seed(0)
    act = nn.LeakyReLU(0.1)
    theirs_first = ResBlockEncoderOptimized(4, 16, None, act, spect)
    theirs_down = ResBlock(16, 32, 16, None, act, "down", spect)
    theirs_same = ResBlock(32, 24, 32, None, act, "none", spect)
    ours_first = ff.ResBlock(4, 16, "down", first=True)
    ours_down = ff.ResBlock(16, 32, "down")
    ours_same = ff.ResBlock(32, 24, hidden=32)
    pairs = [(ours_first, theirs_first), (ours_down, theirs_down), (ours_same, theirs_same)]
    for ours, theirs in pairs:
        if spect:
            _sn(ours)
        _block(ours, theirs)
    x = torch.randn(2, 4, 32, 32)
    for _ in range(2):  # PICNet's power iteration runs every forward; ours in training mode
        a, b = x, x
        for ours, theirs in pairs:
            a, b = ours(a), theirs(b)
            torch.testing.assert_close(a, b, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("spect", [False, True])
def test_decoder_block_and_output_layer(spect: bool) -> None:
    torch.manual_seed(1)
    act = nn.LeakyReLU(0.1)
    theirs = ResBlockDecoder(24, 16, 16, get_norm_layer("instance"), act, spect)
    theirs_out = Output(16, 3, 3, None, act, spect)
    ours = ff.ResBlock(24, 16, "up", norm=True)
    ours_out = ff.OutputLayer(16, 0.1, norm=False)
    if spect:
        _sn(ours)
        _sn(ours_out)
    _randomise(theirs, 2)
    _block(ours, theirs)
    _conv(ours_out[3], theirs_out.conv1)
    x = torch.randn(2, 24, 8, 8)
    for _ in range(2):
        y = ours(x)
        torch.testing.assert_close(y, theirs(x), atol=TOL, rtol=TOL)
        torch.testing.assert_close(ours_out(y), theirs_out(y), atol=TOL, rtol=TOL)


def test_short_long_term_attention() -> None:
    torch.manual_seed(2)
    theirs = Auto_Attn(32, None)  # PICNet's G: no norm; its fuse block is always spectral-normalised
    ours = ff.ShortLongTermAttention(32, picnet=True)
    _sn(ours.fuse)
    _randomise(theirs, 3)
    _attention(ours, theirs)
    f_g, f_e = torch.randn(2, 32, 16, 16), torch.randn(2, 32, 16, 16)
    known = (torch.rand(2, 1, 64, 64) > 0.4).float()
    known_16 = F.interpolate(known, size=(16, 16), mode="bilinear", align_corners=True)  # PICNet's task.scale_img
    torch.testing.assert_close(ours(f_g, f_e, known), theirs(f_g, f_e, known_16)[0], atol=TOL, rtol=TOL)


# -- whole networks at 256x256 ---------------------------------------------------------------
def _ffhq_feedforward() -> DualPathNet:
    torch.manual_seed(3)
    return DualPathNet(get_preset("ffhq-256").replace(paths="feedforward"))


@torch.no_grad()
def _copy_encoder(ours: ff.FeedForwardEncoder, theirs: nn.Module) -> None:
    _block(ours.blocks[0], theirs.block0)
    for i in range(len(ours.blocks) - 1):
        _block(ours.blocks[i + 1], getattr(theirs, f"encoder{i}"))
    for i, block in enumerate(ours.infer_prior):
        _block(block, getattr(theirs, f"infer_prior{i}"))
    _block(ours.prior, theirs.prior, rows=theirs.z_nc)  # the mean half: the deterministic z


@torch.no_grad()
def _copy_generator(ours: ff.FeedForwardGenerator, theirs: nn.Module) -> None:
    _block(ours.latent, theirs.generator)
    for i, r in enumerate([8, 16, 32, 64, 128]):
        _block(ours.blocks[str(r)], getattr(theirs, f"decoder{i}"))
    _conv(ours.blocks["256"][3], theirs.out4.conv1)
    _attention(ours.attention, theirs.attn1)


@pytest.mark.slow
def test_generative_path_at_256_equals_picnet_at_z_equal_to_the_mean() -> None:
    # Training mode: PICNet's attention fuse block is spectral-normalised even with use_spect=False,
    # and its power iteration runs at every forward, ours in training mode (no layer of E or G
    # behaves differently in training mode otherwise).
    net = _ffhq_feedforward().train()
    _sn(net.generator.attention.fuse)
    torch.manual_seed(4)
    enc, gen = picnet_encoder(input_nc=4, use_spect=False), picnet_generator(use_spect=False)
    _randomise(gen, 5)
    _copy_encoder(net.encoder, enc)
    _copy_generator(net.generator, gen)
    image = torch.rand(1, 3, 256, 256) * 2 - 1
    known = torch.ones(1, 1, 256, 256)
    known[..., 64:192, 80:200] = 0
    masked = image * known
    with torch.no_grad():
        distribution, f = enc(torch.cat([masked, known], dim=1))
        mask_32 = F.interpolate(known, size=(32, 32), mode="bilinear", align_corners=True)
        results, _ = gen(distribution[-1][0], f_m=f[-1], f_e=f[2], mask=mask_32)
        feats = net.encoder(masked, known)
        for r, theirs in zip([128, 64, 32, 16, 8], f, strict=True):
            torch.testing.assert_close(feats[r], theirs, atol=TOL, rtol=TOL)
        torch.testing.assert_close(feats[ff.LATENT], distribution[-1][0], atol=TOL, rtol=TOL)
        generated, _, _ = net.generator(feats, known)
        torch.testing.assert_close(generated, results[-1], atol=TOL, rtol=TOL)


def test_parameter_counts_at_256_against_picnet() -> None:
    """E and G at the ffhq-256 preset vs PICNet's (counts quoted in docs/architecture.md)."""
    net = _ffhq_feedforward()
    enc, gen = picnet_encoder(use_spect=False), picnet_generator(use_spect=False)
    gen4 = picnet_generator(output_scale=4, use_spect=False)
    assert (_n(enc), _n(gen), _n(gen4)) == (3_604_224, 2_353_253, 2_374_016)
    # E: PICNet's less its posterior block and the std half of its prior (VAE only), plus the mask channel.
    c, z = 128, 128
    std_half = c * z * 9 + z + c * z + z
    assert _n(net.encoder) == _n(enc) - _n(enc.posterior) - std_half + 32 * 9 + 32
    # G (feed-forward only): PICNet's single-output generator exactly.
    assert _n(net.generator) == _n(gen)
    assert (_n(net.encoder), _n(net.generator)) == (2_964_672, 2_353_253)


@pytest.mark.parametrize("resolution", [256, 64])
@pytest.mark.slow
def test_discriminator_equals_picnet_resdis(resolution: int) -> None:
    torch.manual_seed(6)
    layers = {256: 5, 64: 3}[resolution]
    theirs = ResDiscriminator(3, 32, 128, layers, "none", nn.LeakyReLU(0.1), True)
    ours = PICNetDiscriminator(resolution)
    _block(ours.block0, theirs.block0)
    for i, block in enumerate(ours.blocks):
        _block(block, getattr(theirs, f"encoder{i}"))
    _block(ours.block1, theirs.block1)
    _conv(ours.conv, theirs.conv)
    if resolution == 256:
        with torch.no_grad():
            theirs.attn2.gamma.fill_(0.6)
            ours.attention.gamma.fill_(0.6)
            ours.attention.query.load_state_dict(theirs.attn2.query_conv.state_dict())
    # Every parameter PICNet's D uses is in ours (but its attention's fuse block and alpha, never used in D).
    unused = _n(theirs.attn2.model) + 1 if resolution == 256 else 0
    assert _n(ours) == _n(theirs) - unused
    x = torch.randn(2, 3, resolution, resolution)
    for _ in range(2):  # in training mode both run one power iteration per forward
        torch.testing.assert_close(ours(x), theirs(x), atol=TOL, rtol=TOL)
    assert ours(x).shape == (2, 1, 6, 6)


def test_default_discriminator_sizes_are_picnets() -> None:
    theirs = picnet_discriminator()
    assert _n(PICNetDiscriminator(256)) == _n(theirs) - _n(theirs.attn2.model) - 1 == 1_099_554
