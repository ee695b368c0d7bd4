"""Inpaint every image of a folder whose mask sits next to it (``photo.png`` + ``photo_mask.png``).

    python examples/batch_inpaint.py FOLDER --output OUT [--model NAME_OR_FOLDER] [--batch-size N]
    python examples/batch_inpaint.py --synthetic --output OUT

Masks: white = fill. Results are written as PNG under OUT with the image's name. Without
``--model`` the bundled ``demo`` model is used (it works offline). ``--synthetic`` first
writes a few synthetic image/mask pairs to OUT/inputs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from dpinpaint import Inpainter

SUFFIX = "_mask"


def write_synthetic(folder: Path, count: int = 5) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        h, w = int(rng.integers(80, 300)), int(rng.integers(80, 300))
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(folder / f"img{i}.png")
        mask = np.zeros((h, w), np.uint8)
        top, left = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        mask[top : top + h // 3, left : left + w // 3] = 255
        Image.fromarray(mask).save(folder / f"img{i}{SUFFIX}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", nargs="?", type=Path)
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument(
        "--model", default="demo", help="model name, org/repo[@rev] or checkpoint folder (default: demo)"
    )
    parser.add_argument("--batch-size", type=int, default=None, help="windows per forward (default: 1 on CPU)")
    parser.add_argument("--synthetic", action="store_true", help="write synthetic pairs to OUT/inputs first")
    args = parser.parse_args()
    folder = args.folder
    if args.synthetic:
        folder = args.output / "inputs"
        write_synthetic(folder)
    if folder is None:
        parser.error("give FOLDER or --synthetic")

    images = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".webp"})
    images = [p for p in images if not p.stem.endswith(SUFFIX)]
    masks = [p.with_name(p.stem + SUFFIX + ".png") for p in images]
    missing = [m.name for m in masks if not m.exists()]
    if missing:
        parser.error(f"no mask for {len(missing)} image(s): {', '.join(missing[:5])}")

    inp = Inpainter.from_pretrained(args.model)
    args.output.mkdir(parents=True, exist_ok=True)
    for path, result in zip(images, inp.inpaint_batch(images, masks, batch_size=args.batch_size), strict=True):
        result.save(args.output / f"{path.stem}.png")
    print(f"inpainted {len(images)} image(s) into {args.output}")


if __name__ == "__main__":
    main()
