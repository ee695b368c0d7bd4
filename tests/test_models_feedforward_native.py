"""The feed-forward path at sizes other than its training size (native-resolution inference)."""

from __future__ import annotations

import pytest
import torch

from dpinpaint import DualPathNet, get_preset
from dpinpaint.errors import InvalidInputError
from dpinpaint.models.feedforward import ShortLongTermAttention, bounded_grid


@pytest.fixture(scope="module")
def ff_net() -> DualPathNet:
    torch.manual_seed(3)
    net = DualPathNet(get_preset("tiny").replace(paths="feedforward")).eval()
    with torch.no_grad():  # the attention's scales start at 0; give them weight so the attention matters
        net.generator.attention.gamma.fill_(0.7)
        net.generator.attention.alpha.fill_(0.9)
    return net


@pytest.mark.parametrize(("h", "w", "tokens"), [(64, 64, 256), (48, 160, 256), (7, 300, 64), (5, 5, 1024), (1, 9, 4)])
def test_bounded_grid_keeps_at_most_max_tokens_and_the_aspect(h: int, w: int, tokens: int) -> None:
    gh, gw = bounded_grid(h, w, tokens)
    assert 1 <= gh <= h and 1 <= gw <= w
    assert gh * gw <= max(tokens, 1)
    if h * w <= tokens:
        assert (gh, gw) == (h, w)
    elif min(gh, gw) > 2:
        assert abs(gh / gw - h / w) / (h / w) < 0.5


def test_attention_is_exact_up_to_max_tokens() -> None:
    torch.manual_seed(0)
    att = ShortLongTermAttention(8, max_tokens=16 * 16).eval()
    with torch.no_grad():
        att.gamma.fill_(0.5), att.alpha.fill_(0.8)
    f_g, f_e = torch.randn(2, 8, 16, 16), torch.randn(2, 8, 16, 16)
    known = (torch.rand(2, 1, 16, 16) > 0.3).float()
    bounded = att(f_g, f_e, known)
    att.max_tokens = 0
    assert torch.equal(bounded, att(f_g, f_e, known))


def _attention_sizes(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Record the ``(N, M)`` of every softmax (the attention maps) from now on."""
    sizes: list[tuple[int, int]] = []
    softmax = torch.softmax

    def recording(x: torch.Tensor, dim: int) -> torch.Tensor:
        sizes.append((int(x.shape[-2]), int(x.shape[-1])))
        return softmax(x, dim=dim)

    monkeypatch.setattr(torch, "softmax", recording)
    return sizes


def test_attention_on_a_large_map_grows_linearly(monkeypatch: pytest.MonkeyPatch) -> None:
    torch.manual_seed(0)
    att = ShortLongTermAttention(8, max_tokens=16 * 16).eval()
    sizes = _attention_sizes(monkeypatch)
    outs = []
    for h, w in [(32, 48), (64, 96)]:
        out = att(torch.randn(1, 8, h, w), torch.randn(1, 8, h, w), torch.ones(1, 1, h, w))
        assert out.shape == (1, 8, h, w) and torch.isfinite(out).all()
        outs.append(out)
    (n1, m1), (n2, m2) = sizes
    assert (n1, n2) == (32 * 48, 64 * 96)  # every position queries
    assert m1 <= 256 and m2 <= 256  # keys and values are bounded
    assert n2 * m2 <= 4.5 * n1 * m1  # 4x the pixels, ~4x the attention (not 16x)


@pytest.mark.slow
def test_feedforward_model_runs_at_any_multiple_of_its_stride(ff_net: DualPathNet) -> None:
    assert ff_net.size_multiple == 64 // 8
    for h, w in [(64, 64), (40, 96), (128, 72), (16, 16)]:
        image = torch.rand(1, 3, h, w) * 2 - 1
        known = (torch.rand(1, 1, h, w) > 0.4).float()
        with torch.no_grad():
            out = ff_net(image, known)
        assert out.output.shape == (1, 3, h, w) and out.generated is not None
        assert torch.isfinite(out.generated).all()
        assert torch.equal(out.output[known.bool().expand_as(image)], image[known.bool().expand_as(image)])


def test_feedforward_model_at_training_size_is_unchanged_by_the_bound(ff_net: DualPathNet) -> None:
    image, known = torch.rand(2, 3, 64, 64) * 2 - 1, (torch.rand(2, 1, 64, 64) > 0.4).float()
    with torch.no_grad():
        bounded = ff_net(image, known).generated
        ff_net.generator.attention.max_tokens = 0
        try:
            exact = ff_net(image, known).generated
        finally:
            ff_net.generator.attention.max_tokens = 16 * 16
    assert bounded is not None and exact is not None and torch.equal(bounded, exact)


def test_sizes_that_are_not_multiples_are_refused(ff_net: DualPathNet, tiny_net: DualPathNet) -> None:
    with pytest.raises(InvalidInputError, match="multiples of 8"):
        ff_net(torch.zeros(1, 3, 60, 64), torch.ones(1, 1, 60, 64))
    with pytest.raises(InvalidInputError, match="at least 16"):
        ff_net(torch.zeros(1, 3, 8, 64), torch.ones(1, 1, 8, 64))
    with pytest.raises(InvalidInputError, match="known must have shape"):
        ff_net(torch.zeros(1, 3, 64, 64), torch.ones(1, 1, 64, 72))
    assert tiny_net.size_multiple is None  # the inversion path's StyleGAN2 has a fixed size
    with pytest.raises(InvalidInputError, match="works at 64x64"):
        tiny_net(torch.zeros(1, 3, 64, 72), torch.ones(1, 1, 64, 72))
