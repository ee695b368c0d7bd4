"""How a window's fill meets the observed pixels: the Poisson blends of the pipeline's steps 2 and 3.

- :func:`blend_windows` (step 2, :func:`dpinpaint.pipeline.run_windows`): each fill blended into
  its window's observed pixels at the resolution the network saw;
- :func:`window_fill` (step 3, :func:`dpinpaint.pipeline.finish`): a window the network saw at
  another resolution brought back to the image's and blended again there.

Both keep the fill's own detail only where the surroundings have some (``flat_contrast``,
:func:`dpinpaint.ops.flat_detail`): across flat, out-of-focus areas holes are filled smoothly.
"""

from __future__ import annotations

import math

import torch

from .ops import flat_detail, poisson_blend
from .strategies import WindowGeometry, model_to_window, resize, scale_with_holes

__all__ = ["blend_windows", "window_fill", "BLEND_MAX_HOLES", "FLAT_RADIUS"]

#: The second Poisson blend (at the image's resolution, :func:`window_fill`) solves for at most this
#: many hole pixels (the solver's time and memory follow them): a window with more is blended
#: shrunk until its holes are about this many, and the correction enlarged. Thin damage stays far
#: below it (a scratch across a 12-megapixel photo holds about 100,000), where blending a shrunk
#: copy cost 2.5 dB of hole PSNR on such a photo; thick holes on very large photos reach it.
BLEND_MAX_HOLES = 2**21
#: The half side, in working pixels, of the square around a hole pixel whose observed pixels say
#: whether the surroundings are flat (``options.flat_contrast``, :func:`dpinpaint.ops.flat_detail`).
#: Not tuned: a 13x13 square holds a 1-3 px scratch and a few pixels of context on either side.
FLAT_RADIUS = 6


def blend_windows(
    fill: torch.Tensor, image: torch.Tensor, known: torch.Tensor, flat_contrast: float = 0.0
) -> torch.Tensor:
    """Each window's ``fill`` Poisson-blended into the observed pixels of ``image`` (see
    :func:`dpinpaint.ops.poisson_blend`; solved in float32), in ``image``'s dtype.

    Args:
        fill, image: ``(N, 3, h, w)`` in [-1, 1]; ``known``: ``(N, 1, h, w)`` in {0, 1}.
        flat_contrast: the fill's detail fades where the surroundings are flatter than this (on a
            0-1 scale; :func:`dpinpaint.ops.flat_detail`); 0: all of it kept.

    Returns:
        ``(N, 3, h, w)``: ``image`` where ``known``, the blended fill elsewhere (the plain fill for a
        window whose fill is not finite).
    """
    hole = known[:, 0] < 0.5
    blended = [
        poisson_blend(f.float(), x.float(), h, flat_detail(x.float(), h, 2.0 * flat_contrast, FLAT_RADIUS))
        if bool(torch.isfinite(f).all())
        else f.float()
        for f, x, h in zip(fill, image, hole, strict=True)
    ]  # a fill with NaN or inf (a broken model) is composited as it is: the solver would spread them
    return torch.where(hole[:, None], torch.stack(blended).to(image.dtype), image)


def window_fill(
    output: torch.Tensor,
    geometry: WindowGeometry,
    rgb: torch.Tensor | None,
    hole: torch.Tensor,
    flat_contrast: float = 0.0,
) -> torch.Tensor:
    """Step 3a: one window's output brought back to the image's resolution, ready to paste.

    With ``rgb`` (``blend="poisson"``) a window the network saw at another resolution is
    Poisson-blended again at the image's own (:func:`dpinpaint.ops.poisson_blend`, over the whole
    window, context included): the blend at the network's resolution matched the fill to a
    resampled copy of the surroundings, so their fine detail, and the ring of pixels that
    resampling turned into holes, still met the enlarged fill with a seam. A window with more than
    :data:`BLEND_MAX_HOLES` hole pixels is blended shrunk, and the correction enlarged to it.

    Args:
        output: the window's ``(3, h, w)`` output in [-1, 1] (:attr:`WindowOutputs.output`).
        geometry: where it goes (:attr:`WindowInput.geometry`).
        rgb: ``(3, H, W)`` the image in [0, 1], or None for no second blend.
        hole: ``(H, W)`` bool, True = fill.
        flat_contrast: as for :func:`blend_windows`.

    Returns:
        ``(3, height, width)`` in [0, 1] for the window's pasted part.
    """
    if rgb is None or not geometry.rescaled or not bool(torch.isfinite(output).all()):
        return model_to_window(output, geometry)
    w = geometry.window
    whole = model_to_window(output, geometry, core=False)
    target = rgb[:, w.top : w.bottom, w.left : w.right].to(whole.dtype)
    inside = hole[w.top : w.bottom, w.left : w.right]
    holes = int(inside.sum())
    if holes <= BLEND_MAX_HOLES:
        blended = poisson_blend(whole, target, inside, flat_detail(target, inside, flat_contrast, FLAT_RADIUS))
    else:  # blend a shrunk copy; enlarge only the correction, so the fill keeps its own detail
        scale = math.sqrt(BLEND_MAX_HOLES / holes)
        size = (max(1, round(w.height * scale)), max(1, round(w.width * scale)))
        small_target, small_hole = scale_with_holes(target, inside, size)
        small = resize(whole[None], size)[0]
        detail = flat_detail(small_target, small_hole, flat_contrast, FLAT_RADIUS)
        correction = resize(
            (poisson_blend(small, small_target, small_hole, detail) - small)[None], (w.height, w.width)
        )[0]
        fine = flat_detail(target, inside, flat_contrast, FLAT_RADIUS)
        if fine is not None:  # the detail finer than the shrunk copy's fades over flat surroundings too
            whole = whole - (1.0 - fine) * (whole - resize(small[None], (w.height, w.width))[0])
        blended = torch.where(inside, whole + correction, target)
    return geometry.cut_core(blended).clamp_(0.0, 1.0)
