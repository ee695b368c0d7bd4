"""How a window's fill meets the observed pixels: the blends of steps 2 and 3, and flat surroundings."""

from __future__ import annotations

import pytest
import torch

from dpinpaint import blending
from dpinpaint.blending import blend_windows, window_fill
from dpinpaint.ops import flat_detail, harmonic_fill, poisson_blend
from dpinpaint.strategies import Window, model_to_window, window_to_native
from support.images import textured


def test_blend_windows_blends_each_window_and_keeps_observed_pixels() -> None:
    """Each window is blended on its own; observed pixels are the input's; a window whose fill is
    not finite keeps its plain composite instead of spreading NaN over its holes."""

    torch.manual_seed(0)
    image = torch.rand(3, 3, 16, 20) * 2 - 1
    known = torch.ones(3, 1, 16, 20)
    known[:, :, 4:10, 5:15] = 0
    known[1, :, 0:3, 0:3] = 0
    fill = torch.rand(3, 3, 16, 20) * 2 - 1
    fill[2, 0, 6, 7] = float("nan")
    out = blend_windows(fill, image * known, known)
    observed = known.bool().expand_as(image)
    assert torch.equal(out[observed], (image * known)[observed])
    for i in range(2):
        hole = known[i, 0] < 0.5
        assert torch.equal(out[i], poisson_blend(fill[i], image[i] * known[i], hole))
    hole = (known[2] < 0.5).expand(3, -1, -1)
    finite = hole & torch.isfinite(fill[2])
    assert torch.equal(out[2][finite], fill[2][finite])  # the plain fill, not blended
    assert int(torch.isfinite(out[2][hole]).sum()) == int(hole.sum()) - 1  # only the NaN pixel itself


def test_window_fill_blends_a_rescaled_window_again_at_the_image_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network fills a shrunk hole grown by the resampling (a ring of pixels it never saw), so
    even a fill blended at its own resolution can be off where the photo's hole really begins; the
    second blend makes it meet the photo there. A window the network saw at the image's own
    resolution, no image, or a fill that is not finite: nothing more is done."""

    truth = textured(96, 128, 0)
    hole = torch.zeros(96, 128, dtype=torch.bool)
    hole[30:60, 40:90] = True
    window = Window(0, 0, 96, 128)
    _, known, geometry = window_to_native(truth, hole, window, multiple=8, max_side=32)
    perfect, _, _ = window_to_native(truth, torch.zeros_like(hole), window, multiple=8, max_side=32)
    assert geometry.rescaled
    offset = torch.tensor([0.2, -0.1, 0.1])[:, None, None]
    output = torch.where(known > 0.5, perfect, perfect + 2 * offset)  # off by a constant in its holes
    plain = window_fill(output, geometry, None, hole)
    again = window_fill(output, geometry, truth, hole)
    assert torch.equal(plain, model_to_window(output, geometry))
    near = torch.nn.functional.max_pool2d((~hole)[None, None].float(), 5, 1, 2)[0, 0] > 0
    edge = hole & near  # hole pixels within two of an observed one
    error = [float((x - truth)[:, edge].abs().mean()) for x in (plain, again)]
    assert error[1] < 0.5 * error[0]
    assert float((again - truth)[:, hole].pow(2).mean()) < float((plain - truth)[:, hole].pow(2).mean())
    assert float(again.min()) >= 0.0 and float(again.max()) <= 1.0
    # a window with more than BLEND_MAX_HOLES hole pixels: blended shrunk, the correction enlarged
    monkeypatch.setattr(blending, "BLEND_MAX_HOLES", int(hole.sum()) // 4)
    capped = window_fill(output, geometry, truth, hole)
    assert not torch.equal(capped, again) and torch.equal(capped[:, ~hole], truth[:, ~hole])
    assert float((capped - truth)[:, edge].abs().mean()) < 0.6 * error[0]  # less than at full size
    monkeypatch.undo()

    _, _, same = window_to_native(truth, hole, window, multiple=8, max_side=256)
    native, _, _ = window_to_native(truth, torch.zeros_like(hole), window, multiple=8, max_side=256)
    assert not same.rescaled
    assert torch.equal(window_fill(native, same, truth, hole), model_to_window(native, same))
    broken = perfect.clone()
    broken[0, 5, 5] = float("nan")
    assert torch.equal(window_fill(broken, geometry, truth, hole).isnan(), model_to_window(broken, geometry).isnan())


def _scratch(height: int, width: int) -> torch.Tensor:
    """``(height, width)`` bool: two thin scratches, 2 px wide, one across and one down."""
    hole = torch.zeros(height, width, dtype=torch.bool)
    hole[height // 2 : height // 2 + 2, 4:-4] = True
    hole[4:-4, width // 3 : width // 3 + 2] = True
    return hole


def test_across_flat_surroundings_a_thin_hole_is_filled_smoothly_not_with_the_fill_s_noise() -> None:
    """A scratch across a flat, out-of-focus background: a fill with noise in it (what a network adds
    there) is blended as the harmonic interpolation of the surroundings, which is far closer to the
    truth; ``flat_contrast=0`` keeps the noise (the plain Poisson blend)."""
    truth = textured(64, 80, 0, amount=0.0) * 2 - 1  # in [-1, 1], as the network sees it
    hole = _scratch(64, 80)
    known = (~hole).float()[None, None]
    torch.manual_seed(0)
    fill = truth + 0.1 * torch.randn_like(truth)
    plain = blend_windows(fill[None], truth[None] * known, known)[0]
    smooth = blend_windows(fill[None], truth[None] * known, known, flat_contrast=0.04)[0]
    assert torch.equal(plain, poisson_blend(fill, truth, hole))
    # the harmonic interpolation (a few percent of the noise stay where the scratches cross, on the
    # fewer observed pixels there)
    assert float((smooth - harmonic_fill(truth, hole)).abs().max()) < 0.02
    error = [float((x - truth)[:, hole].abs().mean()) for x in (plain, smooth)]
    assert error[1] < 0.1 * error[0]


def test_where_the_surroundings_have_texture_the_fill_s_detail_is_kept() -> None:
    """The same scratch across a textured photo (fine detail of about 0.035 on a 0-1 scale, above the
    0.01 asked for): the fill's own detail stays whole (the result is the plain Poisson blend), so
    the network's texture is not smoothed away."""
    truth = textured(64, 80, 1, amount=0.5) * 2 - 1
    hole = _scratch(64, 80)
    known = (~hole).float()[None, None]
    fill = truth.flip(-1)  # detail of its own, not the truth's
    plain = blend_windows(fill[None], truth[None] * known, known)[0]
    kept = blend_windows(fill[None], truth[None] * known, known, flat_contrast=0.01)[0]
    assert torch.allclose(kept, plain, atol=1e-5)


