"""Modulated deformable convolution (DCNv2) with torchvision's ``deform_conv2d`` semantics.

The pure-PyTorch path samples the input bilinearly with one fused
:func:`torch.nn.functional.embedding_bag` call per chunk of output pixels: the input is
laid out channels-last with a one-pixel zero border, so every bilinear corner is one
contiguous row of channels, and the four corner rows are summed with their bilinear
weights (already multiplied by the modulation) in a single kernel. The sampled
columns of a chunk go straight into one GEMM with the weight, so the sampling buffer
stays small (a few MB) and hot in cache. Both steps are differentiable, so the path
trains and passes ``gradcheck``.

When torchvision's compiled operators load, ``backend="auto"`` uses its kernel instead.

Precision: both backends compute in float32 (float64 when a tensor is float64) and return the
input's dtype. Half-precision inputs (float16, bfloat16) are cast up first: torchvision's CUDA
kernel has no bfloat16 version, and in either half type the sampling coordinates are too coarse
(bfloat16 spaces representable numbers 1 apart at 128-256 and 2 apart at 256-512, so the
bilinear weights of a 256-pixel feature map would be meaningless). Under ``torch.autocast`` the
op runs with autocast off in that dtype, as torchvision's own autocast rule does. All-float32
calls outside autocast go straight to the backend, without casts or copies.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

from ..errors import BackendUnavailableError, InvalidInputError

__all__ = ["modulated_deform_conv2d", "torchvision_kernels_available"]

logger = logging.getLogger(__name__)

Backend = Literal["auto", "torch", "torchvision"]

#: Elements (not bytes) of the sampled-column buffer of one chunk: 2**21 floats = 8 MB.
_CHUNK_ELEMENTS = 1 << 21


@functools.cache
def _torchvision_deform_conv2d() -> Callable[..., torch.Tensor] | None:
    """torchvision's ``deform_conv2d`` if its compiled ops load with this torch, else None.

    The import is guarded: a torchvision built for another torch (e.g. a CUDA wheel next to
    the CPU torch) raises at import time, and that must never break this package.
    """
    try:
        from torchvision.ops import deform_conv2d

        # Importing is not enough: the operator registry is only touched on first use.
        x = torch.zeros(1, 1, 3, 3)
        deform_conv2d(x, torch.zeros(1, 2, 3, 3), torch.zeros(1, 1, 1, 1), mask=torch.ones(1, 1, 3, 3))
    except Exception as exc:  # any failure means "not usable here"
        logger.debug("torchvision deform_conv2d unavailable: %s: %s", type(exc).__name__, exc)
        return None
    return deform_conv2d


def torchvision_kernels_available() -> bool:
    """Whether torchvision's compiled ``deform_conv2d`` kernel can be used in this process."""
    return _torchvision_deform_conv2d() is not None


def _pair(value: int | tuple[int, int] | list[int], name: str) -> tuple[int, int]:
    if isinstance(value, int):
        pair = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) for v in value):
        pair = (int(value[0]), int(value[1]))
    else:
        raise InvalidInputError(f"{name} must be an int or a pair of ints, got {value!r}")
    return pair


