"""Per-call inference options, defined once, in a module that imports nothing heavy (no torch).

:class:`InpaintOptions` is the one object every caller builds: :meth:`Inpainter.inpaint
<dpinpaint.Inpainter.inpaint>` (its keyword arguments are overrides of it), ``inpaint_batch``,
:class:`~dpinpaint.batch.BatchRunner`, :func:`~dpinpaint.evaluate.evaluate` and the command line
(whose option defaults are read from :data:`DEFAULT_OPTIONS`). The command line also builds its
argument choices from the name tuples here before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, field
from typing import Any, Literal, TypedDict

from .errors import InvalidInputError

__all__ = [
    "InpaintOptions",
    "InpaintKwargs",
    "InversionConfig",
    "DEFAULT_OPTIONS",
    "STRATEGIES",
    "METHODS",
    "LOSSES",
    "MASK_KINDS",
    "DAMAGE_KINDS",
    "EVAL_MASK_KINDS",
    "BASELINES",
    "BLENDS",
    "FLAT_CONTRAST",
]

#: How an image of any size meets the network (:mod:`dpinpaint.strategies`).
STRATEGIES = ("auto", "resize", "crop", "native")
Strategy = Literal["auto", "resize", "crop", "native"]

#: How a window's fill meets the observed pixels: Poisson blending, or the paper's plain composite (Eq. 5).
BLENDS: tuple[str, ...] = ("poisson", "none")
Blend = Literal["poisson", "none"]
#: The default ``flat_contrast`` (:class:`InpaintOptions`). Chosen on the demo's validation photos
#: (23, and 33 wildlife photos at 1920x1080; thin scratches at their own size against Telea, mean
#: hole-PSNR margin): 0 / 0.005 / 0.01 / 0.02 / 0.04 / 0.08 gave +0.90 / +1.05 / +1.09 / +1.11 /
#: +1.10 / +1.05 dB on the wildlife photos, and 0 / 0.02 / 0.04 gave +2.32 / +2.65 / +2.62 dB on the
#: 23; text strokes and irregular holes level (docs/api.md, "Flat surroundings").
FLAT_CONTRAST = 0.02

#: GAN inversion methods (:mod:`dpinpaint.inversion`, the paper's Table 3) and their losses.
METHODS: tuple[str, ...] = ("learned", "optimize", "hybrid")
LOSSES: tuple[str, ...] = ("l1", "l2")
Method = Literal["learned", "optimize", "hybrid"]

#: Kinds of generated holes (:func:`dpinpaint.mask_generation.generate_mask`).
MASK_KINDS: tuple[str, ...] = ("irregular", "regular")
#: Damage an evaluation can draw besides them (:mod:`dpinpaint.eval_masks`).
DAMAGE_KINDS = ("scratch", "text")
EVAL_MASK_KINDS = (*MASK_KINDS, *DAMAGE_KINDS)

#: Classical baselines of ``dpinpaint evaluate``: name -> what it runs (:mod:`dpinpaint.baselines`).
BASELINES: dict[str, str] = {
    "opencv-telea": "cv2.inpaint, INPAINT_TELEA, radius 3",
    "opencv-ns": "cv2.inpaint, INPAINT_NS, radius 3",
    "skimage-biharmonic": "skimage.restoration.inpaint_biharmonic, channel_axis=-1",
}


@dataclass(frozen=True)
class InversionConfig:
    """How to invert (:mod:`dpinpaint.inversion`).

    Attributes:
        method: ``"learned"``, ``"optimize"`` or ``"hybrid"``.
        steps: Adam steps for ``optimize`` / ``hybrid`` (the paper uses 1,000).
        lr: Adam learning rate on the W+ latent.
        loss: ``"l1"`` (default) or ``"l2"``: mean absolute / squared error of ``I_s`` against the
            input over the known pixels, per image, in the [-1, 1] range.
    """

    method: Method = "learned"
    steps: int = 1000
    lr: float = 0.01
    loss: Literal["l1", "l2"] = "l1"

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise InvalidInputError(f"inversion must be one of {', '.join(map(repr, METHODS))}, got {self.method!r}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 0:
            raise InvalidInputError(f"inversion steps must be an integer >= 0, got {self.steps!r}")
        if isinstance(self.lr, bool) or not isinstance(self.lr, int | float) or not 0 < self.lr < float("inf"):
            raise InvalidInputError(f"inversion lr must be a positive number, got {self.lr!r}")
        if self.loss not in LOSSES:
            raise InvalidInputError(f"inversion loss must be one of {', '.join(map(repr, LOSSES))}, got {self.loss!r}")

    @property
    def optimizes(self) -> bool:
        return self.method != "learned" and self.steps > 0


class InpaintKwargs(TypedDict, total=False):
    """The keyword arguments of :meth:`Inpainter.inpaint <dpinpaint.Inpainter.inpaint>` that override
    fields of :class:`InpaintOptions` (``inversion``, ``steps``, ``inversion_lr`` and
    ``inversion_loss`` set the fields of its :class:`InversionConfig`)."""

    strategy: Strategy
    mask_threshold: float
    invert_mask: bool
    mask_from_alpha: bool
    crop_margin: float
    native_max_side: int | None
    thin_side: float | None
    blend: Blend
    flat_contrast: float
    seed: int | None
    inversion: str
    steps: int
    inversion_lr: float
    inversion_loss: str


#: ``inpaint``'s flat keyword names -> the :class:`InversionConfig` field each one sets.
_INVERSION_KEYWORDS = {"inversion": "method", "steps": "steps", "inversion_lr": "lr", "inversion_loss": "loss"}


@dataclass(frozen=True)
class InpaintOptions:
    """Every per-call setting of inpainting, with its default (the only place defaults live).

    Attributes:
        strategy: ``"auto"``, ``"resize"``, ``"crop"`` or ``"native"`` (feed-forward-only models),
            see :mod:`dpinpaint.strategies`.
        mask_threshold: a mask pixel is a hole when its value, scaled to [0, 1], is greater.
        invert_mask: fill the black / zero / False pixels instead.
        mask_from_alpha: take the mask from its alpha channel (opaque = fill).
        crop_margin: context around the holes for ``"crop"``, as a fraction of their size.
        native_max_side: for windows run at their own resolution (feed-forward-only models), the
            longest side a window with thick holes runs at; larger ones are scaled down to it first
            (thin holes such as scratches run at up to the image's own resolution, in tiles: see
            :mod:`dpinpaint.strategies`), and their fill is Poisson-blended again at the image's
            resolution. None: ``NATIVE_SCALE * R`` (128 for ``demo``, best on its validation
            photos), at most 2048.
        thin_side: for those windows, how thin holes get more resolution: holes about this many
            pixels thick or thinner (a scratch, a wire) are filled at the image's own resolution,
            thicker ones at a scale of ``thin_side / thickness`` (never below ``native_max_side``'s).
            None: :data:`~dpinpaint.strategies.THIN_SIDE` (chosen on the demo's validation photos).
        blend: ``"poisson"`` (default): each window's fill is Poisson-blended into the observed
            pixels around its holes (:func:`dpinpaint.ops.poisson_blend`: the fill's offset from them
            at the holes' edge is spread smoothly over the holes, so a fill a little too dark or too
            light does not leave a seam along a scratch), and, for a window the network saw at
            another resolution, again at the image's when pasted; ``"none"``: the paper's
            composite (Eq. 5), the fill's own pixels.
        flat_contrast: with ``blend="poisson"``, where the observed pixels around a hole have less
            fine detail than this (the root mean square of their departures from their 3x3
            neighbourhoods' means, on a 0-1 scale, within :data:`~dpinpaint.blending.FLAT_RADIUS`
            pixels: :func:`dpinpaint.ops.local_contrast`), the fill's own detail fades out in
            proportion and the hole is filled smoothly (harmonic interpolation,
            :func:`dpinpaint.ops.flat_detail`): a scratch across a soft, out-of-focus background
            holds nothing the network can add but noise. 0 keeps all of the fill's detail.
            Default :data:`FLAT_CONTRAST`.
        seed: None for the deterministic result; an integer re-draws the StyleGAN2 path's noise
            from that seed (a variation of the fill); each window then runs alone.
        inversion: how the StyleGAN2 path finds its latent (:class:`InversionConfig`).

    Raises:
        InvalidInputError: a value out of range, saying which.
    """

    strategy: Strategy = "auto"
    mask_threshold: float = 0.5
    invert_mask: bool = False
    mask_from_alpha: bool = False
    crop_margin: float = 0.5
    native_max_side: int | None = None
    thin_side: float | None = None
    blend: Blend = "poisson"
    seed: int | None = None
    inversion: InversionConfig = field(default_factory=InversionConfig)
    flat_contrast: float = FLAT_CONTRAST  # last: a positional ``seed`` keeps its place

    def __post_init__(self) -> None:
        if not isinstance(self.strategy, str) or self.strategy not in STRATEGIES:
            raise InvalidInputError(
                f"strategy must be one of {', '.join(map(repr, STRATEGIES))}, got {self.strategy!r}"
            )
        threshold = self.mask_threshold
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not 0.0 <= threshold < 1.0:
            raise InvalidInputError(f"mask_threshold must be a number in [0, 1), got {threshold!r}")
        for name in ("invert_mask", "mask_from_alpha"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(f"{name} must be True or False, got {getattr(self, name)!r}")
        margin = self.crop_margin
        if (
            isinstance(margin, bool)
            or not isinstance(margin, int | float)
            or not (margin >= 0 and math.isfinite(margin))
        ):
            raise InvalidInputError(f"crop margin must be a finite number >= 0, got {margin!r}")
        side = self.native_max_side
        if side is not None and (isinstance(side, bool) or not isinstance(side, int) or side < 1):
            raise InvalidInputError(f"native_max_side must be a positive number of pixels or None, got {side!r}")
        thin = self.thin_side
        if thin is not None and (
            isinstance(thin, bool) or not isinstance(thin, numbers.Real) or not 0 < thin < math.inf
        ):
            raise InvalidInputError(f"thin_side must be a positive number of pixels or None, got {thin!r}")
        if thin is not None:  # a plain float (a numpy scalar would not go into JSON reports)
            object.__setattr__(self, "thin_side", float(thin))
        if not isinstance(self.blend, str) or self.blend not in BLENDS:
            raise InvalidInputError(f"blend must be one of {', '.join(map(repr, BLENDS))}, got {self.blend!r}")
        flat = self.flat_contrast
        if isinstance(flat, bool) or not isinstance(flat, numbers.Real) or not 0 <= flat < math.inf:
            raise InvalidInputError(f"flat_contrast must be a number >= 0 (0: off), got {flat!r}")
        object.__setattr__(self, "flat_contrast", float(flat))
        seed = self.seed
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not -(2**63) <= seed < 2**64):
            raise InvalidInputError(f"seed must be None or an integer in -2**63..2**64-1 (torch's range), got {seed!r}")
        if not isinstance(self.inversion, InversionConfig):
            raise InvalidInputError(
                f"inversion must be an InversionConfig (or pass inversion='learned'/'optimize'/'hybrid' to "
                f"inpaint), got {type(self.inversion).__name__}"
            )

    def replace(self, **changes: Any) -> InpaintOptions:
        """A copy with ``changes``: fields of this class, or ``inpaint``'s flat keywords
        (``inversion="optimize"``, ``steps``, ``inversion_lr``, ``inversion_loss``).

        Raises:
            InvalidInputError: an unknown name or a bad value.
        """
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names - set(_INVERSION_KEYWORDS))
        if unknown:
            known = sorted(names | set(_INVERSION_KEYWORDS))
            raise InvalidInputError(f"unknown inpainting option(s) {unknown}; known: {', '.join(known)}")
        inversion_changes = {
            _INVERSION_KEYWORDS[k]: changes.pop(k)
            for k in list(changes)
            if k in _INVERSION_KEYWORDS and not (k == "inversion" and isinstance(changes[k], InversionConfig))
        }
        options = dataclasses.replace(self, **changes)
        if inversion_changes:
            inversion = dataclasses.replace(options.inversion, **inversion_changes)
            options = dataclasses.replace(options, inversion=inversion)
        return options

    @classmethod
    def build(cls, options: InpaintOptions | None = None, **changes: Any) -> InpaintOptions:
        """``options`` (default: :data:`DEFAULT_OPTIONS`) with keyword ``changes`` applied (see :meth:`replace`)."""
        if options is not None and not isinstance(options, InpaintOptions):
            raise InvalidInputError(f"options must be an InpaintOptions, got {type(options).__name__}")
        base = DEFAULT_OPTIONS if options is None else options
        return base.replace(**changes) if changes else base

    def to_dict(self) -> dict[str, Any]:
        """The options as JSON data (the inversion as a nested object)."""
        return dataclasses.asdict(self)


#: The defaults of every inference option (what ``InpaintOptions()`` holds).
DEFAULT_OPTIONS = InpaintOptions()
