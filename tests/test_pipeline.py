"""The public pipeline steps (prepare -> run -> finish) and their typed outputs."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from dpinpaint import Inpainter
from dpinpaint.config import get_preset
from dpinpaint.errors import InvalidInputError
from dpinpaint.options import InpaintOptions
from dpinpaint.pipeline import InpaintResult, Prepared, WindowInput, WindowOutputs
from support.images import textured


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


def test_a_fill_made_at_a_lower_resolution_meets_the_photo_without_a_seam(feedforward: Inpainter) -> None:
    """Through ``inpaint``: with the default blend, a window shrunk for the network (here to a long
    side of 32) is pasted without a step at the hole's edge; observed pixels stay the input's."""
    image = (textured(120, 160, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
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