def modulated_deform_conv2d(
    input: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    *,
    backend: Backend = "auto",
) -> torch.Tensor:
    """Modulated deformable 2-D convolution (DCNv2), as ``torchvision.ops.deform_conv2d``.

    Args:
        input: ``(B, C_in, H, W)``.
        offset: ``(B, 2 * G * kh * kw, H_out, W_out)``; for offset group ``g`` and kernel tap
            ``k = i * kw + j`` channel ``g * 2 * kh * kw + 2 * k`` is the row offset ``dy`` and
            the next channel the column offset ``dx`` (interleaved pairs). The input channels
            are split into ``G`` consecutive groups, each moved by its own offsets.
        mask: ``(B, G * kh * kw, H_out, W_out)`` modulation, applied raw (no sigmoid here);
            ``None`` means all ones (DCNv1).
        weight: ``(C_out, C_in // weight_groups, kh, kw)``.
        bias: ``(C_out,)`` or None.
        stride, padding, dilation: ints or ``(h, w)`` pairs, as for ``conv2d``.
        backend: ``"auto"`` (torchvision's kernel when it loads, else pure PyTorch),
            ``"torch"`` (always pure PyTorch) or ``"torchvision"`` (error if unavailable).

    Any floating dtype works (float16, bfloat16, float32, float64, mixed, under autocast or
    not): the backend computes in float32 (float64 if a tensor is float64) and the result is
    cast back to ``input``'s dtype, so gradients flow to every input in its own dtype.

    Sampling is bilinear in pixel coordinates; a sample at ``(y, x)`` with ``y <= -1``,
    ``y >= H``, ``x <= -1`` or ``x >= W`` is zero, and neighbours outside the image count
    as zero.

    Returns:
        ``(B, C_out, H_out, W_out)`` in ``input``'s dtype. The pure-PyTorch path returns a
        channels-last strided tensor (values are the same; call ``.contiguous()`` if you need
        NCHW strides).
    """
    stride_hw = _pair(stride, "stride")
    padding_hw = _pair(padding, "padding")
    dilation_hw = _pair(dilation, "dilation")
    groups = _check_args(input, offset, mask, weight, bias, stride_hw, padding_hw, dilation_hw)

    if backend not in ("auto", "torch", "torchvision"):
        raise InvalidInputError(f"backend must be 'auto', 'torch' or 'torchvision', got {backend!r}")
    tv = _torchvision_deform_conv2d() if backend != "torch" else None
    if backend == "torchvision" and tv is None:
        raise BackendUnavailableError(
            "backend='torchvision' was requested but torchvision's compiled ops do not load with this "
            f"torch ({torch.__version__}); install a torchvision built for it, or use backend='auto'."
        )

    def run(
        x: torch.Tensor, o: torch.Tensor, m: torch.Tensor | None, w: torch.Tensor, b: torch.Tensor | None
    ) -> torch.Tensor:
        if tv is not None:
            return tv(x, o, w, b, stride_hw, padding_hw, dilation_hw, m)
        return _deform_conv2d_torch(x, o, m, w, b, stride_hw, padding_hw, dilation_hw, *groups)

    tensors = (input, offset, mask, weight, bias)
    compute = _compute_dtype(tensors)
    device_type = input.device.type
    if not _autocast_enabled(device_type) and all(t is None or t.dtype == compute for t in tensors):
        return run(input, offset, mask, weight, bias)  # the fast path: nothing to cast

    def cast(t: torch.Tensor | None) -> torch.Tensor | None:
        return None if t is None else t.to(compute)

    with torch.autocast(device_type, enabled=False):
        out = run(input.to(compute), offset.to(compute), cast(mask), weight.to(compute), cast(bias))
    return out.to(input.dtype)


def _compute_dtype(tensors: tuple[torch.Tensor | None, ...]) -> torch.dtype:
    """float64 if any tensor is float64, else float32 (never a half type: see the module docstring)."""
    return torch.float64 if any(t is not None and t.dtype == torch.float64 for t in tensors) else torch.float32


def _autocast_enabled(device_type: str) -> bool:
    """Whether ``torch.autocast`` is active for ``device_type`` here."""
    try:
        return bool(torch.is_autocast_enabled(device_type))
    except (TypeError, RuntimeError):  # torch < 2.4 takes no argument; unknown device types raise
        if device_type == "cpu":
            return bool(torch.is_autocast_cpu_enabled())
        return device_type == "cuda" and bool(torch.is_autocast_enabled())


