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
hole pixel's count of neighbours on the diagonal, -1 for each neighbour in the hole) over the hole
pixels alone, stored as a list (:class:`_Laplacian`), so that the work follows the holes and not
their bounding box: a thin scratch across a 1080p photo is 1% of its box. It runs until the
residual is below :data:`TOLERANCE` of the right-hand side, each step preconditioned by a multigrid
V-cycle (:class:`_Multigrid`). Plain conjugate gradients need iterations in proportion to the
holes' thickness (hundreds for a photo's blobs at full resolution); the V-cycle settles the smooth
part of the answer on coarser grids, where it is cheap, and keeps the count near ten whatever the
size (measured on blocks 70 to 620 pixels across, and on the full-resolution blends of 768 px
validation photos with 10-50% holes).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import torch
import torch.nn.functional as F

__all__ = ["harmonic_fill", "poisson_blend", "local_contrast", "flat_detail"]

#: Conjugate gradients stop when the residual's norm is below this fraction of the right-hand side's.
#: The error that leaves grows with the offset and the holes' size: against a solve to 1e-8, at most
#: 0.02 grey levels on the full-resolution blends of five 768 px validation photos (10-50% holes).
TOLERANCE = 1e-4
#: ... or after this many iterations (the multigrid preconditioner needs about ten).
MAX_ITERATIONS = 1000
#: ... or when the residual's root mean square is below this (values in [-1, 1]: far below a grey
#: level), so that a right-hand side of nearly nothing does not run to :data:`MAX_ITERATIONS`.
ABSOLUTE_TOLERANCE = 1e-7
#: The convergence test (a device sync on accelerators) runs every this many iterations.
CHECK_EVERY = 2
#: The multigrid preconditioner halves the resolution while both sides are at least this long.
COARSE_SIDE = 8
#: Damped Jacobi sweeps before and after each coarse correction of the multigrid preconditioner.
SMOOTHING = 2
#: The damping of those sweeps.
JACOBI_WEIGHT = 0.8
#: Damped Jacobi sweeps on the coarsest grid (its sides under :data:`COARSE_SIDE`: nearly a solve).
COARSEST_SWEEPS = 32

#: :func:`flat_detail` trusts a contrast measured on this share of the square around a pixel, or
#: more, fully; on less, in proportion.
FULL_COVERAGE = 0.5

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
    inside = hole[box[1:]]
    region = out[box]  # a view: writing its hole pixels writes ``out``'s
    region[:, inside] = _solve(values[box], inside, counts).t().to(values.dtype)
    return out


def poisson_blend(
    fill: torch.Tensor, target: torch.Tensor, hole: torch.Tensor, detail: torch.Tensor | None = None
) -> torch.Tensor:
    """``fill`` with its offset from ``target`` at the hole's edge spread harmonically over the hole.

    Args:
        fill: ``(C, H, W)`` the generated image (its values outside ``hole`` are what it predicted
            there, not the target's).
        target: ``(C, H, W)`` the observed image (read outside ``hole`` only).
        hole: ``(H, W)`` bool, True = the pixels to fill.
        detail: ``(H, W)`` in [0, 1], or None (all ones): the share of the fill's own detail (the
            fill minus the harmonic interpolation of its values around the hole) kept at each hole
            pixel; where it is 0 the result is the harmonic interpolation of ``target`` (see
            :func:`flat_detail`).

    Returns:
        ``(C, H, W)``: ``target`` outside ``hole``; ``fill + c`` inside, with ``c`` the harmonic
        function equal to ``target - fill`` on the observed pixels (see the module's docstring);
        with ``detail``, ``fill + c - (1 - detail) * (fill - harmonic_fill(fill, hole))``.
    """
    if fill.shape != target.shape:
        raise ValueError(f"fill and target must have the same shape, got {tuple(fill.shape)} and {tuple(target.shape)}")
    hole = hole.to(device=fill.device, dtype=torch.bool)
    if detail is not None:
        if tuple(detail.shape) != tuple(hole.shape):
            raise ValueError(f"detail must be (H, W) like hole, got {tuple(detail.shape)} and {tuple(hole.shape)}")
        detail = detail.to(device=fill.device)
    if detail is None or bool((detail[hole] >= 1.0).all()):
        offset = harmonic_fill(target - fill, hole)
        return torch.where(hole, fill + offset, target)
    channels = fill.shape[0]
    solved = harmonic_fill(torch.cat([target - fill, fill]), hole)  # one solve for both
    offset, smooth = solved[:channels], solved[channels:]
    blended = fill + offset - (1.0 - detail.to(fill.dtype).clamp(0.0, 1.0)) * (fill - smooth)
    return torch.where(hole, blended, target)


