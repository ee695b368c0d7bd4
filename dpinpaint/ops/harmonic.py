"""Harmonic interpolation over holes, and Poisson blending of a fill into its surroundings.

A network's fill rarely meets the observed pixels exactly where a hole begins: a fill a few grey
levels too dark shows as a faint line along a scratch, and on a thin scratch that offset is most of
the error. Poisson blending (Pérez, Gangnet and Blake, *Poisson Image Editing*, 2003) keeps the
fill's gradients inside the hole and makes it agree with the observed pixels at its edge. With
``d = target - fill`` it adds the harmonic correction ``c``:

    ∇²c = 0 on the hole pixels,   c = d on the observed pixels,

so the result ``fill + c`` has the fill's Laplacian in the hole and the target's values around it.
``∇²`` is the 5-point Laplacian; at the border of the array the missing neighbours are left out
(zero normal derivative), so a hole touching the border needs no values beyond it.

The system is solved by conjugate gradients (its matrix is symmetric positive definite: each
hole pixel's count of neighbours on the diagonal, -1 for each neighbour in the hole) on the holes'
bounding box, until the residual is below :data:`TOLERANCE` of the right-hand side. The
iterations grow with the holes' thickness, not the image's size: a scratch takes a few dozen, the
blobs of a half-covered image about 150.
"""

from __future__ import annotations

import logging

import torch

__all__ = ["harmonic_fill", "poisson_blend"]

#: Conjugate gradients stop when the residual's norm is below this fraction of the right-hand side's.
#: The error that leaves grows with the offset and the holes' size: against a direct sparse solve,
#: at most 0.15 grey levels on 256 px windows with 10-50% holes and 0.6 on a half-covered 768 px
#: one, for offsets spanning 200 grey levels.
TOLERANCE = 1e-4
#: ... or after this many iterations (far more than holes a few thousand pixels across need).
MAX_ITERATIONS = 5000
#: ... or when the residual's root mean square is below this (values in [-1, 1]: far below a grey
#: level), so that a right-hand side of nearly nothing does not run to :data:`MAX_ITERATIONS`.
ABSOLUTE_TOLERANCE = 1e-7
#: The convergence test (a device sync on accelerators) runs every this many iterations.
CHECK_EVERY = 8

logger = logging.getLogger(__name__)


