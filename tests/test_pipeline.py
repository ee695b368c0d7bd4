"""The public pipeline steps (prepare -> run -> finish) and their typed outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpinpaint import Inpainter, pipeline
from dpinpaint.config import get_preset
from dpinpaint.errors import InvalidInputError
from dpinpaint.options import InpaintOptions
from dpinpaint.pipeline import InpaintResult, Prepared, WindowInput, WindowOutputs


@pytest.fixture(scope="module")
def dual() -> Inpainter:
    return Inpainter.from_config("tiny", seed=3, w_avg_samples=64)


@pytest.fixture(scope="module")
def feedforward() -> Inpainter:
    return Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=3)


def _case(h: int, w: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    mask = np.zeros((h, w), dtype=bool)
    mask[h // 8 : h // 8 + 9, w // 8 : w // 8 + 7] = True
    mask[h - 12 : h - 2, w - 15 : w - 3] = True
    return image, mask


@pytest.mark.parametrize("which", ["dual", "feedforward"])
def test_the_steps_give_what_inpaint_gives(which: str, request: pytest.FixtureRequest) -> None:
    inp: Inpainter = request.getfixturevalue(which)
    image, mask = _case(300, 257, 0)
    options = inp.options(strategy="crop")
    prepared = inp.prepare(image, mask, options)
    assert isinstance(prepared, Prepared) and prepared.strategies == ["crop"]
    assert all(isinstance(w, WindowInput) for w in prepared.windows) and len(prepared.windows) == 2
    outputs = inp.run(prepared.windows, options)
    assert isinstance(outputs, WindowOutputs)
    stepped = inp.finish(prepared, outputs)
    np.testing.assert_array_equal(stepped, inp.inpaint(image, mask, options))
    np.testing.assert_array_equal(stepped, inp.inpaint(image, mask, strategy="crop"))  # the keyword spelling
    changed = stepped != image
    assert not changed[~mask].any()  # observed pixels bit for bit


def test_complete_runs_several_images_in_shared_passes_in_order(feedforward: Inpainter) -> None:
    cases = [_case(64, 64, s) for s in range(3)]
    options = feedforward.options()
    prepared = [feedforward.prepare(i, m, options) for i, m in cases]
    together = list(feedforward.complete(prepared, options, batch_size=8))
    for (image, mask), result in zip(cases, together, strict=True):
        alone = feedforward.inpaint(image, mask, options)
        assert np.abs(result.astype(int) - alone.astype(int)).max() <= 1  # batching changes rounding only


def test_window_outputs_slice_and_concat_round_trip() -> None:
    a = WindowOutputs(output=torch.zeros(2, 3, 4, 4), latent=torch.ones(2, 5, 8), offsets={4: torch.zeros(2, 18, 4, 4)})
    b = WindowOutputs(output=torch.ones(1, 3, 4, 4), latent=torch.zeros(1, 5, 8), offsets={4: torch.ones(1, 18, 4, 4)})
    joined = WindowOutputs.concat([a, b])
    assert joined.output.shape == (3, 3, 4, 4) and joined.generated is None
    assert joined.offsets[4].shape == (3, 18, 4, 4)
    assert torch.equal(joined.slice(2, 3).output, b.output)
    assert torch.equal(joined.slice(0, 2).offsets[4], a.offsets[4])
    odd = WindowOutputs.concat([a, WindowOutputs(output=torch.ones(1, 3, 8, 4))])
    assert isinstance(odd.output, list) and [t.shape for t in odd.output][-1] == (3, 8, 4)  # sizes differ: a list


def test_details_are_typed_and_complete(dual: Inpainter) -> None:
    image, mask = _case(64, 64, 1)
    result = dual.inpaint(image, mask, return_details=True)
    assert isinstance(result, InpaintResult)
    assert result.generated is not None and result.inversion is not None and result.latent is not None
    assert set(result.offsets) == set(dual.config.deformable_resolutions)
    assert result.windows == [(0, result.windows[0][1])] and result.strategy == ["resize"]


def test_options_objects_and_keywords_combine(dual: Inpainter, feedforward: Inpainter) -> None:
    base = InpaintOptions(strategy="crop", crop_margin=0.25)
    assert dual.options(base, crop_margin=1.0) == InpaintOptions(strategy="crop", crop_margin=1.0)
    with pytest.raises(InvalidInputError, match='"native" needs a feed-forward-only model'):
        dual.options(strategy="native")
    with pytest.raises(InvalidInputError, match="needs the inversion path"):
        feedforward.options(inversion="optimize")
    with pytest.raises(InvalidInputError, match="options must be an InpaintOptions"):
        dual.inpaint(np.zeros((8, 8, 3), np.uint8), np.ones((8, 8), bool), {"strategy": "crop"})  # type: ignore[arg-type]


def test_blend_windows_blends_each_window_and_keeps_observed_pixels() -> None:
    """Each window is blended on its own; observed pixels are the input's; a window whose fill is
    not finite keeps its plain composite instead of spreading NaN over its holes."""
    from dpinpaint.ops import poisson_blend
    from dpinpaint.pipeline import blend_windows

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


def test_details_output_is_what_each_window_pasted_and_the_figure_shows_it(feedforward: Inpainter) -> None:
    """``InpaintResult.output`` is each window's blended (or, with blend="none", composited) result,
    and the explanation figure's output panel follows it."""
    image, mask = _case(80, 96, 2)
    plain = feedforward.inpaint(image, mask, blend="none", return_details=True)
    blended = feedforward.inpaint(image, mask, return_details=True)
    for result in (plain, blended):
        outputs = result.output if isinstance(result.output, list) else list(result.output)
        assert len(outputs) == len(result.windows)
        known = result.known[0]
        assert torch.equal(outputs[0] * known, result.masked[0] * known)  # observed pixels: the input's
    composite = plain.masked[0] * plain.known[0] + plain.generated[0] * (1 - plain.known[0])
    assert torch.allclose(plain.output[0], composite, atol=1e-6)
    hole = blended.known[0] < 0.5
    assert not torch.allclose(blended.output[0][hole.expand(3, -1, -1)], composite[hole.expand(3, -1, -1)])
    figures = [np.asarray(r.figure(window=0)) for r in (plain, blended)]
    assert figures[0].shape == figures[1].shape and not np.array_equal(figures[0], figures[1])


