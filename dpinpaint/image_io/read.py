"""Reading images of every supported kind, and writing results back in the same kind.

The public API accepts a path, a PIL image, a numpy array (``HxW`` or ``HxWxC``; uint8,
uint16 or float in [0, 1]) or a torch tensor (``CxHxW`` or ``BxCxHxW``; uint8 or float in
[0, 1]; ``HxW`` is read as one grey channel). :func:`read_image` turns any of them into an
:class:`ImageData`: the pixels as a ``(B, C, H, W)`` tensor in their *native* dtype and
value range (never rescaled, so nothing is lost), and how to rebuild the caller's type.
:meth:`ImageData.paste` writes new values into the hole pixels only (a :func:`torch.where`
on a copy), so every other pixel keeps its exact bits.

Channels: 1 = grey, 2 = grey + alpha, 3 = RGB, 4 = RGBA. The network sees RGB (grey is
replicated); hole pixels of a grey image get the ITU-R 601 luma of the generated colour.
So do the hole pixels of a black-and-white photo stored as RGB (every pixel outside the
hole has R = G = B, :meth:`ImageData.is_grey`): the luma is written to all three channels,
so no colour tint appears in a grey photo. Alpha is passed through unchanged everywhere.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch
from PIL import Image

from ..errors import ImageReadError, InvalidInputError
from ..strategies import Window
from .decode import (
    DEFAULT_MAX_PIXELS,
    JPEG_TABLES_KEY,
    MAX_PIXELS_ENV,
    WEBP_LOSSLESS_KEY,
    check_pixels,
    decode_image,
    max_pixels,
    open_image_file,
    read_sixteen_bit_colour,
)

__all__ = [
    "ImageData",
    "OutputType",
    "read_image",
    "open_image_file",
    "decode_image",
    "read_sixteen_bit_colour",
    "check_pixels",
    "max_pixels",
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "JPEG_TABLES_KEY",
    "WEBP_LOSSLESS_KEY",
    "LUMA_WEIGHTS",
]

logger = logging.getLogger(__name__)

OutputType = Literal["pil", "np", "pt"]
#: ITU-R 601-2 luma weights, the ones PIL uses for ``convert("L")``.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

# PIL modes handled natively (pixels kept bit for bit) -> (numpy dtype of np.asarray, full-scale value).
_NATIVE_PIL_MODES: dict[str, float] = {"1": 1.0, "L": 255.0, "LA": 255.0, "RGB": 255.0, "RGBA": 255.0}
_NATIVE_PIL_16BIT = {"I;16": 65535.0, "I": 65535.0}
# Modes converted first (documented: the output is in the converted mode).
_CONVERTED_PIL_MODES = {"P": None, "PA": "RGBA", "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}

_INT_SCALES = {torch.uint8: 255.0, torch.uint16: 65535.0, torch.bool: 1.0}
# numpy dtypes read as images (in native byte order; other byte orders are converted and restored on output).
_NUMPY_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.uint16, np.float16, np.float32, np.float64))


def _describe(obj: object) -> str:
    if isinstance(obj, np.ndarray | torch.Tensor):
        return f"{type(obj).__module__.split('.')[0]} array of shape {tuple(obj.shape)} and dtype {obj.dtype}"
    return type(obj).__name__


@dataclass
class ImageData:
    """Pixels of one input (an image, or a batch for ``BxCxHxW`` tensors) plus how to rebuild it.

    Attributes:
        pixels: ``(B, C, H, W)`` in the input's dtype and value range (a view where possible).
        scale: the value of full intensity: 255 (uint8), 65535 (16-bit), 1.0 (float, bool).
        kind: ``"pil"``, ``"np"`` or ``"pt"``: the type handed in (files read as ``"pil"``).
        layout: how to go back to the caller's shape: ``"HW"``, ``"HWC"`` (numpy), ``"CHW"``,
            ``"BCHW"``, ``"HW"`` (torch).
        pil_mode / pil_info: the PIL mode and ``info`` (ICC profile, DPI, ...) to restore.
        source: a short description for messages (a file name or the type).
        exif_transposed: True when a file's EXIF orientation was applied.
        np_dtype: the caller's numpy dtype when it is not in native byte order (restored on output).
    """

    pixels: torch.Tensor
    scale: float
    kind: OutputType
    layout: str
    pil_mode: str | None = None
    pil_info: dict[Any, Any] = field(default_factory=dict)
    source: str = "image"
    exif_transposed: bool = False
    np_dtype: np.dtype[Any] | None = None

    @property
    def batch(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def channels(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        """``(H, W)``."""
        return int(self.pixels.shape[2]), int(self.pixels.shape[3])

    @property
    def has_alpha(self) -> bool:
        return self.channels in (2, 4)

    def rgb(self, index: int = 0) -> torch.Tensor:
        """The colour channels of image ``index`` as float32 RGB in [0, 1], ``(3, H, W)`` on the CPU."""
        x = self.pixels[index, : 3 if self.channels >= 3 else 1].to("cpu", torch.float32)
        if self.scale != 1.0:
            x = x / self.scale
        x = x.clamp(0.0, 1.0)
        return x.expand(3, -1, -1) if x.shape[0] == 1 else x

    def is_grey(self, index: int, hole: torch.Tensor) -> bool:
        """Whether image ``index`` is grey outside ``hole`` ``(H, W)`` bool (True = hole).

        True for one-channel images and for RGB(A) images whose every known pixel has
        R = G = B exactly (a black-and-white photo saved as RGB); False when nothing is known.
        """
        if self.channels < 3:
            return True
        hole = hole.to(self.pixels.device)
        if bool(hole.all()):
            return False
        r, g, b = self.pixels[index, :3]
        return bool(((r == g) & (g == b) | hole).all())

    def paste(
        self,
        out: torch.Tensor,
        index: int,
        window: Window,
        fill: torch.Tensor,
        hole: torch.Tensor,
        grey: bool = False,
    ) -> None:
        """Write ``fill`` into the ``hole`` pixels of ``window`` of image ``index`` of ``out``, in place.

        Args:
            out: a copy of :attr:`pixels` ``(B, C, H, W)`` being assembled.
            fill: ``(3, h, w)`` float RGB in [0, 1] for the window (values outside are clamped).
            hole: ``(h, w)`` bool, True = replace.
            grey: write the fill's ITU-R 601 luma to every colour channel (see :meth:`is_grey`);
                always done for one-channel images.

        Pixels outside ``hole`` and the alpha channel are left as they are, bit for bit.
        """
        fill = fill.to(out.device, torch.float32).clamp(0.0, 1.0)
        color = 3 if self.channels >= 3 else 1
        if grey or color == 1:
            luma = torch.einsum("chw,c->hw", fill, torch.tensor(LUMA_WEIGHTS, device=out.device)).clamp_(0.0, 1.0)
            fill = luma[None].expand(color, -1, -1)
        if out.dtype == torch.bool:
            new = fill >= 0.5
        elif out.is_floating_point():
            new = fill.to(out.dtype)
        else:
            new = torch.round(fill * self.scale).to(out.dtype)
        region = out[index, :color, window.top : window.bottom, window.left : window.right]
        region.copy_(torch.where(hole.to(out.device), new, region))

    def with_pixels(self, pixels: torch.Tensor) -> ImageData:
        """The same image description around new pixels."""
        return replace(self, pixels=pixels)

    def to_output(self, output_type: OutputType | None = None) -> Any:
        """Rebuild the caller's type (or ``output_type``) from :attr:`pixels`."""
        kind = output_type or self.kind
        if kind == self.kind:
            return self._native()
        if kind == "pil":
            return _to_pil(self)
        if kind == "np":
            arr = self.pixels.detach().cpu()
            if arr.dtype == torch.bfloat16:  # numpy has no bfloat16; float32 holds every bfloat16 value
                arr = arr.float()
            if self.kind == "pt" and self.layout == "BCHW":
                return arr.permute(0, 2, 3, 1).numpy()
            return arr[0].permute(1, 2, 0).numpy() if self.channels > 1 else arr[0, 0].numpy()
        if kind == "pt":
            x = self.pixels.detach()
            x = x.float() / self.scale if not x.is_floating_point() else x
            return x if (self.kind == "pt" and self.layout == "BCHW") else x[0]
        raise InvalidInputError(f"output_type must be 'pil', 'np', 'pt' or None, got {output_type!r}")

    def _native(self) -> Any:
        if self.kind == "pil":
            return _to_pil(self)
        x = self.pixels
        if self.kind == "np":
            out = x.detach().cpu().numpy()
            out = out[0, 0] if self.layout == "HW" else out[0].transpose(1, 2, 0)
            return out if self.np_dtype is None else out.astype(self.np_dtype)
        return {"BCHW": x, "CHW": x[0], "HW": x[0, 0]}[self.layout]


