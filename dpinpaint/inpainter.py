"""The public API: :class:`Inpainter` (load a model, inpaint images of any kind and size).

Example::

    from dpinpaint import Inpainter
    inp = Inpainter.from_pretrained("ffhq-256")
    out = inp.inpaint("face.jpg", "face_mask.png")  # a PIL image, same size as face.jpg

Mask convention: white / nonzero / True = the region to fill (see :mod:`dpinpaint.masks`).
Every pixel outside the mask is returned bit for bit; sizes other than the model's are
handled by a strategy (see :mod:`dpinpaint.strategies`).
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from .checkpoint import load_model, read_config, save_model
from .config import ModelConfig, get_preset, list_presets
from .device import resolve_device, resolve_dtype
from .errors import DPInpaintWarning, InvalidInputError
from .hub import PretrainedModel, resolve_checkpoint, snapshot_commit, upload_folder
from .hub import list_models as _list_models
from .image_io import ImageData, OutputType, read_image
from .inversion import InversionConfig, initial_latent, optimize_latent
from .masks import read_mask
from .models import DualPathNet
from .strategies import (
    Strategy,
    Window,
    check_strategy,
    model_to_window,
    plan_windows,
    resolve_native_max_side,
    window_to_model,
    window_to_native,
)

__all__ = ["Inpainter", "InpaintResult"]

logger = logging.getLogger(__name__)

#: Warn when the mask covers more than this fraction of an image.
FULL_MASK_WARNING = 0.95
_OUTPUT_TYPES = (None, "pil", "np", "pt")


@dataclass
class InpaintResult:
    """What :meth:`Inpainter.inpaint` returns with ``return_details=True``.

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

    def figure(self, window: int = 0, pixel: tuple[int, int] | None = None, resolution: int | None = None) -> Any:
        """The explanation figure of network input ``window`` (see :func:`dpinpaint.explain.explain_figure`)."""
        from .explain import explain_figure

        return explain_figure(self, window=window, pixel=pixel, resolution=resolution)


@dataclass
class _Job:
    """One ``inpaint`` call in flight: the decoded input, its holes and the network inputs it needs."""

    data: ImageData
    hole: torch.Tensor  # (B, H, W) bool on the CPU
    strategies: list[str]
    windows: list[tuple[int, Window]]
    inputs: list[tuple[torch.Tensor, torch.Tensor]]  # (image (3, h, w), known (1, h, w)) per window
    geometry: list[Any]
    notes: list[str] = field(default_factory=list)  # the warnings given while preparing it, as text