def local_contrast(image: torch.Tensor, hole: torch.Tensor, radius: int) -> tuple[torch.Tensor, torch.Tensor]:
    """How much fine detail the observed pixels around each pixel have: the root mean square of
    their departure from the mean of their 3x3 neighbourhood (zero on any smooth ramp), over the
    observed pixels whose 3x3 neighbourhood is observed, in the square of side ``2 * radius + 1``.

    Args:
        image: ``(C, H, W)`` float; only the observed pixels (``~hole``) are read.
        hole: ``(H, W)`` bool, True = not observed.
        radius: the square's half side in pixels (>= 1).

    Returns:
        ``(coverage, contrast)``, each ``(H, W)`` float32: ``coverage`` in [0, 1], the share of the
        square (its part inside the image) that such pixels make up; ``contrast`` in ``image``'s
        units (the root of the channels' mean square; 0 where the square has no such pixel).
    """
    if radius < 1:
        raise ValueError(f"radius must be at least 1, got {radius}")
    observed = ~hole.to(device=image.device, dtype=torch.bool)
    known = observed.to(torch.float32)[None, None]
    x = torch.where(observed, image.float(), 0.0)[None]  # hole pixels never read, even NaN ones
    # Pixels whose whole 3x3 neighbourhood is observed and inside the image, and their departure from its mean.
    inner = -F.max_pool2d(-F.pad(known, (1, 1, 1, 1), value=0.0), 3, stride=1)
    ramp = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    square = ((x - ramp) ** 2).mean(1, keepdim=True) * inner
    stack = torch.cat([inner, square], dim=1)
    side = 2 * radius + 1  # a box filter in two passes: means over the square's pixels
    stack = F.avg_pool2d(stack, (1, side), stride=1, padding=(0, radius), count_include_pad=False)
    stack = F.avg_pool2d(stack, (side, 1), stride=1, padding=(radius, 0), count_include_pad=False)[0]
    coverage, energy = stack[0], stack[1]
    return coverage, (energy / coverage.clamp_min(1e-12)).sqrt()


def flat_detail(image: torch.Tensor, hole: torch.Tensor, flat: float, radius: int) -> torch.Tensor | None:
    """How much of a fill's own detail to keep over ``hole`` (:func:`poisson_blend`'s ``detail``), or
    None (keep it all) when ``flat`` is 0.

    A thin hole across a flat, out-of-focus area holds nothing a network can add but noise: there
    the harmonic interpolation of the pixels around it is the better fill. The detail kept is
    ``1 - (1 - min(1, contrast / flat)) * min(1, coverage / FULL_COVERAGE)`` (:func:`local_contrast`
    within ``radius``): all of it where the surroundings have fine detail of ``flat`` or more (in
    ``image``'s units), none where they are smooth (flat, or a smooth ramp), and more of it the
    fewer observed pixels the estimate rests on (deep inside a large hole, all of it: no seam
    where the estimate runs out).

    Returns:
        ``(H, W)`` float32 in [0, 1], or None.
    """
    if flat <= 0:
        return None
    coverage, contrast = local_contrast(image, hole, radius)
    flatness = 1.0 - (contrast / flat).clamp(max=1.0)
    return 1.0 - flatness * (coverage / FULL_COVERAGE).clamp(max=1.0)