def _to_pil(data: ImageData) -> Image.Image:
    if data.batch != 1:
        raise InvalidInputError(f"cannot make one PIL image of a batch of {data.batch}; use output_type='pt'")
    arr = data.pixels[0].detach().cpu()
    if data.pil_mode in _NATIVE_PIL_16BIT:
        im = Image.fromarray(arr[0].numpy().astype(np.uint16 if data.pil_mode == "I;16" else np.int32))
        if data.pil_mode == "I" and im.mode != "I":
            im = im.convert("I")
    else:
        if arr.is_floating_point():  # in float32: x * 255 in (b)float16 rounds to a coarse grid first
            arr = torch.round(arr.float().clamp(0, 1) * 255.0)
        elif data.scale == 65535.0:
            arr = torch.round(arr.float() / 257.0)
        arr8 = arr.numpy() if arr.dtype == torch.bool else arr.to(torch.uint8).numpy()
        if arr8.dtype == np.bool_:
            im = Image.fromarray(arr8[0])  # mode "1"
        else:
            mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[arr8.shape[0]]
            im = Image.fromarray(arr8[0] if arr8.shape[0] == 1 else arr8.transpose(1, 2, 0), mode=mode)
    kept = ("icc_profile", "dpi", "exif", "gamma", JPEG_TABLES_KEY, WEBP_LOSSLESS_KEY)
    im.info.update({k: v for k, v in data.pil_info.items() if k in kept})
    return im