def test_blend_windows_measures_flatness_on_a_0_to_1_scale() -> None:
    """The windows are in [-1, 1]; ``flat_contrast`` is on a 0-1 scale, as for the second blend:
    each window is blended with :func:`flat_detail` of its photo brought to [0, 1]."""
    truth = textured(48, 64, 4, amount=0.08)  # fine detail 0.006-0.007: between the two values below
    hole = _scratch(48, 64)
    known = (~hole).float()[None, None]
    torch.manual_seed(2)
    fill = (truth * 2 - 1) + 0.1 * torch.randn(3, 48, 64)
    for flat in (0.004, 0.008):
        detail = flat_detail(truth, hole, flat, blending.FLAT_RADIUS)
        expected = poisson_blend(fill, truth * 2 - 1, hole, detail)
        out = blend_windows(fill[None], (truth * 2 - 1)[None] * known, known, flat_contrast=flat)[0]
        assert torch.allclose(out, expected, atol=1e-5)
    low, high = (flat_detail(truth, hole, f, blending.FLAT_RADIUS) for f in (0.004, 0.008))
    assert low is not None and high is not None and float((low - high)[hole].mean()) > 0.1


def test_the_second_blend_of_a_rescaled_window_also_fills_flat_surroundings_smoothly(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """:func:`window_fill` at the image's resolution (values in [0, 1]): a hole in a flat background
    comes out as the harmonic interpolation of the photo around it; observed pixels stay the photo's.
    Blended shrunk (more than ``BLEND_MAX_HOLES`` hole pixels), the fill's finer detail fades too."""
    truth = textured(96, 128, 2, amount=0.0)
    hole = torch.zeros(96, 128, dtype=torch.bool)
    hole[40:44, 10:120] = True
    window = Window(0, 0, 96, 128)
    _, known, geometry = window_to_native(truth, hole, window, multiple=8, max_side=32)
    assert geometry.rescaled
    torch.manual_seed(1)
    output = torch.randn(3, *known.shape[-2:]) * 0.2  # a noisy fill in [-1, 1]
    smooth = window_fill(output, geometry, truth, hole, flat_contrast=0.04)
    noisy = window_fill(output, geometry, truth, hole)
    assert torch.equal(smooth[:, ~hole], truth[:, ~hole])
    assert float((smooth - harmonic_fill(truth, hole).clamp(0, 1)).abs().max()) < 0.02
    assert float((smooth - truth)[:, hole].abs().mean()) < 0.2 * float((noisy - truth)[:, hole].abs().mean())
    monkeypatch.setattr(blending, "BLEND_MAX_HOLES", int(hole.sum()) // 4)
    capped = window_fill(output, geometry, truth, hole, flat_contrast=0.04)
    capped_noisy = window_fill(output, geometry, truth, hole)
    assert torch.equal(capped[:, ~hole], truth[:, ~hole])
    error = [float((x - truth)[:, hole].abs().mean()) for x in (capped, capped_noisy)]
    assert error[0] < 0.3 * error[1]


@pytest.mark.parametrize("flat_contrast", [0.0, 0.04])
def test_inpaint_passes_flat_contrast_to_both_blends(flat_contrast: float, monkeypatch: pytest.MonkeyPatch) -> None:
    """The option reaches :func:`blend_windows` and :func:`window_fill` unchanged."""
    from dpinpaint import Inpainter, pipeline

    seen: list[float] = []

    def spy_blend(fill: torch.Tensor, image: torch.Tensor, known: torch.Tensor, flat: float = 0.0) -> torch.Tensor:
        seen.append(flat)
        return blend_windows(fill, image, known, flat)

    def spy_fill(*args: object, **kwargs: object) -> torch.Tensor:
        seen.append(float(args[4]))  # type: ignore[arg-type]
        return window_fill(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "blend_windows", spy_blend)
    monkeypatch.setattr(pipeline, "window_fill", spy_fill)
    model = Inpainter.from_config("demo", device="cpu", dtype="float32", seed=0)
    image = (textured(48, 64, 3).permute(1, 2, 0).numpy() * 255).astype("uint8")
    mask = _scratch(48, 64).numpy()
    model.inpaint(image, mask, flat_contrast=flat_contrast)
    assert seen and all(v == flat_contrast for v in seen)