def _border_counts(shape: torch.Size | tuple[int, int], top: int, left: int, bottom: int, right: int) -> torch.Tensor:
    """Each pixel's number of neighbours inside the whole ``shape``, for the box ``top:bottom, left:right``."""
    height, width = shape
    rows = torch.arange(top, bottom)[:, None]
    cols = torch.arange(left, right)[None, :]
    edges = (rows == 0).int() + (rows == height - 1).int() + (cols == 0).int() + (cols == width - 1).int()
    return (4 - edges).float()


class _RowSums:
    """``out[i] = Σ_j weights[i, j] * x[numbers[i, j]]`` for ``x`` ``(m, C)``: a sparse matrix with
    ``k`` entries a row, as ``embedding_bag`` computes it (one pass, no matrix format)."""

    def __init__(self, numbers: torch.Tensor, weights: torch.Tensor) -> None:
        rows, k = numbers.shape
        self.numbers, self.weights = numbers.reshape(-1), weights.reshape(-1)
        self.offsets = torch.arange(0, rows * k, k, device=numbers.device)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        weights = self.weights.to(x.dtype)
        return F.embedding_bag(self.numbers, x, self.offsets, per_sample_weights=weights, mode="sum")


class _Laplacian:
    """``A x`` on the hole pixels of an ``(h, w)`` grid, which are stored alone: the work follows
    the hole pixels, not their bounding box (a thin scratch across a photo is about 1% of its box).

    The ``n`` hole pixels are numbered in row-major order; a vector over them is ``(n + 1, C)``, its
    last row a zero that stands for every neighbour that is not a hole (observed, or outside the
    grid). Row ``i`` of ``A`` is hole pixel ``i``'s neighbour count on the diagonal and -1 for each
    neighbour in the hole, so ``A x`` is a weighted sum over each pixel's list of five pixel
    numbers (its neighbours' and its own): :class:`_RowSums`.
    """

    def __init__(self, hole: torch.Tensor, count: torch.Tensor) -> None:
        height, width = hole.shape
        self.hole = hole
        #: ``(n,)`` each: the hole pixels' rows and columns, in row-major order.
        self.rows, self.cols = torch.nonzero(hole, as_tuple=True)
        self.size = len(self.rows)
        self._stride = width + 2
        self._at = at = self.flat_index(self.rows, self.cols)
        #: ``((h + 2) * (w + 2),)``: each pixel's number (a ring around the grid: ``n``, the zero row).
        self.numbers = torch.full(((height + 2) * self._stride,), self.size, dtype=torch.long, device=hole.device)
        self.numbers[at] = torch.arange(self.size, device=hole.device)
        offsets = torch.tensor([-self._stride, self._stride, -1, 1, 0], device=hole.device)
        zero_row = torch.full((1, 5), self.size, dtype=torch.long, device=hole.device)
        taps = torch.cat([self.numbers[at[:, None] + offsets], zero_row])  # four neighbours, then itself
        #: ``(n + 1, 1)``: each hole pixel's neighbour count (in the whole image at the finest grid).
        count = count.to(device=hole.device, dtype=torch.float32)
        self.count = torch.cat([count[self.rows, self.cols], count.new_zeros(1)])[:, None]
        self._apply = _RowSums(taps, torch.cat([-(self.count > 0).float().expand(-1, 4), self.count], 1))

    def flat_index(self, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Where the pixels ``(rows, cols)`` of the grid are in :attr:`numbers`."""
        return (rows + 1) * self._stride + cols + 1

    def observed_sum(self, values: torch.Tensor) -> torch.Tensor:
        """``(n + 1, C)`` float32: each hole pixel's sum of its observed neighbours' ``values``
        ``(C, h, w)`` (the right-hand side of the system; the values under the holes are not read)."""
        height, width = self.hole.shape
        padded = values.new_zeros(values.shape[0], height + 2, width + 2, dtype=torch.float32)
        padded[:, 1:-1, 1:-1] = values
        padded[:, 1:-1, 1:-1].masked_fill_(self.hole, 0.0)
        flat, at = padded.view(values.shape[0], -1), self._at
        total = flat[:, at - self._stride] + flat[:, at + self._stride] + flat[:, at - 1] + flat[:, at + 1]
        return torch.cat([total.t(), flat.new_zeros(1, values.shape[0])])

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._apply(x)


def _coarsen(hole: torch.Tensor) -> torch.Tensor:
    """The half-resolution hole map of ``(h, w)`` bool: a pixel is a hole where all its 2x2 are
    (those inside the grid, at an odd side)."""
    return -F.max_pool2d(-hole[None, None].float(), 2, ceil_mode=True)[0, 0] > 0


def _bilinear_taps(index: torch.Tensor, coarse_side: int) -> list[tuple[torch.Tensor, float | torch.Tensor]]:
    """Along one axis, the two coarse pixels that bilinear enlargement by two reads for each fine
    ``index`` (pixel centres, edges clamped, as ``F.interpolate(..., scale_factor=2.0,
    mode="bilinear")``), with their weights: 3/4 of the nearer one, 1/4 of the next."""
    near = index // 2
    far = torch.where(index % 2 == 0, near - 1, near + 1).clamp(0, coarse_side - 1)
    return [(near, 0.75), (far, 0.25)]


def _bilinear_readers(index: torch.Tensor, fine_side: int) -> list[tuple[torch.Tensor, float | torch.Tensor]]:
    """Along one axis, the transpose of :func:`_bilinear_taps`: the four fine pixels that read each
    coarse ``index``, with their weights (0 for those beyond ``fine_side``). The clamped taps of the
    first fine pixel, and of the last at an even side, read the end coarse pixels a second time."""
    readers: list[tuple[torch.Tensor, float | torch.Tensor]] = []
    for shift, weight in ((-1, 0.25), (0, 0.75), (1, 0.75), (2, 0.25)):
        fine = (2 * index + shift).clamp_min(0)
        if fine_side % 2 == 0:
            fine = torch.where(fine == fine_side, fine_side - 1, fine)
        readers.append((fine.clamp_max(fine_side - 1), (fine < fine_side).float() * weight))
    return readers


def _stencil(to: _Laplacian, source: _Laplacian, taps: Callable[..., list]) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[type-arg]
    """For each hole pixel of ``to``, the numbers of the ``source`` pixels that ``taps`` (per axis)
    names and their weights, ``(n_to + 1, k)`` each; the zero row reads ``source``'s, with weight 0."""
    numbers, weights = [], []
    for row, row_weight in taps(to.rows, source.hole.shape[0]):
        for col, col_weight in taps(to.cols, source.hole.shape[1]):
            numbers.append(source.numbers[source.flat_index(row, col)])
            weights.append(torch.ones(to.size, device=row.device) * (row_weight * col_weight))
    zero = torch.full((1, len(numbers)), source.size, dtype=torch.long, device=to.rows.device)
    return torch.cat([torch.stack(numbers, 1), zero]), torch.cat(
        [torch.stack(weights, 1), zero.new_zeros(zero.shape).float()]
    )


class _Transfer:
    """Bilinear enlargement by two from a coarse grid's holes onto a fine grid's (:meth:`up`; pixel
    centres: weights 9/16, 3/16, 3/16 and 1/16 of the four nearest coarse pixels, edges clamped),
    and its transpose (:meth:`down`), as weighted sums over each pixel's list of pixel numbers."""

    def __init__(self, fine: _Laplacian, coarse: _Laplacian) -> None:
        #: ``(n_coarse + 1, C)`` -> ``(n_fine + 1, C)``.
        self.up = _RowSums(*_stencil(fine, coarse, _bilinear_taps))
        #: ``(n_fine + 1, C)`` -> ``(n_coarse + 1, C)``.
        self.down = _RowSums(*_stencil(coarse, fine, _bilinear_readers))


class _Multigrid:
    """One V-cycle of geometric multigrid for :class:`_Laplacian`: an approximate ``A⁻¹ r``, the
    preconditioner of the conjugate gradients.

    Level ``k + 1`` has the holes of level ``k`` at half the resolution (:func:`_coarsen`) and its
    own 5-point operator (missing neighbours left out at the coarse grid's sides). Corrections move
    up by bilinear interpolation onto the hole pixels (:meth:`_Transfer.up`) and residuals down by
    its transpose, for which the coarse 5-point operator is what the fine one does to smooth
    functions. Each level smooths with :data:`SMOOTHING` damped Jacobi sweeps before and after its
    coarse correction, the coarsest with :data:`COARSEST_SWEEPS`. The cycle is linear, symmetric
    and positive definite, as conjugate gradients need.
    """

    def __init__(self, finest: _Laplacian) -> None:
        self.levels = [finest]
        self.transfers: list[_Transfer] = []
        hole = finest.hole
        while min(hole.shape) >= COARSE_SIDE:
            hole = _coarsen(hole)
            if not bool(hole.any()):  # thin holes: the smoothing alone settles them
                break
            self.levels.append(_Laplacian(hole, _border_counts(hole.shape, 0, 0, *hole.shape)))
            self.transfers.append(_Transfer(self.levels[-2], self.levels[-1]))
        self.inverse_diagonal = [JACOBI_WEIGHT * (lv.count > 0) / lv.count.clamp_min(1.0) for lv in self.levels]

    def __call__(self, r: torch.Tensor, level: int = 0) -> torch.Tensor:
        operator, weight = self.levels[level], self.inverse_diagonal[level]
        sweeps = SMOOTHING if level + 1 < len(self.levels) else COARSEST_SWEEPS
        e = weight * r
        for _ in range(sweeps - 1):
            e.addcmul_(weight, r - operator(e))
        if level + 1 < len(self.levels):
            transfer = self.transfers[level]
            e += transfer.up(self(transfer.down(r - operator(e)), level + 1))
            for _ in range(sweeps):
                e.addcmul_(weight, r - operator(e))
        return e


def _solve(values: torch.Tensor, hole: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """``(n, C)`` float32: the values of the ``n`` hole pixels of ``values`` ``(C, h, w)`` (in
    row-major order) that solve Laplace's equation from the observed ones, by conjugate gradients
    over the hole pixels preconditioned by a multigrid V-cycle (``count``: each pixel's number of
    neighbours in the whole image).

    The box has a ring of observed pixels around its holes unless it meets the image's border, so
    the neighbours it cuts off are exactly those outside the image.
    """
    laplacian = _Laplacian(hole, count)
    precondition = _Multigrid(laplacian)
    b = laplacian.observed_sum(values)
    u = b / laplacian.count.clamp_min(1.0)  # start: the observed neighbours' sum over the neighbour count
    r = b - laplacian(u)
    z = precondition(r)
    p = z.clone()
    rz = (r * z).sum(0)
    floor = ABSOLUTE_TOLERANCE**2 * laplacian.size
    limit = (TOLERANCE**2 * (b * b).sum(0)).clamp_min(floor)
    tiny = torch.finfo(p.dtype).tiny
    for iteration in range(MAX_ITERATIONS):
        if iteration % CHECK_EVERY == 0 and bool(((r * r).sum(0) <= limit).all()):
            break
        ap = laplacian(p)
        alpha = rz / (p * ap).sum(0).clamp_min(tiny)
        u.addcmul_(alpha, p)
        r.addcmul_(alpha, ap, value=-1.0)
        z = precondition(r)
        new = (r * z).sum(0)
        p = torch.addcmul(z, new / rz.clamp_min(tiny), p)
        rz = new
    else:
        logger.warning(
            "Poisson blending stopped after %d iterations short of its tolerance (holes of %d pixels)",
            MAX_ITERATIONS,
            laplacian.size,
        )
    return u[:-1]
