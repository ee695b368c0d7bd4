"""What the web page does, without the page: its settings, its models, photos, masks and one request.

:mod:`dpinpaint.ui.page` lays out the Gradio page and hands every event to these functions, so
they are tested without a browser (``tests/test_ui_session.py``); the browser test
(``tests/test_ui_browser.py``) checks the page itself. Nothing here imports Gradio.

The page reads only what the user uploads and the models named when it starts
(:class:`ModelCatalog`): a model is chosen by its label from that list, never by a path.
"""

from __future__ import annotations

import logging
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from ..errors import ImageReadError, InvalidInputError
from ..image_io import read_image, save_image
from ..masks import read_mask
from ..options import InpaintOptions
from .config import DEFAULT_MAX_PIXELS, UIConfig

__all__ = [
    "ModelChoice",
    "ModelCatalog",
    "Photo",
    "UIResult",
    "open_photo",
    "mask_from_layers",
    "combine_masks",
    "inpaint_photo",
    "options_from_form",
    "MAX_STEPS",
]

logger = logging.getLogger(__name__)

#: The most optimisation steps the page runs (its slider's maximum): a request for more is refused
#: rather than holding the server, which runs one request at a time, for hours.
MAX_STEPS = 2000
#: How the page's notes say to get a PNG: it writes the upload's format and has no format choice.
_PNG_HINT = "open a PNG copy of the photo"


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu: ``label`` is shown, ``source`` goes to ``from_pretrained``."""

    label: str
    source: str
    local_files_only: bool = False


class ModelCatalog:
    """The models the page may load, fixed at start, and the one loaded now (at most one in memory).

    Args:
        choices: the menu, in order (the first is the default).
        device / dtype: as :class:`~dpinpaint.Inpainter`.
        loader: ``(choice, device, dtype) -> Inpainter`` (default: ``Inpainter.from_pretrained``).
    """

    def __init__(
        self,
        choices: Sequence[ModelChoice],
        device: str = "auto",
        dtype: str = "auto",
        loader: Callable[[ModelChoice, str, str], Any] | None = None,
    ) -> None:
        if not choices:
            raise InvalidInputError("the model menu is empty: name at least one model")
        labels = [c.label for c in choices]
        if len(set(labels)) != len(labels):
            raise InvalidInputError(f"model labels must differ, got {labels}")
        self.choices = list(choices)
        self.device, self.dtype = device, dtype
        self._loader = loader or _load_pretrained
        self._loaded: tuple[str, Any] | None = None
        self._lock = threading.Lock()

    @classmethod
    def discover(cls, config: UIConfig, loader: Callable[[ModelChoice, str, str], Any] | None = None) -> ModelCatalog:
        """The models of ``config`` first, then the bundled ones, then (``include_cached``) the cache's."""
        from ..hub_cache import cached_checkpoints
        from ..registry import PRETRAINED

        choices: list[ModelChoice] = []
        seen: set[str] = set()

        def add(choice: ModelChoice) -> None:
            if choice.label not in seen:
                seen.add(choice.label)
                choices.append(choice)

        for name in config.models:
            add(ModelChoice(str(name), str(name)))
        for name, entry in PRETRAINED.items():
            if entry.bundled:
                add(ModelChoice(name, name))
        if config.include_cached:
            for cached in cached_checkpoints():
                add(ModelChoice(f"{cached.repo_id}@{cached.commit[:12]} (cached)", cached.model_id, True))
        return cls(choices, config.device, config.dtype, loader)

    @property
    def labels(self) -> list[str]:
        return [c.label for c in self.choices]

    def choice(self, label: str) -> ModelChoice:
        """The menu entry of ``label``; anything else (a path, a Hub id not in the menu) is refused."""
        for c in self.choices:
            if c.label == label:
                return c
        raise InvalidInputError(
            f"model {label!r} is not in this page's menu; restart `dpinpaint ui --model ...` to add it"
        )

    def load(self, label: str) -> Any:
        """The :class:`~dpinpaint.Inpainter` of ``label``, loading it (and dropping the previous one) if needed."""
        choice = self.choice(label)
        with self._lock:
            if self._loaded is None or self._loaded[0] != label:
                self._loaded = None  # free the previous model before the next one loads
                logger.info("loading model %s", choice.source)
                self._loaded = (label, self._loader(choice, self.device, self.dtype))
            return self._loaded[1]


