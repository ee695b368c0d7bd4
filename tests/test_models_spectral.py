"""Spectral normalisation of E and G while training, and its folding into plain weights for export."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn.utils import parametrize

from dpinpaint import get_preset
from dpinpaint.checkpoint import load_model, save_model
from dpinpaint.models import DualPathNet, apply_spectral_norm, fold_spectral_norm
from dpinpaint.models.spectral import has_spectral_norm, spectral_norm_conv, spectral_norms

TINY = get_preset("tiny")
SN_KEYS = ("parametrizations", "weight_orig", "weight_u", "weight_v", "_u", "_v", ".u", ".v", "original")


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    known = (torch.rand(2, 1, 64, 64, generator=g) > 0.4).float()
    return image, known


def _sn_net(seed: int = 0) -> DualPathNet:
    torch.manual_seed(seed)
    net = DualPathNet(TINY)
    apply_spectral_norm(net)
    net.train()
    image, known = _batch(seed)
    with torch.no_grad():
        for _ in range(3):  # move the power-iteration estimate away from its start
            net(image, known)
    return net


def test_every_picnet_conv_of_e_and_g_is_normalised_and_nothing_else() -> None:
    net = DualPathNet(TINY)
    names = apply_spectral_norm(net)
    convs = {
        f"{prefix}.{n}"
        for prefix in ("encoder", "generator")
        for n, m in getattr(net, prefix).named_modules()
        if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)
    }
    assert set(names) == convs - {"generator.attention.query"} - {c for c in convs if ".fusions." in c}
    assert any("generator.blocks.32.conv2" == n for n in names)  # a transposed conv of the decoder
    assert not any(parametrize.is_parametrized(m) for m in net.stylegan.modules())
    assert not any(parametrize.is_parametrized(m) for m in net.style_encoder.modules())
    assert apply_spectral_norm(net) == []  # idempotent


@pytest.mark.slow
def test_power_iteration_runs_in_training_mode_only() -> None:
    net = _sn_net()
    u = net.encoder.blocks[1].conv1.parametrizations.weight[0].u
    before = u.clone()
    image, known = _batch(1)
    with torch.no_grad():
        net.eval()(image, known)
        assert torch.equal(u, before)
        net.train()(image, known)
        assert not torch.equal(u, before)


@pytest.mark.slow
def test_folded_network_equals_the_training_network_in_eval_mode(tmp_path: Path) -> None:
    net = _sn_net()
    image, known = _batch(2)
    with torch.no_grad():
        expected = net.eval()(image, known).generated
        folded = fold_spectral_norm(net)
        # The training network is unchanged, and so is a deep copy of it (e.g. a weight average).
        twin = copy.deepcopy(net)
        fold_spectral_norm(twin)
        torch.testing.assert_close(net(image, known).generated, expected, rtol=0, atol=0)
        torch.testing.assert_close(twin(image, known).generated, expected, rtol=0, atol=0)
        assert not has_spectral_norm(folded) and has_spectral_norm(net)
        torch.testing.assert_close(folded(image, known).generated, expected, rtol=0, atol=1e-6)
    state = folded.state_dict()
    assert not [k for k in state if any(s in k for s in SN_KEYS)]
    assert state.keys() == DualPathNet(TINY).state_dict().keys()
    # The export: same file layout as a network trained without spectral norm, same output.
    save_model(folded, TINY, tmp_path / "export")
    loaded = load_model(tmp_path / "export")
    with torch.no_grad():
        torch.testing.assert_close(loaded(image, known).generated, expected, rtol=0, atol=1e-6)
    # Folded weights have spectral norm 1 (up to the power iteration's estimate).
    sigmas = spectral_norms(folded)
    assert len(sigmas) > 20 and all(abs(s - 1) < 0.05 for s in sigmas.values())


@pytest.mark.slow
def test_training_mode_output_uses_the_normalised_weights() -> None:
    """The normalised weight is W / sigma(W): scaling W leaves the network unchanged."""
    net = _sn_net()
    image, known = _batch(3)
    with torch.no_grad():
        expected = net.eval()(image, known).generated
        for m in net.modules():
            if parametrize.is_parametrized(m, "weight"):
                m.parametrizations.weight.original.mul_(3.0)
        torch.testing.assert_close(net(image, known).generated, expected, rtol=1e-5, atol=1e-5)


def test_spectral_norm_under_autocast_keeps_its_estimate_in_float32() -> None:
    conv = nn.Conv2d(3, 4, 3)
    spectral_norm_conv(conv)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = conv(torch.randn(1, 3, 8, 8))
    assert y.dtype == torch.bfloat16 and conv.parametrizations.weight[0].u.dtype == torch.float32
    y.float().sum().backward()
    assert conv.parametrizations.weight.original.grad is not None


@pytest.mark.slow
def test_saving_a_spectral_normalised_network_writes_plain_weights(tmp_path: Path) -> None:
    """save_model (and so Inpainter.save_pretrained) folds spectral norm itself, not only the trainer's export."""
    net = _sn_net(3).eval()
    image, known = _batch(4)
    with torch.no_grad():
        expected = net(image, known).output
    save_model(net, TINY, tmp_path / "saved")
    loaded = load_model(tmp_path / "saved")
    with torch.no_grad():
        assert torch.allclose(loaded(image, known).output, expected, atol=1e-6)
    assert not any(key in name for name in loaded.state_dict() for key in SN_KEYS)