def _to_01(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else ((x.float() + 1.0) * 0.5).clamp_(0.0, 1.0).cpu()


def _cat(parts: list[torch.Tensor | None]) -> Any:
    """The batches joined; None if any is None; a list of the windows' ``(C, h, w)`` if sizes differ."""
    kept = [p for p in parts if p is not None]
    if not kept or len(kept) != len(parts):
        return None
    if len({tuple(p.shape[1:]) for p in kept}) > 1:
        return [window for p in kept for window in p]
    return torch.cat(kept)


def _chunks(inputs: list[tuple[torch.Tensor, torch.Tensor]], step: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive inputs of one size, at most ``step`` each (they are stacked)."""
    start = 0
    while start < len(inputs):
        stop = start + 1
        shape = inputs[start][0].shape
        while stop < len(inputs) and stop - start < step and inputs[stop][0].shape == shape:
            stop += 1
        yield start, stop
        start = stop


class Inpainter:
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

    # -- construction -----------------------------------------------------------------------
    @classmethod
    def from_pretrained(
        cls,
        name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        force_download: bool = False,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        variant: str | None = None,
    ) -> Inpainter:
        """Load a checkpoint: a model name (see :meth:`list_models`), ``"org/repo"``,
        ``"org/repo@revision"`` or a local folder written by :meth:`save_pretrained`.

        Hub downloads use ``huggingface_hub``'s cache; ``local_files_only=True`` (or
        ``HF_HUB_OFFLINE=1``) never touches the network. ``variant="fp16"`` loads
        ``model.fp16.safetensors`` (half the download; weights are cast to ``dtype``).

        Raises:
            CheckpointError, ModelNotFoundError, ModelNotCachedError, ModelAccessError,
            HubConnectionError: each with what was tried and what to do.
        """
        folder = resolve_checkpoint(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            force_download=force_download,
            variant=variant,
        )
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        model = load_model(folder, variant=variant, device=dev, dtype=dt)
        logger.info("loaded %s from %s", read_config(folder).name, folder)
        return cls(model, device=dev, dtype=dt, name=os.fspath(name_or_path), revision=snapshot_commit(folder))  # type: ignore[arg-type]

    @classmethod
    def from_config(
        cls,
        config: ModelConfig | str,
        seed: int = 0,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        w_avg_samples: int = 10_000,
    ) -> Inpainter:
        """A model with random weights drawn from ``seed`` (for tests, or as training's start).

        ``config`` is a :class:`ModelConfig` or a preset name (``list_presets()``). The global
        torch RNG is left untouched. ``w_avg`` is set from ``w_avg_samples`` mapped latents.
        """
        if isinstance(config, str):
            config = get_preset(config)
        if not isinstance(config, ModelConfig):
            raise InvalidInputError(f"config must be a ModelConfig or a preset name, got {type(config).__name__}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = DualPathNet(config)
        if config.uses_inversion:
            model.stylegan.update_w_avg(num_samples=w_avg_samples, seed=seed)
        return cls(model, device=device, dtype=dtype)

    @staticmethod
    def list_models() -> list[PretrainedModel]:
        """The pretrained models known by name (``print`` each for one line)."""
        return _list_models()

    @staticmethod
    def list_presets() -> dict[str, str]:
        """The architecture presets :meth:`from_config` accepts by name."""
        return list_presets()

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

    # -- saving -----------------------------------------------------------------------------
    def save_pretrained(self, folder: str | os.PathLike[str], *, variant: str | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (``model.fp16.safetensors`` for
        ``variant="fp16"``) to ``folder``; :meth:`from_pretrained` reads it back exactly."""
        save_model(self.model, self.config, folder, variant=variant)
        return Path(folder)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        variant: str | None = None,
    ) -> str:
        """Save to a temporary folder (with a model card) and upload it to ``repo_id``; returns the commit URL."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, variant=variant)
            (Path(tmp) / "README.md").write_text(self._model_card(repo_id), encoding="utf-8")
            return upload_folder(
                tmp,
                repo_id,
                token=token,
                private=private,
                revision=revision,
                commit_message=commit_message or f"Upload {self.config.name} (dpinpaint)",
            )

    def _model_card(self, repo_id: str) -> str:
        c = self.config
        return (
            "---\nlibrary_name: dpinpaint\ntags:\n- image-inpainting\n- dpinpaint\n---\n\n"
            f"# {repo_id}\n\n"
            f"A dpinpaint checkpoint (`{c.name}`, {c.resolution}x{c.resolution}, paths={c.paths}, "
            f"fusion={c.fusion}) of *Dual-path Image Inpainting with Auxiliary GAN Inversion* (CVPR 2022).\n\n"
            "```python\nfrom dpinpaint import Inpainter\n"
            f'inp = Inpainter.from_pretrained("{repo_id}")\n'
            'out = inp.inpaint("photo.png", "mask.png")  # white = fill\n```\n'
        )

    # -- inpainting -------------------------------------------------------------------------
    def inpaint(
        self,
        image: Any,
        mask: Any,
        *,
        strategy: Strategy = "auto",
        mask_threshold: float = 0.5,
        invert_mask: bool = False,
        mask_from_alpha: bool = False,
        seed: int | None = None,
        output_type: OutputType | None = None,
        return_details: bool = False,
        crop_margin: float = 0.5,
        native_max_side: int | None = None,
        inversion: str = "learned",
        steps: int = 1000,
        inversion_lr: float = 0.01,
        inversion_loss: str = "l1",
        progress: bool = True,
    ) -> Any:
        """Fill the masked region of ``image``.

        Args:
            image: a path, PIL image, numpy array (``HxW``/``HxWxC``, uint8/uint16 or float in
                [0, 1]) or torch tensor (``CxHxW``/``BxCxHxW``, uint8 or float in [0, 1]).
            mask: the same kinds, or bool; white / nonzero / True = fill. Its height and width
                must equal the image's (EXIF orientation is applied to both files).
            strategy: ``"auto"``, ``"resize"``, ``"crop"`` or ``"native"`` (the image at its own
                resolution; feed-forward-only models), see :mod:`dpinpaint.strategies`.
            mask_threshold: a mask pixel is a hole when its value, scaled to [0, 1], is greater.
            invert_mask: fill the black / zero / False pixels instead.
            mask_from_alpha: take the mask from its alpha channel (opaque = fill).
            seed: None for the deterministic result; an integer re-draws the StyleGAN2 path's
                noise from that seed (a variation of the fill). Each window is then run alone,
                so its result does not depend on what else is in the batch.
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` instead of the input's type.
            return_details: return an :class:`InpaintResult` instead of the image.
            crop_margin: context around the holes for ``"crop"``, as a fraction of their size.
            native_max_side: for windows run at their own resolution (feed-forward-only models),
                the longest side they run at; larger windows are scaled down to it first. None:
                ``2 * R`` (256 for ``demo``, best on its validation photos), at most 2048.
            inversion: ``"learned"`` (the encoder, default), ``"optimize"`` (Adam on the W+ code
                from ``w_avg``) or ``"hybrid"`` (Adam from the encoder's code); see
                :mod:`dpinpaint.inversion`.
            steps, inversion_lr, inversion_loss: the optimisation of ``"optimize"``/``"hybrid"``
                (1,000 steps as in the paper; lr 0.01; ``"l1"`` or ``"l2"`` on the known pixels).
            progress: show a progress bar over the optimisation steps (on a terminal).

        Returns:
            The inpainted image in the input's type (a PIL image for a path), same size, every
            pixel outside the mask bit-identical to the input; or an :class:`InpaintResult`.

        Raises:
            InvalidInputError, ImageReadError: with a message saying what to change.
        """
        job = self._prepare(
            image,
            mask,
            strategy=strategy,
            mask_threshold=mask_threshold,
            invert_mask=invert_mask,
            mask_from_alpha=mask_from_alpha,
            crop_margin=crop_margin,
            native_max_side=native_max_side,
        )
        _check_output_type(output_type)
        inv = self._inversion_config(inversion, steps, inversion_lr, inversion_loss)
        outputs = self._forward(job.inputs, seed, inversion=inv, details=return_details, progress=progress)
        return self._finish(job, outputs, output_type, return_details)

    def _inversion_config(self, method: str, steps: int, lr: float, loss: str) -> InversionConfig:
        config = InversionConfig(method, steps, lr, loss)  # type: ignore[arg-type]
        if config.method != "learned" and not self.config.uses_inversion:
            raise InvalidInputError(
                f"inversion={config.method!r} needs the inversion path, but this model has paths={self.config.paths!r}"
            )
        return config

    def inpaint_batch(
        self,
        images: Iterable[Any],
        masks: Any,
        *,
        batch_size: int | None = None,
        progress: bool = True,
        **kwargs: Any,
    ) -> Iterator[Any]:
        """Inpaint many images, streaming results in input order.

        Network inputs of consecutive images are batched together (``batch_size`` per
        forward pass, default :attr:`batch_size`); images are decoded only when needed.

        Args:
            images: an iterable of anything :meth:`inpaint` accepts.
            masks: an iterable of masks, one per image, or a single mask (a path, PIL image,
                array or tensor) used for every image.
            progress: show a tqdm progress bar.
            **kwargs: the keyword arguments of :meth:`inpaint`.

        Yields:
            What :meth:`inpaint` returns for each image.
        """
        from tqdm.auto import tqdm

        batch_size = self.batch_size if batch_size is None else batch_size
        _check_batch_size(batch_size)
        seed, output_type = kwargs.pop("seed", None), kwargs.pop("output_type", None)
        return_details = kwargs.pop("return_details", False)
        _check_output_type(output_type)
        inv = self._inversion_config(
            kwargs.pop("inversion", "learned"),
            kwargs.pop("steps", 1000),
            kwargs.pop("inversion_lr", 0.01),
            kwargs.pop("inversion_loss", "l1"),
        )
        inv_progress = progress  # a second bar over the optimisation steps, if any
        single_mask = isinstance(masks, str | os.PathLike | Image.Image | np.ndarray | torch.Tensor)
        mask_iter = None if single_mask else iter(masks)
        total = len(images) if hasattr(images, "__len__") else None  # type: ignore[arg-type]
        pending: list[_Job] = []
        with tqdm(total=total, disable=not progress, unit="image", desc="inpainting") as bar:
            for index, image in enumerate(images):
                if mask_iter is None:
                    mask = masks
                else:
                    try:
                        mask = next(mask_iter)
                    except StopIteration:
                        raise InvalidInputError(f"fewer masks than images: no mask for image {index}") from None
                pending.append(self._prepare(image, mask, **kwargs))
                if sum(len(j.inputs) for j in pending) >= batch_size:
                    yield from self._complete(
                        pending,
                        seed,
                        output_type,
                        return_details,
                        bar,
                        batch_size,
                        inversion=inv,
                        progress=inv_progress,
                    )
                    pending = []
            yield from self._complete(
                pending, seed, output_type, return_details, bar, batch_size, inversion=inv, progress=inv_progress
            )
        if mask_iter is not None and next(mask_iter, None) is not None:
            raise InvalidInputError("more masks than images")

    def _complete(
        self,
        jobs: list[_Job],
        seed: int | None,
        output_type: OutputType | None,
        details: bool,
        bar: Any,
        batch_size: int,
        *,
        inversion: InversionConfig | None = None,
        progress: bool = False,
    ) -> Iterator[Any]:
        """Run the network on the windows of prepared ``jobs`` together; yield each job's result in order."""
        outputs = self._forward(
            [x for j in jobs for x in j.inputs],
            seed,
            batch_size,
            inversion=inversion,
            details=details,
            progress=progress,
        )
        start = 0
        for job in jobs:
            n = len(job.inputs)
            yield self._finish(job, _slice(outputs, start, start + n), output_type, details)
            start += n
            if bar is not None:
                bar.update(1)

    def _prepare(
        self,
        image: Any,
        mask: Any,
        *,
        strategy: Strategy = "auto",
        mask_threshold: float = 0.5,
        invert_mask: bool = False,
        mask_from_alpha: bool = False,
        crop_margin: float = 0.5,
        native_max_side: int | None = None,
    ) -> _Job:
        check_strategy(strategy, crop_margin, native=self.model.size_multiple is not None)
        max_side = resolve_native_max_side(self.resolution, native_max_side)
        data = read_image(image)
        hole, mask_transposed = read_mask(
            mask, threshold=mask_threshold, invert=invert_mask, from_alpha=mask_from_alpha
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
        hole = hole.expand(data.batch, -1, -1)
        job = _Job(data, hole, [], [], [], [])
        r, multiple = self.resolution, self.model.size_multiple
        for b in range(data.batch):
            fraction = float(hole[b].float().mean())
            if fraction == 0.0:
                job.notes.append(
                    f"the mask of {data.source}"
                    + (f" (image {b})" if data.batch > 1 else "")
                    + " is empty: nothing to fill, the image is returned unchanged "
                    "(masks mark the region to fill in white; use invert_mask=True for the opposite)"
                )
                warnings.warn(job.notes[-1], DPInpaintWarning, stacklevel=3)
                job.strategies.append("none")
                continue
            if fraction > FULL_MASK_WARNING:
                job.notes.append(
                    f"the mask covers {fraction:.1%} of {data.source}: there is almost nothing to condition on "
                    "(white = fill; use invert_mask=True if the mask is inverted)"
                )
                warnings.warn(job.notes[-1], DPInpaintWarning, stacklevel=3)
            plan = plan_windows(
                hole[b], r, strategy, margin=crop_margin, native=multiple is not None, max_side=max_side
            )
            job.strategies.append(plan.strategy)
            rgb = data.rgb(b)
            for window in plan.windows:
                if plan.native and multiple is not None:
                    img, known, geometry = window_to_native(rgb, hole[b], window, multiple, max_side)
                else:
                    img, known, geometry = window_to_model(rgb, hole[b], window, r)
                job.windows.append((b, window))
                job.inputs.append((img, known))
                job.geometry.append(geometry)
        return job

    def _forward(
        self,
        inputs: list[tuple[torch.Tensor, torch.Tensor]],
        seed: int | None,
        batch_size: int | None = None,
        *,
        inversion: InversionConfig | None = None,
        details: bool = False,
        progress: bool = False,
    ) -> dict[str, Any]:
        """Run the network over ``inputs`` in batches of ``batch_size`` (default :attr:`batch_size`).

        Inputs of one size are stacked, so consecutive windows of different sizes (native
        resolution) run in separate passes.

        Returns, on the CPU: ``output`` (N, 3, R, R) in [-1, 1] (a list per window when sizes differ); ``generated``, ``inversion``
        in [0, 1]; ``latent``; with ``details`` also ``masked`` (the network input in [0, 1]),
        ``known``, ``offsets`` / ``modulations`` ({r: (N, ...)}) and ``inversion_loss``
        (N, steps) for an optimised inversion.
        """
        batch_size = batch_size or self.batch_size
        inversion = inversion or InversionConfig()
        keys = ["output", "generated", "inversion", "latent"]
        if details:
            keys += ["masked", "known", "inversion_loss"]
        parts: dict[str, list[Any]] = {k: [] for k in keys}
        offsets: list[dict[int, torch.Tensor]] = []
        modulations: list[dict[int, torch.Tensor]] = []
        if not inputs:
            return {k: None for k in parts}
        noise = "const" if seed is None else "random"
        # With a seed, each window runs alone right after manual_seed(seed): its random noise then
        # depends on the seed only, not on its neighbours in the batch (noise is drawn per batch).
        step = batch_size if seed is None else 1
        with torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]):
            for start, stop in _chunks(inputs, step):
                if seed is not None:
                    torch.manual_seed(seed)
                chunk = inputs[start:stop]
                image = torch.stack([x for x, _ in chunk]).to(self.device, self.dtype)
                known = torch.stack([k for _, k in chunk]).to(self.device, self.dtype)
                latent, losses = None, None
                if inversion.optimizes:
                    with torch.inference_mode():
                        init = initial_latent(self.model, image * known, known, inversion.method)
                    latent, trace = optimize_latent(self.model, image, known, init, inversion, progress=progress)
                    losses = torch.stack(trace.losses, dim=1).float().cpu()
                with torch.inference_mode():
                    out = self.model(image, known, latent=latent, noise_mode=noise)
                parts["output"].append(out.output.float().cpu())
                parts["generated"].append(_to_01(out.generated))
                parts["inversion"].append(_to_01(out.inversion))
                parts["latent"].append(None if out.latent is None else out.latent.float().cpu())
                if details:
                    parts["masked"].append(_to_01(image * known))
                    parts["known"].append(known.float().cpu())
                    parts["inversion_loss"].append(losses)
                    offsets.append({r: t.float().cpu() for r, t in out.offsets.items()})
                    modulations.append({r: t.float().cpu() for r, t in out.modulations.items()})
        result: dict[str, Any] = {k: _cat(v) for k, v in parts.items()}
        if details:
            result["offsets"] = {r: torch.cat([o[r] for o in offsets]) for r in offsets[0]}
            result["modulations"] = {r: torch.cat([m[r] for m in modulations]) for r in modulations[0]}
        return result

    def _finish(self, job: _Job, outputs: dict[str, Any], output_type: OutputType | None, details: bool) -> Any:
        data = job.data
        pixels = data.pixels.clone()
        grey = [data.is_grey(b, job.hole[b]) for b in range(data.batch)]
        for i, ((b, window), geometry) in enumerate(zip(job.windows, job.geometry, strict=True)):
            fill = model_to_window(outputs["output"][i], geometry)
            hole = job.hole[b, window.top : window.bottom, window.left : window.right]
            data.paste(pixels, b, window, fill, hole, grey=grey[b])
        result = data.with_pixels(pixels).to_output(output_type)
        if not details:
            return result
        squeeze = data.kind != "pt" or data.layout != "BCHW"
        return InpaintResult(
            image=result,
            mask=job.hole[0] if squeeze else job.hole,
            strategy=job.strategies,
            windows=job.windows,
            generated=outputs["generated"],
            inversion=outputs["inversion"],
            latent=outputs["latent"],
            masked=outputs.get("masked"),
            known=outputs.get("known"),
            offsets=outputs.get("offsets") or {},
            modulations=outputs.get("modulations") or {},
            inversion_loss=outputs.get("inversion_loss"),
            fusion_kernel_size=self.config.deform_kernel_size,
        )


def _slice(outputs: dict[str, Any], start: int, stop: int) -> dict[str, Any]:
    """The entries of windows ``start:stop`` of a :meth:`Inpainter._forward` result."""
    out: dict[str, Any] = {}
    for key, value in outputs.items():
        if isinstance(value, dict):
            out[key] = {r: t[start:stop] for r, t in value.items()}
        else:
            out[key] = None if value is None else value[start:stop]
    return out


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")


def _check_output_type(output_type: Any) -> None:
    if output_type not in _OUTPUT_TYPES:
        raise InvalidInputError(f"output_type must be 'pil', 'np', 'pt' or None, got {output_type!r}")