def _check_args(
    input: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """Validate shapes; return ``(offset_groups, weight_groups)``."""
    for name, t, rank in (("input", input, 4), ("offset", offset, 4), ("weight", weight, 4)):
        if not isinstance(t, torch.Tensor) or t.dim() != rank:
            shape = tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__
            raise InvalidInputError(f"{name} must be a {rank}-D tensor, got {shape}")
    for name, opt in (("input", input), ("offset", offset), ("weight", weight), ("mask", mask), ("bias", bias)):
        if isinstance(opt, torch.Tensor) and not opt.is_floating_point():
            raise InvalidInputError(f"{name} must be a floating-point tensor, got dtype {opt.dtype}")
    if min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise InvalidInputError(
            f"stride and dilation must be >= 1 and padding >= 0, got stride={stride}, "
            f"padding={padding}, dilation={dilation}"
        )
    b, c_in, h, w = input.shape
    c_out, c_per_group, kh, kw = weight.shape
    taps = kh * kw
    if c_per_group == 0 or c_in % c_per_group != 0:
        raise InvalidInputError(
            f"weight has {c_per_group} input channels per group, which does not divide input's {c_in}"
        )
    weight_groups = c_in // c_per_group
    if c_out % weight_groups != 0:
        raise InvalidInputError(f"weight's {c_out} output channels are not divisible by its {weight_groups} groups")
    h_out = (h + 2 * padding[0] - (dilation[0] * (kh - 1) + 1)) // stride[0] + 1
    w_out = (w + 2 * padding[1] - (dilation[1] * (kw - 1) + 1)) // stride[1] + 1
    if h_out < 1 or w_out < 1:
        raise InvalidInputError(f"input {h}x{w} is too small for a {kh}x{kw} kernel with these padding/dilation")
    if offset.shape[1] == 0 or offset.shape[1] % (2 * taps) != 0:
        raise InvalidInputError(f"offset must have 2 * offset_groups * {kh} * {kw} channels, got {offset.shape[1]}")
    offset_groups = offset.shape[1] // (2 * taps)
    if c_in % offset_groups != 0:
        raise InvalidInputError(
            f"offset has {offset_groups} offset groups, which do not divide input's {c_in} channels"
        )
    if offset.shape[0] != b or tuple(offset.shape[2:]) != (h_out, w_out):
        raise InvalidInputError(
            f"offset must have shape ({b}, {offset.shape[1]}, {h_out}, {w_out}), got {tuple(offset.shape)}"
        )
    if mask is not None:
        expected = (b, offset_groups * taps, h_out, w_out)
        if not isinstance(mask, torch.Tensor) or tuple(mask.shape) != expected:
            got = tuple(mask.shape) if isinstance(mask, torch.Tensor) else type(mask).__name__
            raise InvalidInputError(f"mask must have shape {expected} (offset groups x taps), got {got}")
    if bias is not None and tuple(bias.shape) != (c_out,):
        raise InvalidInputError(f"bias must have shape ({c_out},), got {tuple(bias.shape)}")
    return offset_groups, weight_groups


def _deform_conv2d_torch(
    x: torch.Tensor,
    offset: torch.Tensor,
    mask: torch.Tensor | None,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
    offset_groups: int,
    weight_groups: int,
) -> torch.Tensor:
    """Pure-PyTorch DCNv2: embedding_bag bilinear gather + GEMM, chunked over output pixels."""
    b, c_in, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out, w_out = offset.shape[-2:]
    taps, groups = kh * kw, offset_groups
    pixels = h_out * w_out

    # Rows of the lookup table: (batch, padded y, padded x, group) -> C_in / G channels.
    hp, wp = h + 2, w + 2
    table = F.pad(x.permute(0, 2, 3, 1), (0, 0, 1, 1, 1, 1)).contiguous().view(-1, c_in // groups)

    # Per output pixel: (taps, groups, [dy, dx]) and (taps, groups).
    off = offset.view(b, groups, taps, 2, h_out, w_out).permute(0, 4, 5, 2, 1, 3).reshape(b * pixels, taps, groups, 2)
    if mask is None:
        mod = off.new_ones(b * pixels, taps, groups)
    else:
        mod = mask.view(b, groups, taps, h_out, w_out).permute(0, 3, 4, 2, 1).reshape(b * pixels, taps, groups)

    # Undeformed sampling grid: (pixels, taps) in the input's pixel coordinates.
    dev, dt = x.device, offset.dtype
    oy = torch.arange(h_out, device=dev, dtype=dt) * stride[0] - padding[0]
    ox = torch.arange(w_out, device=dev, dtype=dt) * stride[1] - padding[1]
    ky = (torch.arange(kh, device=dev, dtype=dt) * dilation[0]).repeat_interleave(kw)
    kx = (torch.arange(kw, device=dev, dtype=dt) * dilation[1]).repeat(kh)
    base_y = (oy[:, None, None] + ky[None, None, :]).expand(h_out, w_out, taps).reshape(pixels, taps)
    base_x = (ox[None, :, None] + kx[None, None, :]).expand(h_out, w_out, taps).reshape(pixels, taps)
    group_ids = torch.arange(groups, device=dev)

    wmat = _weight_matrix(weight, weight_groups)
    rows_per_chunk = max(64, _CHUNK_ELEMENTS // (taps * c_in))
    tracked = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, offset, mask, weight, bias)
    )
    # Without autograd, chunks go straight into the output; with it, they are concatenated.
    result = None if tracked else x.new_empty(b * pixels, c_out)
    chunks = []
    for start in range(0, b * pixels, rows_per_chunk):
        stop = min(start + rows_per_chunk, b * pixels)
        rows = torch.arange(start, stop, device=dev)
        batch, pix = rows // pixels, rows % pixels
        py = base_y[pix].unsqueeze(-1) + off[start:stop, :, :, 0]  # (n, taps, groups)
        px = base_x[pix].unsqueeze(-1) + off[start:stop, :, :, 1]
        inside = (py > -1) & (py < h) & (px > -1) & (px < w)
        m = mod[start:stop] * inside
        y0, x0 = torch.floor(py), torch.floor(px)
        ly, lx = py - y0, px - x0
        hy, hx = 1 - ly, 1 - lx
        corner_w = torch.stack((hy * hx, hy * lx, ly * hx, ly * lx), dim=-1) * m.unsqueeze(-1)
        # Samples outside have weight 0; clamp them to a valid row of the zero border.
        yi = y0.clamp(-1, h - 1).long() + 1
        xi = x0.clamp(-1, w - 1).long() + 1
        top_left = ((batch.view(-1, 1, 1) * hp + yi) * wp + xi) * groups + group_ids
        corners = torch.stack(
            (top_left, top_left + groups, top_left + wp * groups, top_left + (wp + 1) * groups), dim=-1
        )
        cols = F.embedding_bag(
            corners.view(-1, 4), table, per_sample_weights=corner_w.view(-1, 4).to(table.dtype), mode="sum"
        )
        cols = cols.view(stop - start, taps * c_in)
        if result is not None and weight_groups == 1:
            if bias is None:
                torch.mm(cols, wmat[0], out=result[start:stop])
            else:
                torch.addmm(bias, cols, wmat[0], out=result[start:stop])
        elif result is not None:
            result[start:stop] = _apply_weight(cols, wmat, bias, taps, weight_groups)
        else:
            chunks.append(_apply_weight(cols, wmat, bias, taps, weight_groups))
    if result is None:
        result = chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=0)
    return result.view(b, h_out, w_out, c_out).permute(0, 3, 1, 2)