def _load_pretrained(choice: ModelChoice, device: str, dtype: str) -> Any:
    from ..inpainter import Inpainter

    return Inpainter.from_pretrained(
        choice.source, device=device, dtype=dtype, local_files_only=choice.local_files_only
    )


@dataclass(frozen=True)
class Photo:
    """An uploaded photo, checked and decoded.

    Attributes:
        path: the uploaded file (what is inpainted: its own format, bit depth and metadata).
        name: the file name the user uploaded.
        format: Pillow's name of its format (``"JPEG"``, ``"PNG"``...).
        display: ``(H, W, 3)`` uint8, upright (EXIF orientation applied): what the page shows
            and what holes are painted over.
        frames: frames or pages in the file (an animated GIF, a multi-page TIFF); only the
            first is inpainted.
        mode: Pillow's mode of the file (``"CMYK"``, ``"P"``...).
    """

    path: Path
    name: str
    format: str
    display: np.ndarray
    frames: int = 1
    mode: str = "RGB"

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)`` of the upright photo."""
        return int(self.display.shape[0]), int(self.display.shape[1])


def open_photo(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS, name: str | None = None) -> Photo:
    """Check and decode an uploaded photo.

    Raises:
        ImageReadError: not an image this library reads (the message says which formats do).
        InvalidInputError: more than ``max_pixels`` pixels (checked from the header, before decoding).
    """
    path = Path(path)
    label = name or path.name
    width, height, fmt, frames, mode = _read_header(path, label, max_pixels)
    if width * height > max_pixels:
        raise InvalidInputError(
            f"{label} has {width * height:,} pixels ({width}x{height}), more than this page's limit of "
            f"{max_pixels:,}: scale it down, or restart with `dpinpaint ui --max-pixels N`"
        )
    try:
        data = read_image(path)
    except (ImageReadError, InvalidInputError) as exc:
        raise _named(exc, path, label) from None
    data.source = label
    return Photo(path, label, fmt, to_display(data.rgb()), frames, mode)  # upright: EXIF orientation applied


def _named(exc: InvalidInputError, path: Path, label: str) -> InvalidInputError:
    """``exc`` again, naming the upload as the user knows it (``label``), not the server's copy (``path``)."""
    return type(exc)(str(exc).replace(str(path), label))


