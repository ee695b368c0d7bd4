"""The public API: :class:`Inpainter` (load a model, inpaint images of any kind and size).

Example::

    from dpinpaint import Inpainter
    inp = Inpainter.from_pretrained("ffhq-256")
    out = inp.inpaint("face.jpg", "face_mask.png")  # a PIL image, same size as face.jpg

Mask convention: white / nonzero / True = the region to fill (see :mod:`dpinpaint.masks`).
Every pixel outside the mask is returned bit for bit; sizes other than the model's are
handled by a strategy (see :mod:`dpinpaint.strategies`). Per-call settings are one
:class:`~dpinpaint.options.InpaintOptions`; the steps are :mod:`dpinpaint.pipeline`'s;
loading and saving are :class:`~dpinpaint.pretrained_mixin.PretrainedMixin`'s.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import torch
from PIL import Image

from .config import ModelConfig
from .device import resolve_device, resolve_dtype
from .errors import InvalidInputError
from .image_io import OutputType
from .models import DualPathNet
from .options import InpaintOptions
from .pipeline import (
    FULL_MASK_WARNING,
    InpaintResult,
    Prepared,
    WindowOutputs,
    check_output_type,
    finish,
    prepare,
    run_windows,
)
from .pretrained_mixin import PretrainedMixin
from .strategies import check_strategy

if TYPE_CHECKING:
    from typing_extensions import Unpack

    from .options import InpaintKwargs

__all__ = ["Inpainter", "InpaintResult", "InpaintOptions", "Prepared", "WindowOutputs", "FULL_MASK_WARNING"]


class Inpainter(PretrainedMixin):
    """A dual-path inpainting model ready for inference.

    Build it with :meth:`from_pretrained` (a model name, a Hub repository or a local
    folder) or :meth:`from_config` (random weights), then call :meth:`inpaint` or
    :meth:`inpaint_batch`. The network runs under ``torch.inference_mode`` in eval mode.

    Args:
        model: the network; it is moved to ``device`` / ``dtype`` and frozen.
        device: ``"auto"`` (CUDA, then MPS, then CPU), or any torch device.
        dtype: ``"auto"`` (float32 on CPU, bfloat16/float16 on accelerators), or a dtype.
        batch_size: how many network inputs (windows) one forward pass takes at most;
            ``"auto"``: 1 on the CPU (measured faster per image there than larger batches,
            see docs/performance.md), 8 on accelerators. Also the attribute :attr:`batch_size`.
        name: what the model is called in records and model cards (default: its config's name;
            :meth:`from_pretrained` uses the name, Hub id or folder it was given).
        revision: the Hub commit of the weights (:meth:`from_pretrained` sets it; else None).
    """

    def __init__(
        self,
        model: DualPathNet,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        batch_size: int | Literal["auto"] = "auto",
        name: str | None = None,
        revision: str | None = None,
    ) -> None:
        if not isinstance(model, DualPathNet):
            raise InvalidInputError(f"model must be a DualPathNet, got {type(model).__name__}")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        if batch_size == "auto":
            batch_size = 1 if self.device.type == "cpu" else 8
        _check_batch_size(batch_size)
        self.model = model.to(device=self.device, dtype=self.dtype).eval().requires_grad_(False)
        self.batch_size = batch_size
        self.name = name or model.config.name
        #: the Hub commit the weights came from (None: a bundled model, a local folder or random weights).
        self.revision = revision

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def resolution(self) -> int:
        return self.model.config.resolution

    def __repr__(self) -> str:
        return (
            f"Inpainter(name={self.name!r}, resolution={self.resolution}, paths={self.config.paths!r}, "
            f"device={str(self.device)!r}, dtype={self.dtype})"
        )

    # -- inpainting -------------------------------------------------------------------------
    def inpaint(
        self,
        image: Any,
        mask: Any,
        options: InpaintOptions | None = None,
        *,
        output_type: OutputType | None = None,
        return_details: bool = False,
        progress: bool = True,
        **overrides: Unpack[InpaintKwargs],
    ) -> Any:
        """Fill the masked region of ``image``.

        Args:
            image: a path, PIL image, numpy array (``HxW``/``HxWxC``, uint8/uint16 or float in
                [0, 1]) or torch tensor (``CxHxW``/``BxCxHxW``, uint8 or float in [0, 1]).
            mask: the same kinds, or bool; white / nonzero / True = fill. Its height and width
                must equal the image's (EXIF orientation is applied to both files).
            options: the per-call settings (:class:`~dpinpaint.options.InpaintOptions`; default:
                its defaults): ``strategy``, ``mask_threshold``, ``invert_mask``,
                ``mask_from_alpha``, ``crop_margin``, ``native_max_side``, ``thin_side``, ``blend``, ``flat_contrast``, ``seed`` and the
                ``inversion`` (:class:`~dpinpaint.inversion.InversionConfig`).
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` instead of the input's type.
            return_details: return an :class:`InpaintResult` instead of the image.
            progress: show a progress bar over the optimisation steps (on a terminal).
            **overrides: any field of the options by name (``strategy="crop"``, ``seed=3``, ...),
                and ``inversion="optimize"``, ``steps``, ``inversion_lr``, ``inversion_loss`` for
                the fields of its inversion; they override ``options``.

        Returns:
            The inpainted image in the input's type (a PIL image for a path), same size, every
            pixel outside the mask bit-identical to the input; or an :class:`InpaintResult`.

        Raises:
            InvalidInputError, ImageReadError: with a message saying what to change.
        """
        # 1. The settings of this call, checked against this model.
        opts = self.options(options, **overrides)
        check_output_type(output_type)
        # 2. Decode the image and mask, plan the windows, cut the network inputs.
        prepared = self.prepare(image, mask, opts)
        # 3. Run the network over the windows.
        outputs = self.run(prepared.windows, opts, details=return_details, progress=progress)
        # 4. Paste the fills into a copy of the input (observed pixels bit for bit).
        return self.finish(prepared, outputs, output_type=output_type, details=return_details)

    def options(self, options: InpaintOptions | None = None, **overrides: Any) -> InpaintOptions:
        """``options`` (default: the defaults) with ``overrides``, checked against this model.

        Raises:
            InvalidInputError: a bad value, ``strategy="native"`` for a model with the inversion
                path, or an optimised inversion for a model without it.
        """
        opts = InpaintOptions.build(options, **overrides)
        check_strategy(opts.strategy, opts.crop_margin, native=self.model.size_multiple is not None)
        if opts.inversion.method != "learned" and not self.config.uses_inversion:
            raise InvalidInputError(
                f"inversion={opts.inversion.method!r} needs the inversion path, but this model has "
                f"paths={self.config.paths!r}"
            )
        return opts

    def prepare(self, image: Any, mask: Any, options: InpaintOptions | None = None) -> Prepared:
        """Step 1 (:func:`dpinpaint.pipeline.prepare`): the decoded input, its holes and its network inputs."""
        return prepare(image, mask, options or InpaintOptions(), self.model)

    def run(
        self,
        windows: Sequence[Any],
        options: InpaintOptions | None = None,
        *,
        batch_size: int | None = None,
        details: bool = False,
        progress: bool = False,
    ) -> WindowOutputs:
        """Step 2 (:func:`dpinpaint.pipeline.run_windows`): the network over ``windows``
        (:class:`~dpinpaint.pipeline.WindowInput`, of one or more :class:`Prepared`), ``batch_size``
        (default :attr:`batch_size`) per forward pass."""
        batch_size = self.batch_size if batch_size is None else batch_size
        _check_batch_size(batch_size)
        return run_windows(
            self.model, windows, options or InpaintOptions(), batch_size=batch_size, details=details, progress=progress
        )

    def finish(
        self,
        prepared: Prepared,
        outputs: WindowOutputs,
        *,
        output_type: OutputType | None = None,
        details: bool = False,
    ) -> Any:
        """Step 3 (:func:`dpinpaint.pipeline.finish`): the result image (or :class:`InpaintResult`)."""
        return finish(
            prepared,
            outputs,
            output_type=output_type,
            details=details,
            fusion_kernel_size=self.config.deform_kernel_size,
        )

    def complete(
        self,
        prepared: Sequence[Prepared],
        options: InpaintOptions | None = None,
        *,
        output_type: OutputType | None = None,
        details: bool = False,
        batch_size: int | None = None,
        progress: bool = False,
    ) -> Iterator[Any]:
        """Steps 2 and 3 for several prepared images together: their windows share forward passes;
        yields each image's result in order."""
        windows = [w for p in prepared for w in p.windows]
        outputs = self.run(windows, options, batch_size=batch_size, details=details, progress=progress)
        start = 0
        for item in prepared:
            stop = start + len(item.windows)
            yield self.finish(item, outputs.slice(start, stop), output_type=output_type, details=details)
            start = stop

    def inpaint_batch(
        self,
        images: Iterable[Any],
        masks: Any,
        options: InpaintOptions | None = None,
        *,
        batch_size: int | None = None,
        output_type: OutputType | None = None,
        return_details: bool = False,
        progress: bool = True,
        **overrides: Unpack[InpaintKwargs],
    ) -> Iterator[Any]:
        """Inpaint many images, streaming results in input order.

        Network inputs of consecutive images are batched together (``batch_size`` per
        forward pass, default :attr:`batch_size`); images are decoded only when needed.

        Args:
            images: an iterable of anything :meth:`inpaint` accepts.
            masks: an iterable of masks, one per image, or a single mask (a path, PIL image,
                array or tensor) used for every image.
            options, output_type, return_details, **overrides: as for :meth:`inpaint`.
            progress: show a tqdm progress bar.

        Yields:
            What :meth:`inpaint` returns for each image.
        """
        from tqdm.auto import tqdm

        batch_size = self.batch_size if batch_size is None else batch_size
        _check_batch_size(batch_size)
        opts = self.options(options, **overrides)
        check_output_type(output_type)
        single_mask = isinstance(masks, str | os.PathLike | Image.Image | np.ndarray | torch.Tensor)
        mask_iter = None if single_mask else iter(masks)
        total = len(images) if hasattr(images, "__len__") else None  # type: ignore[arg-type]
        pending: list[Prepared] = []

        def flush() -> Iterator[Any]:
            results = self.complete(
                pending, opts, output_type=output_type, details=return_details, batch_size=batch_size, progress=progress
            )
            for result in results:
                bar.update(1)
                yield result

        with tqdm(total=total, disable=not progress, unit="image", desc="inpainting") as bar:
            for index, image in enumerate(images):
                if mask_iter is None:
                    mask = masks
                else:
                    try:
                        mask = next(mask_iter)
                    except StopIteration:
                        raise InvalidInputError(f"fewer masks than images: no mask for image {index}") from None
                pending.append(self.prepare(image, mask, opts))
                if sum(len(p.windows) for p in pending) >= batch_size:
                    yield from flush()
                    pending = []
            yield from flush()
        if mask_iter is not None and next(mask_iter, None) is not None:
            raise InvalidInputError("more masks than images")


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")