def _weight_matrix(weight: torch.Tensor, weight_groups: int) -> torch.Tensor:
    """``(C_out, C_in/wg, kh, kw)`` -> ``(wg, kh*kw*C_in/wg, C_out/wg)``, rows ordered (tap, channel)."""
    c_out, c_in_g, kh, kw = weight.shape
    w = weight.view(weight_groups, c_out // weight_groups, c_in_g, kh * kw)
    return w.permute(0, 3, 2, 1).reshape(weight_groups, kh * kw * c_in_g, c_out // weight_groups)


def _apply_weight(
    cols: torch.Tensor, wmat: torch.Tensor, bias: torch.Tensor | None, taps: int, weight_groups: int
) -> torch.Tensor:
    """``cols`` ``(n, taps * C_in)`` ordered (tap, channel) -> ``(n, C_out)``."""
    if weight_groups == 1:
        if bias is None:
            return cols @ wmat[0]
        return torch.addmm(bias, cols, wmat[0])
    n = cols.shape[0]
    c_in_g = cols.shape[1] // (taps * weight_groups)
    grouped = cols.view(n, taps, weight_groups, c_in_g).permute(2, 0, 1, 3).reshape(weight_groups, n, taps * c_in_g)
    out = torch.bmm(grouped, wmat).permute(1, 0, 2).reshape(n, -1)
    return out if bias is None else out + bias