def _read_header(path: Path, label: str, max_pixels: int) -> tuple[int, int, str, int, str]:
    """``(width, height, format, frames, mode)`` of an upload, from its header (its pixels are not decoded).

    Raises:
        ImageReadError: not an image Pillow reads.
        InvalidInputError: a header claiming more pixels than Pillow opens safely (a decompression bomb).
    """
    try:
        with Image.open(path) as im:
            return im.width, im.height, im.format or "", int(getattr(im, "n_frames", 1) or 1), im.mode
    except Image.DecompressionBombError as exc:  # a header claiming billions of pixels: refused unread
        raise InvalidInputError(
            f"{label} is far too large ({exc}); this page takes images of up to {max_pixels:,} pixels: scale it down"
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(
            f"{label} is not an image this page can read ({exc.__class__.__name__}); "
            "upload a PNG, JPEG, WebP, TIFF or BMP image"
        ) from None


def mask_from_layers(layers: Sequence[Any], size: tuple[int, int]) -> np.ndarray:
    """The holes painted in the editor: every pixel any layer covers, ``(H, W)`` bool.

    ``layers`` are ``(h, w, 4)`` RGBA arrays (or PIL images) over the photo; a layer of another
    size (a scaled canvas) is resized to ``size`` ``(H, W)`` with nearest-neighbour sampling.
    Erased pixels are transparent again and so are not holes.
    """
    hole = np.zeros(size, dtype=bool)
    for layer in layers:
        if layer is None:
            continue
        arr = np.asarray(layer)
        if arr.dtype.kind not in "biuf":
            raise InvalidInputError(f"a painted layer must hold numbers, got an array of {arr.dtype}")
        if arr.ndim != 3 or arr.shape[2] not in (2, 4):
            raise InvalidInputError(f"a painted layer must be RGBA, got an array of shape {arr.shape}")
        alpha = arr[..., -1] > 0
        if alpha.shape != size:
            alpha = np.asarray(Image.fromarray(alpha).resize((size[1], size[0]), Image.Resampling.NEAREST))
        hole |= alpha
    return hole


def combine_masks(painted: np.ndarray | None, mask_file: str | Path | None, size: tuple[int, int]) -> np.ndarray:
    """The painted holes and an uploaded mask file (white = hole) together, ``(H, W)`` bool.

    Raises:
        InvalidInputError: the mask file's size differs from the photo's, or nothing is masked.
    """
    hole = np.zeros(size, dtype=bool) if painted is None else painted.astype(bool, copy=True)
    if mask_file is not None:
        path = Path(mask_file)
        # The header first: a mask of another size (a decompression bomb among them) is refused undecoded.
        w, h, *_ = _read_header(path, path.name, size[0] * size[1])
        if w * h == size[0] * size[1]:  # the same size, or turned by its EXIF orientation
            try:
                uploaded = read_mask(str(path))[0][0].numpy()
            except ImageReadError as exc:
                raise _named(exc, path, path.name) from None
            h, w = uploaded.shape
        if (h, w) != size:
            raise InvalidInputError(
                f"the mask is {w}x{h} but the photo is {size[1]}x{size[0]} (upright): upload a mask of the photo's size"
            )
        hole |= uploaded
    if not hole.any():
        raise InvalidInputError("nothing to fill: paint over what should go, or upload a mask (white = fill)")
    return hole


@dataclass
class UIResult:
    """What one run gives the page.

    Attributes:
        before / after: ``(H, W, 3)`` uint8 for showing side by side.
        download: the result file, in the photo's format and size (see ``notes``).
        mask: the holes that were filled, a PNG of the photo's size (white = filled), ready for
            ``dpinpaint inpaint --mask``.
        figure: the explain figure of the first window (dual-path models), else None.
        notes: what the user should know (a lossy re-encoding, a format change...).
        seconds: the inpainting time.
    """

    before: np.ndarray
    after: np.ndarray
    download: Path
    mask: Path
    figure: Image.Image | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def inpaint_photo(
    inpainter: Any,
    photo: Photo,
    hole: np.ndarray,
    options: InpaintOptions,
    out_dir: Path,
    *,
    explain: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> UIResult:
    """Inpaint ``photo`` where ``hole`` ``(H, W)`` is True and write the result for download.

    The steps of :meth:`Inpainter.inpaint <dpinpaint.Inpainter.inpaint>` run the windows in
    forward passes of the inpainter's ``batch_size`` (as ``inpaint`` does), so that
    ``progress(done, total)`` can follow them. The file is written next to nothing else in a
    new folder under ``out_dir``, named after the upload, in its format where Pillow writes it
    (else PNG, with a note); every pixel outside the holes is the photo's (bit for bit in lossless
    formats).
    """
    from ..pipeline import WindowOutputs

    start = time.perf_counter()
    opts = inpainter.options(options)
    prepared = inpainter.prepare(str(photo.path), hole, opts)
    parts = []
    total, step = len(prepared.windows), max(1, int(inpainter.batch_size))
    for i in range(0, total, step):
        if progress is not None:
            progress(i, total)
        parts.append(inpainter.run(prepared.windows[i : i + step], opts, details=explain))
    if progress is not None:
        progress(total, total)
    outputs = WindowOutputs.concat(parts) if parts else inpainter.run([], opts)
    result = inpainter.finish(prepared, outputs, details=explain)
    image = result.image if explain else result
    figure = result.figure() if explain and result.windows else None
    seconds = time.perf_counter() - start

    folder = Path(tempfile.mkdtemp(prefix="result-", dir=out_dir))
    stem, suffix, notes = _result_name(photo)
    target = folder / f"{stem}-inpainted{suffix}"
    try:
        notes += save_image(image, target, png_hint=_PNG_HINT)  # a lossless WebP stays lossless
    except InvalidInputError as exc:  # a mode this format cannot store
        target = target.with_suffix(".png")
        notes += [f"written as PNG: {exc}", *save_image(image, target)]
    mask_path = folder / f"{stem}-mask.png"
    save_image(hole.astype(np.uint8) * 255, mask_path)
    return UIResult(photo.display, to_display(read_image(image).rgb()), target, mask_path, figure, notes, seconds)


#: The extension a result gets when the upload's name does not say its format.
_EXTENSIONS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp"}
#: The longest name stem kept for the download (file systems allow 255 bytes in all).
_MAX_STEM = 100


def _result_name(photo: Photo) -> tuple[str, str, list[str]]:
    """``(stem, suffix, notes)`` of the download: the upload's name, in the format of its content."""
    name = Path(photo.name).name
    stem, suffix = Path(name).stem.strip(" .") or "photo", Path(name).suffix.lower()
    stem = stem.encode()[:_MAX_STEM].decode(errors="ignore") or "photo"
    notes: list[str] = []
    extensions = Image.registered_extensions()
    fmt = "JPEG" if photo.format == "MPO" else photo.format  # a phone's multi-picture JPEG is a JPEG
    if fmt and extensions.get(suffix) != fmt:  # a PNG named .jpg must not become a lossy JPEG
        suffix = _EXTENSIONS.get(fmt, ".png")
        notes.append(f"{name} holds a {fmt} image: the result is a {suffix[1:].upper()} file")
    if fmt == "GIF":  # re-quantising to 256 colours would change pixels outside the holes
        notes.append("GIF holds only 256 colours: the result is a PNG, so that no pixel outside the holes changes")
        suffix = ".png"
    elif suffix not in extensions or extensions[suffix] not in Image.SAVE:
        notes.append(f"{photo.format or suffix or 'this'} files cannot be written: the result is a PNG")
        suffix = ".png"
    if photo.mode in ("CMYK", "LAB", "YCbCr", "HSV"):
        notes.append(f"the photo's {photo.mode} colours are converted: the download is an RGB image")
    if photo.frames > 1:
        notes.append(
            f"{name} has {photo.frames} frames or pages: only the first is inpainted, and the download holds only it"
        )
    return stem, suffix, notes


def to_display(rgb: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` float in [0, 1] -> ``(H, W, 3)`` uint8, rounded."""
    return np.ascontiguousarray((rgb * 255.0 + 0.5).clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy())


def options_from_form(values: Mapping[str, Any], uses_inversion: bool) -> InpaintOptions:
    """The page's form (``strategy``, ``blend``, and for dual-path models ``inversion`` and ``steps``)
    as options (a missing or empty value: the default).

    Raises:
        InvalidInputError: a value :class:`~dpinpaint.options.InpaintOptions` refuses.
    """
    from dataclasses import replace

    options = InpaintOptions(strategy=values.get("strategy") or "auto", blend=values.get("blend") or "poisson")
    if uses_inversion:
        steps = values.get("steps")
        if (
            isinstance(steps, bool)
            or not isinstance(steps, int | float)
            or not 0 <= steps <= MAX_STEPS  # also False for NaN
            or steps != int(steps)
        ):
            raise InvalidInputError(f"steps must be a whole number in 0..{MAX_STEPS}, got {steps!r}")
        inversion = replace(options.inversion, method=values.get("inversion") or "learned", steps=int(steps))
        options = replace(options, inversion=inversion)
    return options
