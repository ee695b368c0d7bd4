"""The inference pipeline's steps as public, typed functions (what :class:`~dpinpaint.Inpainter` runs).

:meth:`Inpainter.inpaint <dpinpaint.Inpainter.inpaint>` reads as these steps:

1. :func:`prepare`: decode the image and mask, plan the windows
   (:mod:`dpinpaint.strategies`) and cut each window's network input -> :class:`Prepared`;
2. :func:`run_windows`: run the network over the windows of one or more prepared images, in
   batches, and blend each fill into its window's observed pixels (:func:`~dpinpaint.blending.blend_windows`, unless
   ``blend="none"``) -> :class:`WindowOutputs`;
3. :func:`finish`: bring each window's fill back to the image's resolution (:func:`~dpinpaint.blending.window_fill`:
   Poisson-blended again there when the network saw the window shrunk or enlarged) and paste it
   into a copy of the input (observed pixels bit for bit) -> the image, or an
   :class:`InpaintResult` with the intermediate tensors.

Batch inpainting (:mod:`dpinpaint.batch`) calls the same steps, preparing images in background
threads and running the windows of several images in one forward pass.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from .blending import blend_windows, window_fill
from .errors import DPInpaintWarning, InvalidInputError
from .image_io import ImageData, OutputType, read_image
from .inversion import initial_latent, optimize_latent
from .masks import read_mask
from .models import DualPathNet
from .options import Blend, InpaintOptions
from .strategies import (
    Window,
    WindowGeometry,
    check_strategy,
    plan_windows,
    resolve_native_max_side,
    window_to_model,
    window_to_native,
)

__all__ = [
    "InpaintResult",
    "Prepared",
    "WindowInput",
    "WindowOutputs",
    "prepare",
    "run_windows",
    "finish",
    "check_output_type",
    "FULL_MASK_WARNING",
    "OUTPUT_TYPES",
]

#: Warn when the mask covers more than this fraction of an image.
FULL_MASK_WARNING = 0.95
#: What ``output_type`` may be (None: the input's type).
OUTPUT_TYPES = (None, "pil", "np", "pt")


@dataclass
class InpaintResult:
    """What :meth:`Inpainter.inpaint <dpinpaint.Inpainter.inpaint>` returns with ``return_details=True``.

    Attributes:
        image: the result, in the input's type (or ``output_type``), same size as the input.
        mask: the pixels that were filled, bool ``(H, W)`` (``(B, H, W)`` for a batch tensor),
            after thresholding and ``invert_mask``.
        strategy: ``"resize"``, ``"crop"`` or ``"native"`` per image (``"none"`` for an empty mask).
        windows: ``(image index, Window)`` of every network input, in the order of the
            tensors below (a window is ``top, left, height, width`` in image pixels).
        generated: the feed-forward path's image ``I_g`` per window, ``(N, 3, R, R)`` in [0, 1]
            (None for an inversion-only model). Windows run at their own resolution (a
            feed-forward-only model) are ``(N, 3, h, w)`` with the padding, or a list of
            ``(3, h, w)`` tensors when their sizes differ; so are ``masked`` and ``known``.
        inversion: the StyleGAN2 path's image ``I_s`` per window ``(N, 3, R, R)`` in [0, 1]
            (None for a feed-forward-only model).
        output: what each window pastes back, per window, in [0, 1] (shaped like ``generated``),
            at the network's resolution: its observed pixels and, in its holes, the fill
            Poisson-blended into them (or, with ``blend="none"``, the fill's own pixels). A window
            the network saw at another resolution is blended once more at the image's when
            pasted (:func:`window_fill`), so there ``image`` is not exactly ``output`` enlarged.
        latent: the W+ code per window ``(N, n_latent, w_dim)`` (None without inversion).
        masked: the network input per window (holes zeroed) ``(N, 3, R, R)`` in [0, 1].
        known: the network's mask per window ``(N, 1, R, R)``, 1 = observed.
        offsets, modulations: per deformable fusion resolution ``r``, the DCN offsets
            ``(N, 2*k*k, r, r)`` (interleaved ``(dy, dx)`` per tap, in pixels at ``r``) and
            modulations ``(N, k*k, r, r)`` in (0, 1).
        inversion_loss: for ``inversion="optimize"/"hybrid"``, the masked reconstruction
            loss of ``I_s`` before each step, ``(N, steps)``.
    """

    image: Any
    mask: torch.Tensor
    strategy: list[str]
    windows: list[tuple[int, Window]] = field(default_factory=list)
    generated: torch.Tensor | None = None
    inversion: torch.Tensor | None = None
    latent: torch.Tensor | None = None
    masked: torch.Tensor | None = None
    known: torch.Tensor | None = None
    offsets: dict[int, torch.Tensor] = field(default_factory=dict)
    modulations: dict[int, torch.Tensor] = field(default_factory=dict)
    inversion_loss: torch.Tensor | None = None
    fusion_kernel_size: int = 3
    output: Any = None

    def figure(self, window: int = 0, pixel: tuple[int, int] | None = None, resolution: int | None = None) -> Any:
        """The explanation figure of network input ``window`` (see :func:`dpinpaint.explain.explain_figure`)."""
        from .explain import explain_figure

        return explain_figure(self, window=window, pixel=pixel, resolution=resolution)


@dataclass(frozen=True)
class WindowInput:
    """One network input: ``image`` ``(3, h, w)`` in [-1, 1] with holes zeroed, ``known`` ``(1, h, w)``
    in {0, 1} (1 = observed), and where it goes back (``geometry``)."""

    index: int  # the image's index in its batch
    window: Window
    image: torch.Tensor
    known: torch.Tensor
    geometry: WindowGeometry


@dataclass
class Prepared:
    """One image (or batch tensor) ready for the network: the decoded input, its holes, its windows.

    Attributes:
        data: the decoded input (:class:`~dpinpaint.image_io.ImageData`).
        hole: ``(B, H, W)`` bool on the CPU, True = fill.
        strategies: the strategy used per image (``"none"`` for an empty mask).
        windows: the network inputs, in order.
        notes: the warnings given while preparing it, as text (batch runs report them per image).
        blend: how :func:`finish` pastes a fill the network made at another resolution
            (``options.blend``; see :func:`window_fill`).
        flat_contrast: ``options.flat_contrast`` for that blend.
    """

    data: ImageData
    hole: torch.Tensor
    strategies: list[str] = field(default_factory=list)
    windows: list[WindowInput] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    blend: Blend = "poisson"
    flat_contrast: float = 0.0


@dataclass
class WindowOutputs:
    """What the network made of a list of windows, on the CPU, in the windows' order.

    ``output`` is the composited (or Poisson-blended) result in [-1, 1] per window (``(N, 3, h, w)``, or a list of
    ``(3, h, w)`` when sizes differ); ``generated`` / ``inversion`` are ``I_g`` / ``I_s`` in
    [0, 1] (None where the model lacks the path), ``latent`` the W+ codes. With details:
    ``masked`` (the input in [0, 1]), ``known``, ``offsets`` / ``modulations`` ``{r: (N, ...)}``
    and ``inversion_loss`` ``(N, steps)`` for an optimised inversion.
    """

    output: Any = None
    generated: Any = None
    inversion: Any = None
    latent: Any = None
    masked: Any = None
    known: Any = None
    inversion_loss: Any = None
    offsets: dict[int, torch.Tensor] = field(default_factory=dict)
    modulations: dict[int, torch.Tensor] = field(default_factory=dict)

    _TENSORS = ("output", "generated", "inversion", "latent", "masked", "known", "inversion_loss")

    def slice(self, start: int, stop: int) -> WindowOutputs:
        """The outputs of windows ``start:stop``."""
        cut = {k: None if getattr(self, k) is None else getattr(self, k)[start:stop] for k in self._TENSORS}
        return WindowOutputs(
            **cut,
            offsets={r: t[start:stop] for r, t in self.offsets.items()},
            modulations={r: t[start:stop] for r, t in self.modulations.items()},
        )

    @classmethod
    def concat(cls, parts: Sequence[WindowOutputs]) -> WindowOutputs:
        """The outputs of consecutive batches joined (a list per window where sizes differ)."""
        joined = {k: _cat([getattr(p, k) for p in parts]) for k in cls._TENSORS}
        with_maps = [p for p in parts if p.offsets]
        offsets = {r: torch.cat([p.offsets[r] for p in with_maps]) for r in (with_maps[0].offsets if with_maps else {})}
        modulations = {
            r: torch.cat([p.modulations[r] for p in with_maps]) for r in (with_maps[0].modulations if with_maps else {})
        }
        return cls(**joined, offsets=offsets, modulations=modulations)


def _cat(parts: list[Any]) -> Any:
    """The batches joined; None if any is None; a list of the windows' ``(C, h, w)`` if sizes differ."""
    kept = [p for p in parts if p is not None]
    if not kept or len(kept) != len(parts):
        return None
    if len({tuple(p.shape[1:]) for p in kept}) > 1:
        return [window for p in kept for window in p]
    return torch.cat(kept)


def _to_01(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else ((x.float() + 1.0) * 0.5).clamp_(0.0, 1.0).cpu()


def _outputs_01(x: Any) -> Any:
    """Window outputs in [-1, 1] (a tensor, or a list of them when sizes differ) -> [0, 1]."""
    if isinstance(x, list):
        return [_to_01(w) for w in x]
    return _to_01(x)


def check_output_type(output_type: Any) -> None:
    """Raise :class:`InvalidInputError` unless ``output_type`` is ``"pil"``, ``"np"``, ``"pt"`` or None."""
    if output_type not in OUTPUT_TYPES:
        raise InvalidInputError(f"output_type must be 'pil', 'np', 'pt' or None, got {output_type!r}")


def prepare(image: Any, mask: Any, options: InpaintOptions, model: DualPathNet) -> Prepared:
    """Step 1: decode ``image`` and ``mask``, plan the windows and cut the network inputs.

    Args:
        image, mask: what :meth:`Inpainter.inpaint <dpinpaint.Inpainter.inpaint>` accepts.
        options: the strategy, the mask convention, the crop margin and the native side.
        model: the network (its resolution ``R`` and :attr:`~DualPathNet.size_multiple`).

    Raises:
        InvalidInputError, ImageReadError: a bad input, mask or option, saying what to change.
    """
    resolution, multiple = model.config.resolution, model.size_multiple
    check_strategy(options.strategy, options.crop_margin, native=multiple is not None)
    max_side = resolve_native_max_side(resolution, options.native_max_side)
    data = read_image(image)
    hole, mask_transposed = read_mask(
        mask, threshold=options.mask_threshold, invert=options.invert_mask, from_alpha=options.mask_from_alpha
    )
    (h, w), (mh, mw) = data.size, (int(hole.shape[-2]), int(hole.shape[-1]))
    if (mh, mw) != (h, w):
        hint = ""
        if (mh, mw) == (w, h) and (data.exif_transposed or mask_transposed):
            hint = "; the image file has an EXIF orientation, which is applied: draw the mask on the upright image"
        raise InvalidInputError(
            f"mask size {mw}x{mh} (WxH) differs from image size {w}x{h}{hint}; masks are not resized silently"
        )
    if hole.shape[0] not in (1, data.batch):
        raise InvalidInputError(f"{hole.shape[0]} masks for a batch of {data.batch} images; pass 1 or {data.batch}")
    prepared = Prepared(data, hole.expand(data.batch, -1, -1), blend=options.blend, flat_contrast=options.flat_contrast)
    for b in range(data.batch):
        fraction = float(prepared.hole[b].float().mean())
        if fraction == 0.0:
            _note(
                prepared,
                f"the mask of {data.source}"
                + (f" (image {b})" if data.batch > 1 else "")
                + " is empty: nothing to fill, the image is returned unchanged "
                "(masks mark the region to fill in white; use invert_mask=True for the opposite)",
            )
            prepared.strategies.append("none")
            continue
        if fraction > FULL_MASK_WARNING:
            _note(
                prepared,
                f"the mask covers {fraction:.1%} of {data.source}: there is almost nothing to condition on "
                "(white = fill; use invert_mask=True if the mask is inverted)",
            )
        plan = plan_windows(
            prepared.hole[b],
            resolution,
            options.strategy,
            margin=options.crop_margin,
            native=multiple is not None,
            max_side=max_side,
            thin_side=options.thin_side,
        )
        prepared.strategies.append(plan.strategy)
        rgb = data.rgb(b)
        for window in plan.windows:
            if plan.native and multiple is not None:
                img, known, geometry = window_to_native(rgb, prepared.hole[b], window, multiple, max_side)
            else:
                img, known, geometry = window_to_model(rgb, prepared.hole[b], window, resolution)
            prepared.windows.append(WindowInput(b, window, img, known, geometry))
    return prepared


def _note(prepared: Prepared, message: str) -> None:
    prepared.notes.append(message)
    warnings.warn(message, DPInpaintWarning, stacklevel=5)


def _chunks(inputs: Sequence[WindowInput], step: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive inputs of one size, at most ``step`` each (they are stacked)."""
    start = 0
    while start < len(inputs):
        stop = start + 1
        shape = inputs[start].image.shape
        while stop < len(inputs) and stop - start < step and inputs[stop].image.shape == shape:
            stop += 1
        yield start, stop
        start = stop


def run_windows(
    model: DualPathNet,
    inputs: Sequence[WindowInput],
    options: InpaintOptions,
    *,
    batch_size: int,
    details: bool = False,
    progress: bool = False,
) -> WindowOutputs:
    """Step 2: run ``model`` over ``inputs`` in batches of at most ``batch_size``, on its device and dtype.

    Inputs of one size are stacked, so consecutive windows of different sizes (native
    resolution) run in separate passes. With ``options.seed`` each window runs alone right after
    ``torch.manual_seed(seed)``: its noise then depends on the seed only, not on its neighbours
    in the batch. The global RNG is left as it was.
    """
    parameter = next(model.parameters())
    device, dtype = parameter.device, parameter.dtype
    inversion, seed = options.inversion, options.seed
    if not inputs:
        return WindowOutputs()
    noise = "const" if seed is None else "random"
    step = batch_size if seed is None else 1
    parts: list[WindowOutputs] = []
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        for start, stop in _chunks(inputs, step):
            if seed is not None:
                torch.manual_seed(seed)
            chunk = inputs[start:stop]
            image = torch.stack([x.image for x in chunk]).to(device, dtype)
            known = torch.stack([x.known for x in chunk]).to(device, dtype)
            latent, losses = None, None
            if inversion.optimizes:
                with torch.inference_mode():
                    init = initial_latent(model, image * known, known, inversion.method)
                latent, trace = optimize_latent(model, image, known, init, inversion, progress=progress)
                losses = torch.stack(trace.losses, dim=1).float().cpu()
            with torch.inference_mode():
                out = model(image, known, latent=latent, noise_mode=noise)
                if options.blend == "poisson":
                    output = blend_windows(out.fill, image, known, options.flat_contrast)
                else:
                    output = out.output
            part = WindowOutputs(
                output=output.float().cpu(),
                generated=_to_01(out.generated),
                inversion=_to_01(out.inversion),
                latent=None if out.latent is None else out.latent.float().cpu(),
            )
            if details:
                part.masked, part.known, part.inversion_loss = _to_01(image * known), known.float().cpu(), losses
                part.offsets = {r: t.float().cpu() for r, t in out.offsets.items()}
                part.modulations = {r: t.float().cpu() for r, t in out.modulations.items()}
            parts.append(part)
    return WindowOutputs.concat(parts)


def finish(
    prepared: Prepared,
    outputs: WindowOutputs,
    *,
    output_type: OutputType | None = None,
    details: bool = False,
    fusion_kernel_size: int = 3,
) -> Any:
    """Step 3: paste each window's fill into a copy of the input; only hole pixels change.

    Returns:
        The image in the input's type (or ``output_type``), or an :class:`InpaintResult` with
        ``details``.
    """
    data = prepared.data
    pixels = data.pixels.clone()
    grey = [data.is_grey(b, prepared.hole[b]) for b in range(data.batch)]
    rgb: dict[int, torch.Tensor] = {}  # the current image's, for the second blend
    for i, item in enumerate(prepared.windows):
        if prepared.blend == "poisson" and item.geometry.rescaled and item.index not in rgb:
            rgb = {item.index: data.rgb(item.index)}  # windows come image by image: one copy at a time
        hole_map = prepared.hole[item.index]
        fill = window_fill(outputs.output[i], item.geometry, rgb.get(item.index), hole_map, prepared.flat_contrast)
        w = item.window
        hole = prepared.hole[item.index, w.top : w.bottom, w.left : w.right]
        data.paste(pixels, item.index, w, fill, hole, grey=grey[item.index])
    result = data.with_pixels(pixels).to_output(output_type)
    if not details:
        return result
    squeeze = data.kind != "pt" or data.layout != "BCHW"
    return InpaintResult(
        image=result,
        mask=prepared.hole[0] if squeeze else prepared.hole,
        strategy=prepared.strategies,
        windows=[(item.index, item.window) for item in prepared.windows],
        generated=outputs.generated,
        inversion=outputs.inversion,
        latent=outputs.latent,
        masked=outputs.masked,
        known=outputs.known,
        offsets=outputs.offsets,
        modulations=outputs.modulations,
        inversion_loss=outputs.inversion_loss,
        fusion_kernel_size=fusion_kernel_size,
        output=_outputs_01(outputs.output),
    )