def harmonic_fill(values: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``values`` on the observed pixels, their harmonic interpolation on the hole pixels.

    Args:
        values: ``(C, H, W)`` float; only the observed pixels (``~hole``) are read.
        hole: ``(H, W)`` bool, True = interpolate.

    Returns:
        ``(C, H, W)`` float: ``values`` where ``hole`` is False; inside each hole, the discrete
        harmonic function (5-point Laplacian, zero normal derivative at the array's border) that
        equals ``values`` on the observed pixels around it. Zero on the hole pixels when no pixel
        is observed.
    """
    if values.dim() != 3 or tuple(hole.shape) != tuple(values.shape[-2:]):
        raise ValueError(f"values must be (C, H, W) and hole (H, W), got {tuple(values.shape)} and {tuple(hole.shape)}")
    if not values.is_floating_point():
        raise ValueError(f"values must be a floating-point tensor, got {values.dtype}")
    hole = hole.to(device=values.device, dtype=torch.bool)
    out = values.clone()
    if not bool(hole.any()):
        return out
    if bool(hole.all()):
        return torch.zeros_like(values)
    rows, cols = torch.nonzero(hole.any(1)).squeeze(1), torch.nonzero(hole.any(0)).squeeze(1)
    top, left = max(0, int(rows[0]) - 1), max(0, int(cols[0]) - 1)
    bottom, right = min(hole.shape[0], int(rows[-1]) + 2), min(hole.shape[1], int(cols[-1]) + 2)
    box = (slice(None), slice(top, bottom), slice(left, right))
    counts = _border_counts(hole.shape, top, left, bottom, right)
    solved = _solve(values[box].float(), hole[box[1:]], counts)
    out[box] = torch.where(hole[box[1:]], solved.to(values.dtype), out[box])
    return out


def poisson_blend(fill: torch.Tensor, target: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """``fill`` with its offset from ``target`` at the hole's edge spread harmonically over the hole.

    Args:
        fill: ``(C, H, W)`` the generated image (its values outside ``hole`` are what it predicted
            there, not the target's).
        target: ``(C, H, W)`` the observed image (read outside ``hole`` only).
        hole: ``(H, W)`` bool, True = the pixels to fill.

    Returns:
        ``(C, H, W)``: ``target`` outside ``hole``; ``fill + c`` inside, with ``c`` the harmonic
        function equal to ``target - fill`` on the observed pixels (see the module's docstring).
    """
    if fill.shape != target.shape:
        raise ValueError(f"fill and target must have the same shape, got {tuple(fill.shape)} and {tuple(target.shape)}")
    hole = hole.to(device=fill.device, dtype=torch.bool)
    offset = harmonic_fill(target - fill, hole)
    return torch.where(hole, fill + offset, target)


def _border_counts(shape: torch.Size, top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    """Each pixel's number of neighbours inside the whole ``shape``, for the box ``top:bottom, left:right``."""
    height, width = shape
    rows = torch.arange(top, bottom)[:, None]
    cols = torch.arange(left, right)[None, :]
    edges = (rows == 0).int() + (rows == height - 1).int() + (cols == 0).int() + (cols == width - 1).int()
    return (4 - edges).float()


class _Laplacian:
    """``A x`` for the hole pixels of a ``(C, h, w)`` box: each one's neighbour count times its value,
    minus its neighbours' values (observed neighbours and those outside the image count as zero)."""

    def __init__(self, hole: torch.Tensor, count: torch.Tensor, like: torch.Tensor) -> None:
        channels, height, width = like.shape
        self.inside = hole.to(like.dtype)[None]
        self.count = count.to(device=like.device, dtype=like.dtype)[None] * self.inside
        self.padded = like.new_zeros(channels, height + 2, width + 2)  # a zero border, written inside only
        self.centre = self.padded[:, 1:-1, 1:-1]

    def neighbour_sum(self, x: torch.Tensor) -> torch.Tensor:
        """The sum of each pixel's four neighbours in ``x`` ``(C, h, w)`` (zero beyond the box)."""
        self.centre.copy_(x)
        q = self.padded
        total = q[:, :-2, 1:-1] + q[:, 2:, 1:-1]
        total += q[:, 1:-1, :-2]
        total += q[:, 1:-1, 2:]
        return total

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        out = self.neighbour_sum(x).mul_(self.inside)
        return torch.addcmul(out.neg_(), self.count, x)


def _solve(values: torch.Tensor, hole: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """The hole pixels of ``(C, h, w)`` solving Laplace's equation from the observed ones, by conjugate
    gradients over the hole (``count``: each pixel's number of neighbours in the whole image).

    The box has a ring of observed pixels around its holes unless it meets the image's border, so
    the neighbours it cuts off are exactly those outside the image.
    """
    laplacian = _Laplacian(hole, count, values)
    inside = hole[None]
    observed = torch.where(inside, 0.0, values)  # a select, not a product: NaN under a hole is not read
    b = torch.where(inside, laplacian.neighbour_sum(observed), 0.0)
    u = b / laplacian.count.clamp_min(1.0)  # start: the observed neighbours' sum over the neighbour count
    r = b - laplacian(u)
    p = r.clone()
    rr = (r * r).sum((1, 2))
    floor = ABSOLUTE_TOLERANCE**2 * float(hole.sum())
    limit = (TOLERANCE**2 * (b * b).sum((1, 2))).clamp_min(floor)
    for iteration in range(MAX_ITERATIONS):
        if iteration % CHECK_EVERY == 0 and bool((rr <= limit).all()):
            break
        ap = laplacian(p)
        alpha = (rr / (p * ap).sum((1, 2)).clamp_min(torch.finfo(p.dtype).tiny))[:, None, None]
        u.addcmul_(alpha, p)
        r.addcmul_(alpha, ap, value=-1.0)
        new = (r * r).sum((1, 2))
        beta = (new / rr.clamp_min(torch.finfo(p.dtype).tiny))[:, None, None]
        p = torch.addcmul(r, beta, p)
        rr = new
    else:
        logger.warning(
            "Poisson blending stopped after %d iterations short of its tolerance (holes of %d pixels)",
            MAX_ITERATIONS,
            int(hole.sum()),
        )
    return u
