"""Pictures that explain a result (the paper's Fig. 8 and Fig. 3).

:func:`explain_figure` draws, for one network input (window) of an :class:`~dpinpaint.InpaintResult`:

1. the masked input (holes in grey), 2. ``I_s``, the inversion path's image, 3. ``I_g``, the
feed-forward path's image, 4. the final output (observed pixels copied), and 5. ``I_s`` again
with the deformable fusion's sampling points for one output pixel at one fusion resolution:
the ``k x k`` regular grid (small grey dots) and where the DCN actually samples (discs whose
size and colour show the modulation, 0 = transparent blue, 1 = large red), joined to the pixel.
All panels are at the network's resolution ``R`` (scaled up for small models).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw

from .errors import InvalidInputError

__all__ = ["explain_figure", "sampling_points", "default_pixel"]

_PANEL_MIN = 256
_LABEL = 18
_HOLE_GREY = 0.5


def _to_pil(x: torch.Tensor, scale: int) -> Image.Image:
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    im = Image.fromarray(np.ascontiguousarray(arr), "RGB")
    return im.resize((im.width * scale, im.height * scale), Image.Resampling.NEAREST) if scale > 1 else im


def default_pixel(known: torch.Tensor) -> tuple[int, int]:
    """``(x, y)`` of the hole pixel closest to the holes' centroid (the centre if there is no hole)."""
    hole = known[0] < 0.5
    size = int(hole.shape[-1])
    if not bool(hole.any()):
        return size // 2, size // 2
    ys, xs = torch.nonzero(hole, as_tuple=True)
    cy, cx = ys.float().mean(), xs.float().mean()
    i = int(torch.argmin((ys - cy) ** 2 + (xs - cx) ** 2))
    return int(xs[i]), int(ys[i])


