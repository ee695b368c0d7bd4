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
from .hub import PretrainedModel, resolve_checkpoint, upload_folder
from .hub import list_models as _list_models
from .image_io import ImageData, OutputType, read_image
from .masks import read_mask
from .models import DualPathNet
from .strategies import Strategy, Window, check_strategy, model_to_window, plan_windows, window_to_model

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
        strategy: ``"resize"`` or ``"crop"`` per image (``"none"`` for an empty mask).
        windows: ``(image index, Window)`` of every network input, in the order of the
            tensors below (a window is ``top, left, height, width`` in image pixels).
        generated: the feed-forward path's image ``I_g`` per window, ``(N, 3, R, R)`` in [0, 1]
            (None for an inversion-only model).
        inversion: the StyleGAN2 path's image ``I_s`` per window ``(N, 3, R, R)`` in [0, 1]
            (None for a feed-forward-only model).
        latent: the W+ code per window ``(N, n_latent, w_dim)`` (None without inversion).
    """

    image: Any
    mask: torch.Tensor
    strategy: list[str]
    windows: list[tuple[int, Window]] = field(default_factory=list)
    generated: torch.Tensor | None = None
    inversion: torch.Tensor | None = None
    latent: torch.Tensor | None = None


@dataclass
class _Job:
    """One ``inpaint`` call in flight: the decoded input, its holes and the network inputs it needs."""

    data: ImageData
    hole: torch.Tensor  # (B, H, W) bool on the CPU
    strategies: list[str]
    windows: list[tuple[int, Window]]
    inputs: list[tuple[torch.Tensor, torch.Tensor]]  # (image (3, R, R), known (1, R, R)) per window
    geometry: list[Any]


def _to_01(x: torch.Tensor | None) -> torch.Tensor | None:
    return None if x is None else ((x.float() + 1.0) * 0.5).clamp_(0.0, 1.0).cpu()


def _cat(parts: list[torch.Tensor | None]) -> torch.Tensor | None:
    kept = [p for p in parts if p is not None]
    return torch.cat(kept) if kept and len(kept) == len(parts) else None


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
    """

    def __init__(
        self,
        model: DualPathNet,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        batch_size: int | Literal["auto"] = "auto",
        name: str | None = None,
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
        return cls(model, device=dev, dtype=dt, name=os.fspath(name_or_path))  # type: ignore[arg-type]

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
    ) -> Any:
        """Fill the masked region of ``image``.

        Args:
            image: a path, PIL image, numpy array (``HxW``/``HxWxC``, uint8/uint16 or float in
                [0, 1]) or torch tensor (``CxHxW``/``BxCxHxW``, uint8 or float in [0, 1]).
            mask: the same kinds, or bool; white / nonzero / True = fill. Its height and width
                must equal the image's (EXIF orientation is applied to both files).
            strategy: ``"auto"``, ``"resize"`` or ``"crop"`` (see :mod:`dpinpaint.strategies`).
            mask_threshold: a mask pixel is a hole when its value, scaled to [0, 1], is greater.
            invert_mask: fill the black / zero / False pixels instead.
            mask_from_alpha: take the mask from its alpha channel (opaque = fill).
            seed: None for the deterministic result; an integer re-draws the StyleGAN2 path's
                noise from that seed (a variation of the fill).
            output_type: ``"pil"``, ``"np"`` or ``"pt"`` instead of the input's type.
            return_details: return an :class:`InpaintResult` instead of the image.
            crop_margin: context around the holes for ``"crop"``, as a fraction of their size.

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
        )
        _check_output_type(output_type)
        outputs = self._forward([x for x in job.inputs], seed)
        return self._finish(job, outputs, output_type, return_details)

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
                    yield from self._complete(pending, seed, output_type, return_details, bar, batch_size)
                    pending = []
            yield from self._complete(pending, seed, output_type, return_details, bar, batch_size)
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
    ) -> Iterator[Any]:
        """Run the network on the windows of prepared ``jobs`` together; yield each job's result in order."""
        outputs = self._forward([x for j in jobs for x in j.inputs], seed, batch_size)
        start = 0
        for job in jobs:
            n = len(job.inputs)
            yield self._finish(
                job,
                {k: (v[start : start + n] if v is not None else None) for k, v in outputs.items()},
                output_type,
                details,
            )
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
    ) -> _Job:
        check_strategy(strategy, crop_margin)
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
        r = self.resolution
        for b in range(data.batch):
            fraction = float(hole[b].float().mean())
            if fraction == 0.0:
                warnings.warn(
                    f"the mask of {data.source}"
                    + (f" (image {b})" if data.batch > 1 else "")
                    + " is empty: nothing to fill, the image is returned unchanged "
                    "(masks mark the region to fill in white; use invert_mask=True for the opposite)",
                    DPInpaintWarning,
                    stacklevel=3,
                )
                job.strategies.append("none")
                continue
            if fraction > FULL_MASK_WARNING:
                warnings.warn(
                    f"the mask covers {fraction:.1%} of {data.source}: there is almost nothing to condition on "
                    "(white = fill; use invert_mask=True if the mask is inverted)",
                    DPInpaintWarning,
                    stacklevel=3,
                )
            plan = plan_windows(hole[b], r, strategy, margin=crop_margin)
            job.strategies.append(plan.strategy)
            rgb = data.rgb(b)
            for window in plan.windows:
                img, known, geometry = window_to_model(rgb, hole[b], window, r)
                job.windows.append((b, window))
                job.inputs.append((img, known))
                job.geometry.append(geometry)
        return job

    def _forward(
        self, inputs: list[tuple[torch.Tensor, torch.Tensor]], seed: int | None, batch_size: int | None = None
    ) -> dict[str, Any]:
        """Run the network over ``inputs`` in batches of ``batch_size`` (default :attr:`batch_size`);
        outputs on the CPU (images in [0, 1])."""
        batch_size = batch_size or self.batch_size
        parts: dict[str, list[torch.Tensor | None]] = {"output": [], "generated": [], "inversion": [], "latent": []}
        if not inputs:
            return {k: None for k in parts}
        with torch.random.fork_rng(devices=[] if self.device.type == "cpu" else [self.device]), torch.inference_mode():
            if seed is not None:
                torch.manual_seed(seed)
            for start in range(0, len(inputs), batch_size):
                chunk = inputs[start : start + batch_size]
                image = torch.stack([x for x, _ in chunk]).to(self.device, self.dtype)
                known = torch.stack([k for _, k in chunk]).to(self.device, self.dtype)
                out = self.model(image, known, noise_mode="const" if seed is None else "random")
                parts["output"].append(out.output.float().cpu())
                parts["generated"].append(_to_01(out.generated))
                parts["inversion"].append(_to_01(out.inversion))
                parts["latent"].append(None if out.latent is None else out.latent.float().cpu())
        return {k: _cat(v) for k, v in parts.items()}

    def _finish(self, job: _Job, outputs: dict[str, Any], output_type: OutputType | None, details: bool) -> Any:
        data = job.data
        pixels = data.pixels.clone()
        for i, ((b, window), geometry) in enumerate(zip(job.windows, job.geometry, strict=True)):
            fill = model_to_window(outputs["output"][i], geometry)
            hole = job.hole[b, window.top : window.bottom, window.left : window.right]
            data.paste(pixels, b, window, fill, hole)
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
        )


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer or 'auto', got {batch_size!r}")


def _check_output_type(output_type: Any) -> None:
    if output_type not in _OUTPUT_TYPES:
        raise InvalidInputError(f"output_type must be 'pil', 'np', 'pt' or None, got {output_type!r}")
