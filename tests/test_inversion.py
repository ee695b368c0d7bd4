"""The inversion strategies (learned / optimize / hybrid) and the explanation figure."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from dpinpaint import Inpainter, get_preset
from dpinpaint.errors import InvalidInputError
from dpinpaint.explain import default_pixel, sampling_points
from dpinpaint.inversion import InversionConfig, masked_loss, optimize_latent

STEPS = 30


@pytest.fixture(scope="module")
def inp() -> Inpainter:
    return Inpainter.from_config("tiny", seed=1, w_avg_samples=256)


@pytest.fixture(scope="module")
def sample() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:64, 0:64]
    image = np.stack([x * 4, y * 4, (x + y) * 2], -1).astype(np.uint8) // 2 + rng.integers(0, 60, (64, 64, 3)).astype(
        np.uint8
    )
    mask = np.zeros((64, 64), np.uint8)
    mask[12:40, 16:44] = 255
    return image, mask


def _known_error(result, image: np.ndarray, mask: np.ndarray) -> float:  # type: ignore[no-untyped-def]
    """Mean |I_s - input| over the known pixels, in [0, 1] units."""
    target = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    known = torch.from_numpy(mask == 0)
    return float((result.inversion[0] - target).abs()[:, known].mean())


@pytest.mark.slow
def test_optimize_lowers_the_masked_error_below_learned(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = sample
    learned = inp.inpaint(image, mask, return_details=True)
    opt = inp.inpaint(image, mask, inversion="optimize", steps=STEPS, return_details=True, progress=False)
    losses = opt.inversion_loss[0]
    assert losses.shape == (STEPS,)
    assert losses[-1] < 0.7 * losses[0]  # the search makes progress
    assert _known_error(opt, image, mask) < _known_error(learned, image, mask)
    assert not torch.equal(opt.latent, learned.latent)
    hole = mask > 0
    assert np.array_equal(opt.image[~hole], image[~hole])  # observed pixels still bit-identical
    # the search starts from w_avg in every W+ slot
    w_avg = inp.model.stylegan.w_avg
    config = InversionConfig("optimize", steps=0)
    start = torch.zeros(1, inp.model.stylegan.n_latent, w_avg.shape[0]) + w_avg
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
    known = torch.from_numpy(mask == 0).float()[None, None]
    same, trace = optimize_latent(inp.model, x, known, start, config)
    assert torch.equal(same, start) and trace.losses == []


@pytest.mark.slow
def test_hybrid_starts_from_the_encoder(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = sample
    learned = inp.inpaint(image, mask, return_details=True)
    at_zero = inp.inpaint(image, mask, inversion="hybrid", steps=0, return_details=True)
    assert np.array_equal(at_zero.image, learned.image) and torch.equal(at_zero.latent, learned.latent)
    hybrid = inp.inpaint(image, mask, inversion="hybrid", steps=STEPS, return_details=True, progress=False)
    # step 0 of hybrid is the learned code: its loss there is the learned inversion's error
    x = torch.from_numpy(image).permute(2, 0, 1).float()[None] / 127.5 - 1
    known = torch.from_numpy(mask == 0).float()[None, None]
    with torch.no_grad():
        learned_is, _ = inp.model.synthesize(learned.latent)
    expected = masked_loss(learned_is, x * known, known)
    torch.testing.assert_close(hybrid.inversion_loss[0, 0], expected[0], rtol=1e-4, atol=1e-5)
    assert hybrid.inversion_loss[0, -1] < hybrid.inversion_loss[0, 0]
    assert _known_error(hybrid, image, mask) < _known_error(learned, image, mask)


@pytest.mark.slow
def test_optimisation_is_reproducible_and_batches_optimise_per_image(
    inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]
) -> None:
    image, mask = sample
    a = inp.inpaint(image, mask, inversion="optimize", steps=10, seed=3, progress=False)
    b = inp.inpaint(image, mask, inversion="optimize", steps=10, seed=3, progress=False)
    assert np.array_equal(a, b)
    # two images in one batched search == each image searched alone (one latent each, no cross-talk)
    x = torch.from_numpy(image).permute(2, 0, 1).float() / 255
    batch = torch.stack([x, x.flip(-1)])
    masks = torch.from_numpy(mask > 0)[None, None].expand(2, 1, -1, -1)
    batched = Inpainter(inp.model, batch_size=2).inpaint(
        batch, masks, inversion="optimize", steps=10, return_details=True, progress=False
    )
    alone = inp.inpaint(x.flip(-1), masks[1, 0], inversion="optimize", steps=10, return_details=True, progress=False)
    torch.testing.assert_close(batched.inversion_loss[1], alone.inversion_loss[0], rtol=1e-3, atol=1e-5)
    torch.testing.assert_close(batched.latent[1], alone.latent[0], rtol=1e-3, atol=1e-4)


def test_each_step_is_one_generator_forward_and_no_feedforward(
    inp: Inpainter, sample: tuple[np.ndarray, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = {"synthesis": 0, "encoder": 0, "generator": 0}
    model = inp.model
    for name, module in (("encoder", model.encoder), ("generator", model.generator)):
        module.register_forward_hook(lambda *_, n=name: calls.__setitem__(n, calls[n] + 1))
    synthesis = model.stylegan.synthesis

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["synthesis"] += 1
        return synthesis(*args, **kwargs)

    monkeypatch.setattr(model.stylegan, "synthesis", counting)
    try:
        inp.inpaint(*sample, inversion="optimize", steps=7, progress=False)
    finally:
        model.encoder._forward_hooks.clear()
        model.generator._forward_hooks.clear()
    # 7 search steps + the final dual-path forward; the feed-forward path runs once
    assert calls == {"synthesis": 8, "encoder": 1, "generator": 1}


def test_other_paths_and_bad_arguments(sample: tuple[np.ndarray, np.ndarray], inp: Inpainter) -> None:
    image, mask = sample
    ff = Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0)
    result = ff.inpaint(image, mask, return_details=True)
    assert result.inversion is None and result.latent is None and result.generated is not None
    with pytest.raises(InvalidInputError, match="needs the inversion path"):
        ff.inpaint(image, mask, inversion="optimize", steps=2)
    inv_only = Inpainter.from_config(get_preset("tiny").replace(paths="inversion"), seed=0, w_avg_samples=64)
    result = inv_only.inpaint(
        image, mask, inversion="optimize", steps=3, return_details=True, progress=False, blend="none"
    )
    assert result.generated is None and result.inversion is not None
    hole = mask > 0
    fill = np.round(result.inversion[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    assert np.abs(result.image[hole].astype(int) - fill[hole]).max() <= 1  # the fill is I_s (Yeh/Lahiri-style)
    assert np.array_equal(result.image[~hole], image[~hole])
    for kwargs, message in [
        ({"inversion": "gradient"}, "inversion must be one of"),
        ({"inversion": "optimize", "steps": -1}, "steps"),
        ({"inversion": "optimize", "inversion_lr": 0}, "lr"),
        ({"inversion": "optimize", "inversion_loss": "lpips"}, "loss"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            inp.inpaint(image, mask, **kwargs)


@pytest.mark.slow
def test_l2_loss_option(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> None:
    l1 = inp.inpaint(*sample, inversion="optimize", steps=5, return_details=True, progress=False)
    l2 = inp.inpaint(*sample, inversion="optimize", steps=5, inversion_loss="l2", return_details=True, progress=False)
    assert l2.inversion_loss[0, -1] < l2.inversion_loss[0, 0] and l1.inversion_loss[0, -1] < l1.inversion_loss[0, 0]
    assert not torch.equal(l1.latent, l2.latent)


# -- explanation figure -----------------------------------------------------------------------
def test_sampling_points_follow_the_offsets() -> None:
    offsets = torch.zeros(18, 32, 32)
    modulations = torch.full((9, 32, 32), 0.25)
    offsets[0, 10, 12], offsets[1, 10, 12] = 1.5, -2.0  # tap 0 (top-left): dy, dx
    modulations[4, 10, 12] = 0.9  # the centre tap
    grid, sampled, mod = sampling_points(offsets, modulations, pixel=(25, 21), resolution=64)
    # pixel (25, 21) at 64 is feature (12, 10) at 32; feature c is centred on image 2c + 0.5
    assert np.allclose(grid[4], (24.5, 20.5)) and np.allclose(grid[0], (22.5, 18.5))
    assert np.allclose(sampled[0], (22.5 - 4.0, 18.5 + 3.0)) and np.allclose(sampled[1:], grid[1:])
    assert mod[4] == pytest.approx(0.9) and mod[0] == pytest.approx(0.25)
    known = torch.ones(1, 64, 64)
    known[:, 10:20, 30:40] = 0
    x, y = default_pixel(known)
    assert 30 <= x < 40 and 10 <= y < 20


@pytest.mark.slow
def test_figure(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = sample
    result = inp.inpaint(image, mask, return_details=True)
    fig = result.figure()
    assert isinstance(fig, Image.Image)
    assert fig.width > 4 * 256 and fig.height > 256  # five panels, the tiny model upscaled to 256
    other = result.figure(pixel=(5, 5), resolution=32)
    assert other.size == fig.size and other.tobytes() != fig.tobytes()
    with pytest.raises(InvalidInputError, match="resolution must be one of"):
        result.figure(resolution=16)
    with pytest.raises(InvalidInputError, match="pixel"):
        result.figure(pixel=(64, 0))
    with pytest.raises(InvalidInputError, match="window"):
        result.figure(window=3)
    with pytest.raises(InvalidInputError, match="return_details=True"):
        inp.inpaint(image, mask, return_details=True).__class__(image=None, mask=torch.zeros(1), strategy=[]).figure()


@pytest.mark.slow
def test_inpaint_batch_takes_the_inversion_options(inp: Inpainter, sample: tuple[np.ndarray, np.ndarray]) -> None:
    image, mask = sample
    single = inp.inpaint(image, mask, inversion="hybrid", steps=4, progress=False)
    (batched,) = list(inp.inpaint_batch([image], [mask], inversion="hybrid", steps=4, progress=False))
    assert np.array_equal(batched, single)
    assert not np.array_equal(batched, inp.inpaint(image, mask))
    with pytest.raises(InvalidInputError, match="inversion must be one of"):
        next(inp.inpaint_batch([image], [mask], inversion="annealing", progress=False))
