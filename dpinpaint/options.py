"""Names of per-call inference options, in a module that imports nothing heavy (no torch).

The command line builds its argument choices from here before any model is loaded.
"""

from __future__ import annotations

__all__ = ["STRATEGIES", "MASK_KINDS", "DAMAGE_KINDS", "EVAL_MASK_KINDS", "BASELINES"]

#: How an image of any size meets the network (:mod:`dpinpaint.strategies`).
STRATEGIES = ("auto", "resize", "crop", "native")

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