def _from_pil(im: Image.Image, source: str, exif_transposed: bool = False) -> ImageData:
    check_pixels(im.width * im.height, f"{im.width}x{im.height}", source)
    mode = im.mode
    if mode in _CONVERTED_PIL_MODES:
        target = _CONVERTED_PIL_MODES[mode] or ("RGBA" if "transparency" in im.info else "RGB")
        logger.info("converting a %s-mode image to %s (the output is %s)", mode, target, target)
        info = dict(im.info)
        im = im.convert(target)
        if mode in ("P", "PA"):  # palette colours are RGB: an RGB profile still applies; a CMYK/LAB one would not
            im.info.update({k: v for k, v in info.items() if k == "icc_profile"})
        mode = target
    if mode in _NATIVE_PIL_16BIT:
        arr = np.asarray(im).astype(np.int32)
        if arr.min() < 0 or arr.max() > 65535:
            raise InvalidInputError(f"{source}: 32-bit integer image with values outside 0..65535 is not supported")
        pixels = torch.from_numpy(arr)[None, None]
        return ImageData(pixels, 65535.0, "pil", "HW", mode, dict(im.info), source, exif_transposed)
    if mode not in _NATIVE_PIL_MODES:
        raise InvalidInputError(
            f"{source}: PIL mode {mode!r} is not supported; convert it first (e.g. image.convert('RGB'))"
        )
    arr = np.asarray(im)  # read-only: np.array below copies it into memory the tensor can own
    if arr.ndim == 2:
        arr = arr[:, :, None]
    pixels = torch.from_numpy(np.array(arr.transpose(2, 0, 1), order="C"))[None]
    return ImageData(pixels, _NATIVE_PIL_MODES[mode], "pil", "HWC", mode, dict(im.info), source, exif_transposed)


def _check_float_range(x: torch.Tensor, source: str) -> None:
    if not torch.isfinite(x).all():
        raise InvalidInputError(f"{source} contains NaN or infinite values")
    if x.numel():
        lo, hi = x.aminmax() if x.dtype != torch.float16 else x.float().aminmax()
        if lo < -1e-3 or hi > 1.0 + 1e-3:
            hint = "; it looks like 0-255 values: divide by 255" if hi > 1.5 else ""
            hint = "; it looks like [-1, 1] values: map them with (x + 1) / 2" if lo < -0.5 and hi <= 1.0 else hint
            raise InvalidInputError(
                f"{source} has float values in [{lo.item():.4g}, {hi.item():.4g}]; float images must be in [0, 1]{hint}"
            )