def _textured(height: int, width: int, seed: int) -> torch.Tensor:
    """``(3, height, width)`` in [0, 1]: a smooth gradient with fine texture on it (noise blurred
    over a few pixels, as a photo's detail is: finer than a shrunk copy keeps, coarser than a pixel)."""
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0:height, 0:width] / max(height, width)
    smooth = torch.from_numpy(np.stack([0.3 + 0.4 * rows, 0.6 - 0.3 * cols, 0.5 + 0.2 * rows * cols])).float()
    noise = torch.from_numpy(rng.standard_normal((1, 3, height, width))).float()
    texture = torch.nn.functional.avg_pool2d(noise, 5, 1, 2, count_include_pad=False)[0]
    return (smooth + 0.25 * texture).clamp(0.0, 1.0)


def test_window_fill_blends_a_rescaled_window_again_at_the_image_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    """The network fills a shrunk hole grown by the resampling (a ring of pixels it never saw), so
    even a fill blended at its own resolution can be off where the photo's hole really begins; the
    second blend makes it meet the photo there. A window the network saw at the image's own
    resolution, no image, or a fill that is not finite: nothing more is done."""
    from dpinpaint.pipeline import window_fill
    from dpinpaint.strategies import Window, model_to_window, window_to_native

    truth = _textured(96, 128, 0)
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
    monkeypatch.setattr(pipeline, "BLEND_MAX_HOLES", int(hole.sum()) // 4)
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


def test_a_fill_made_at_a_lower_resolution_meets_the_photo_without_a_seam(feedforward: Inpainter) -> None:
    """Through ``inpaint``: with the default blend, a window shrunk for the network (here to a long
    side of 32) is pasted without a step at the hole's edge; observed pixels stay the input's."""
    image = (_textured(120, 160, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    mask = np.zeros((120, 160), dtype=bool)
    mask[35:85, 50:120] = True
    plain = feedforward.inpaint(image, mask, blend="none", native_max_side=32, strategy="native")
    blended = feedforward.inpaint(image, mask, native_max_side=32, strategy="native")

    def step(out: np.ndarray) -> float:
        """Mean difference across the hole's edge (each edge hole pixel against its observed neighbour)."""
        x = out.astype(np.float64)
        pairs = [(x[35, 50:120], x[34, 50:120]), (x[84, 50:120], x[85, 50:120])]
        pairs += [(x[35:85, 50], x[35:85, 49]), (x[35:85, 119], x[35:85, 120])]
        return float(np.mean([np.abs(a - b).mean() for a, b in pairs]))

    assert step(blended) < 0.6 * step(plain)
    assert np.array_equal(blended[~mask], image[~mask])
