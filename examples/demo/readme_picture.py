"""Make the README's before/after picture with the bundled ``demo`` model.

The photo is held out from the demo's training (scikit-image's sample ``PHOTO``); the mask is a
seeded irregular one. The script writes ``photo.png`` and ``mask.png`` to ``docs/images/demo/``,
then runs the README's main command on them, exactly as a user would type it::

    dpinpaint inpaint docs/images/demo/photo.png --mask docs/images/demo/mask.png --output inpainted --overwrite

(which writes ``inpainted/photo.png``), keeps that file as ``after.png`` and composes ``before-after.png`` (the photo with its holes in white | the command's output).

    python examples/demo/readme_picture.py            # needs scikit-image (the dev extra)
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
PHOTO = "coffee"  # skimage.data.coffee(): 400x600, CC0, not among the training photos
CROP = (slice(80, 336), slice(120, 504))  # (256, 384) around the cup
HOLE_RATIO = (0.08, 0.12)
MASK_SEED = 7
GAP = 8


def make_inputs(folder: Path) -> tuple[Path, Path]:
    try:
        from skimage import data
    except ImportError:
        sys.exit("readme_picture.py takes its photo from scikit-image's samples: pip install scikit-image")

    from dpinpaint.mask_generation import generate_mask

    photo = np.ascontiguousarray(getattr(data, PHOTO)()[CROP])
    h, w = photo.shape[:2]
    hole = generate_mask(h, w, kind="irregular", ratio=HOLE_RATIO, rng=np.random.default_rng(MASK_SEED))
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(photo).save(folder / "photo.png")
    Image.fromarray(hole.astype(np.uint8) * 255).save(folder / "mask.png")
    return folder / "photo.png", folder / "mask.png"


def compose(photo: Path, mask: Path, after: Path, output: Path) -> None:
    """The photo with its holes painted white, a gap, then the inpainted photo."""
    before = np.asarray(Image.open(photo).convert("RGB")).copy()
    hole = np.asarray(Image.open(mask).convert("L")) > 127
    before[hole] = 255
    result = np.asarray(Image.open(after).convert("RGB"))
    h, w = before.shape[:2]
    canvas = np.full((h, 2 * w + GAP, 3), 255, np.uint8)
    canvas[:, :w], canvas[:, w + GAP :] = before, result
    Image.fromarray(canvas).save(output)


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.split("\n\n")[0]).parse_args(argv)
    folder = ROOT / "docs" / "images" / "demo"
    photo, mask = make_inputs(folder)
    # The README's command, run from the repository root like a user would.
    command = ["dpinpaint", "inpaint", "docs/images/demo/photo.png", "--mask", "docs/images/demo/mask.png",
               "--output", "inpainted", "--overwrite"]  # fmt: skip
    exe = Path(sys.executable).with_name("dpinpaint")
    subprocess.run([str(exe) if exe.exists() else command[0], *command[1:]], cwd=ROOT, check=True)
    after = folder / "after.png"
    os.replace(ROOT / "inpainted" / "photo.png", after)
    with contextlib.suppress(OSError):  # a folder the user made before, with other files in it, stays
        (ROOT / "inpainted").rmdir()
    compose(photo, mask, after, folder / "before-after.png")
    print(f"wrote {folder / 'before-after.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