def _tensor_data(t: torch.Tensor, kind: OutputType, layout: str, source: str) -> ImageData:
    """``t`` is ``(B, C, H, W)`` already."""
    b, _, h, w = t.shape
    check_pixels(b * h * w, f"{b} x {w}x{h}" if b > 1 else f"{w}x{h}", source)
    if t.shape[1] not in (1, 2, 3, 4):
        raise InvalidInputError(
            f"{source} has {t.shape[1]} channels; expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA)"
            + (" — channels go first for torch tensors: use x.permute(2, 0, 1)" if kind == "pt" else "")
            + (
                " — channels go last for numpy arrays: use x.transpose(1, 2, 0)"
                if kind == "np" and t.shape[2] in (1, 2, 3, 4)
                else ""
            )
        )
    if 0 in t.shape:
        raise InvalidInputError(f"{source} is empty (shape {tuple(t.shape)})")
    if t.is_floating_point():
        _check_float_range(t, source)
        scale = 1.0
    elif t.dtype in _INT_SCALES:
        scale = _INT_SCALES[t.dtype]
    else:
        raise InvalidInputError(
            f"{source}: dtype {t.dtype} is not supported; use uint8, uint16 or a float dtype with values in [0, 1]"
        )
    return ImageData(t, scale, kind, layout, source=source)


def read_image(image: Any, *, name: str = "image") -> ImageData:
    """Any supported image kind -> :class:`ImageData` (see the module docstring).

    Raises:
        ImageReadError: an unreadable file.
        InvalidInputError: an unsupported type, shape, dtype or value range.
    """
    if isinstance(image, str | os.PathLike):
        im, transposed = open_image_file(image)
        deep = read_sixteen_bit_colour(image)
        if deep is not None:  # Pillow would give 8 bits per channel: keep the 16 (as a uint16 array)
            data = read_image(deep, name=name)
            data.source, data.pil_info, data.exif_transposed = str(image), dict(im.info), transposed
            return data
        return _from_pil(im, source=str(image), exif_transposed=transposed)
    if isinstance(image, Image.Image):
        try:
            image.load()
        except (OSError, ValueError) as exc:
            raise ImageReadError(f"the PIL {name} cannot be decoded: {exc}") from exc
        return _from_pil(image, source=f"the PIL {name}")
    if isinstance(image, np.ndarray):
        source = f"the numpy {name} ({_describe(image)})"
        if image.ndim == 2:
            layout, arr = "HW", image[None, None]
        elif image.ndim == 3:
            layout, arr = "HWC", image.transpose(2, 0, 1)[None]
        else:
            raise InvalidInputError(f"{source}: numpy images must be HxW or HxWxC")
        if arr.dtype == np.bool_ or arr.dtype.kind not in "uif":
            raise InvalidInputError(f"{source}: dtype {image.dtype} is not an image dtype (use uint8 or float)")
        native = arr.dtype.newbyteorder("=")  # torch reads native byte order only
        if native.kind in "ui" and native not in _NUMPY_DTYPES:
            raise InvalidInputError(f"{source}: integer images must be uint8 or uint16, got {image.dtype}")
        if native not in _NUMPY_DTYPES:
            raise InvalidInputError(f"{source}: float images must be float16, float32 or float64, got {image.dtype}")
        arr = np.ascontiguousarray(arr, dtype=native)  # copies non-contiguous or byte-swapped arrays
        if not arr.flags.writeable:  # a read-only buffer cannot back a tensor safely
            arr = arr.copy()
        data = _tensor_data(torch.from_numpy(arr), "np", layout, source)
        if image.dtype != native:
            data.np_dtype = image.dtype
        return data
    if isinstance(image, torch.Tensor):
        source = f"the torch {name} ({_describe(image)})"
        if image.dtype == torch.bool:
            raise InvalidInputError(f"{source}: bool tensors are masks, not images")
        if image.layout != torch.strided:
            raise InvalidInputError(f"{source}: a {image.layout} tensor; pass a dense one (image.to_dense())")
        if image.is_meta:
            raise InvalidInputError(f"{source}: a meta tensor holds no pixels; pass a tensor on the CPU or a GPU")
        layouts = {2: ("HW", lambda t: t[None, None]), 3: ("CHW", lambda t: t[None]), 4: ("BCHW", lambda t: t)}
        if image.dim() not in layouts:
            raise InvalidInputError(f"{source}: torch images must be CxHxW or BxCxHxW")
        layout, to4 = layouts[image.dim()]
        return _tensor_data(to4(image.detach()), "pt", layout, source)
    raise InvalidInputError(
        f"unsupported {name} type {type(image).__name__}; pass a file path, a PIL image, a numpy array or a torch tensor"
    )