def sampling_points(
    offsets: torch.Tensor, modulations: torch.Tensor, pixel: tuple[int, int], resolution: int, kernel_size: int = 3
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Where the DCN samples for one output pixel, in the network's image coordinates.

    Args:
        offsets: ``(2*G*k*k, r, r)`` for one window (interleaved ``(dy, dx)`` per tap).
        modulations: ``(G*k*k, r, r)``.
        pixel: ``(x, y)`` in image coordinates at ``resolution`` ``R``.

    Returns:
        ``(grid (G*k*k, 2), sampled (G*k*k, 2), modulation (G*k*k,))`` with ``(x, y)`` points
        in image pixels (pixel centres at integers).
    """
    r = int(offsets.shape[-1])
    scale = resolution / r
    fx, fy = min(int(pixel[0] / scale), r - 1), min(int(pixel[1] / scale), r - 1)
    k, pad = kernel_size, kernel_size // 2
    taps = int(modulations.shape[0])
    grid, sampled = np.zeros((taps, 2)), np.zeros((taps, 2))
    mod = modulations[:, fy, fx].numpy().astype(np.float64)
    for t in range(taps):
        i, j = (t % (k * k)) // k, t % k
        gy, gx = fy - pad + i, fx - pad + j
        dy, dx = float(offsets[2 * t, fy, fx]), float(offsets[2 * t + 1, fy, fx])
        # feature pixel c covers image pixels [c * scale, (c + 1) * scale): its centre is (c + 0.5) * scale - 0.5
        grid[t] = ((gx + 0.5) * scale - 0.5, (gy + 0.5) * scale - 0.5)
        sampled[t] = ((gx + dx + 0.5) * scale - 0.5, (gy + dy + 0.5) * scale - 0.5)
    return grid, sampled, mod


def explain_figure(
    result: Any, window: int = 0, pixel: tuple[int, int] | None = None, resolution: int | None = None
) -> Image.Image:
    """The figure for window ``window`` of an ``InpaintResult`` made with ``return_details=True``.

    Args:
        pixel: ``(x, y)`` in the network input's coordinates (0..R-1); default: the hole pixel
            nearest the holes' centroid.
        resolution: the deformable fusion resolution whose sampling points are drawn (default:
            the highest).

    Raises:
        InvalidInputError: no details, a window, pixel or resolution out of range.
    """
    if result.masked is None or result.known is None:
        raise InvalidInputError("this result has no details: call inpaint(..., return_details=True)")
    n = int(result.masked.shape[0])
    if not 0 <= window < n:
        raise InvalidInputError(f"window must be in 0..{n - 1}, got {window}")
    size = int(result.masked.shape[-1])
    scale = max(1, -(-_PANEL_MIN // size))
    known = result.known[window]
    masked = result.masked[window] * known + _HOLE_GREY * (1 - known)
    output = _output_image(result, window)
    candidates: list[tuple[str, torch.Tensor | None]] = [
        ("masked input", masked),
        ("I_s (inversion path)", None if result.inversion is None else result.inversion[window]),
        ("I_g (feed-forward path)", None if result.generated is None else result.generated[window]),
        ("output", output),
    ]
    panels = [(label, x) for label, x in candidates if x is not None]
    base = result.inversion[window] if result.inversion is not None else masked
    if pixel is None:
        pixel = default_pixel(known)
    if not (0 <= pixel[0] < size and 0 <= pixel[1] < size):
        raise InvalidInputError(f"pixel must be (x, y) with 0 <= x, y < {size}, got {pixel}")
    dcn = None
    if result.offsets:
        resolution = max(result.offsets) if resolution is None else resolution
        if resolution not in result.offsets:
            raise InvalidInputError(
                f"resolution must be one of the deformable fusion resolutions {sorted(result.offsets)}, got {resolution}"
            )
        dcn = sampling_points(
            result.offsets[resolution][window],
            result.modulations[resolution][window],
            pixel,
            size,
            result.fusion_kernel_size,
        )
    elif resolution is not None:
        raise InvalidInputError("this model has no deformable fusion (fusion='concat'): no sampling points to draw")

    width = size * scale
    count = len(panels) + (1 if dcn is not None else 0)
    sheet = Image.new("RGB", (count * (width + 8) + 8, width + _LABEL + 8), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (label, x) in enumerate(panels):
        left = 8 + i * (width + 8)
        sheet.paste(_to_pil(x, scale), (left, _LABEL))
        draw.text((left, 3), label, fill=(0, 0, 0))
    if dcn is not None:
        left = 8 + len(panels) * (width + 8)
        panel = _to_pil(base, scale).convert("RGBA")
        overlay = Image.new("RGBA", panel.size, (0, 0, 0, 0))
        _draw_samples(ImageDraw.Draw(overlay), dcn, pixel, scale)
        sheet.paste(Image.alpha_composite(panel, overlay).convert("RGB"), (left, _LABEL))
        draw.text((left, 3), f"DCN samples at {resolution}, pixel {pixel}", fill=(0, 0, 0))
    return sheet


def _output_image(result: Any, window: int) -> torch.Tensor:
    """What a window pasted back: observed pixels from the input, its holes filled (blended as inpaint did)."""
    if result.output is not None:
        return result.output[window]
    fill = result.generated if result.generated is not None else result.inversion
    known = result.known[window]
    return result.masked[window] * known + fill[window] * (1 - known)


def _draw_samples(
    draw: ImageDraw.ImageDraw,
    dcn: tuple[np.ndarray, np.ndarray, np.ndarray],
    pixel: tuple[int, int],
    scale: int,
) -> None:
    grid, sampled, mod = dcn

    def at(p: np.ndarray | tuple[float, float]) -> tuple[float, float]:
        return (float(p[0]) + 0.5) * scale, (float(p[1]) + 0.5) * scale

    cx, cy = at(pixel)
    for (gx, gy), (sx, sy), m in zip(grid, sampled, mod, strict=True):
        px, py = at((gx, gy))
        draw.ellipse((px - 2, py - 2, px + 2, py + 2), fill=(200, 200, 200, 200))
        qx, qy = at((sx, sy))
        draw.line((cx, cy, qx, qy), fill=(255, 255, 255, 140), width=1)
        radius = 2 + 5 * float(m)
        color = (int(255 * m), 40, int(255 * (1 - m)), int(90 + 165 * m))
        draw.ellipse((qx - radius, qy - radius, qx + radius, qy + radius), fill=color, outline=(0, 0, 0, 255))
    draw.line((cx - 6, cy, cx + 6, cy), fill=(0, 255, 0, 255), width=2)
    draw.line((cx, cy - 6, cx, cy + 6), fill=(0, 255, 0, 255), width=2)
