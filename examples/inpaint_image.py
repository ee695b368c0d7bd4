"""Inpaint one image with the public API and print what happened.

    python examples/inpaint_image.py IMAGE MASK [--model NAME_OR_FOLDER] [--output out.png]
    python examples/inpaint_image.py --synthetic [--output out.png]

MASK: white = fill. ``--model`` takes a model name, a Hub repository or a folder written by
``save_pretrained``; without it, the bundled ``demo`` model is used (it works offline).
``--synthetic`` draws a 427x641 gradient image with two holes instead of reading files.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from dpinpaint import Inpainter


def synthetic_inputs() -> tuple[Image.Image, Image.Image]:
    h, w = 427, 641
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * 255 // w, y * 255 // h, np.full_like(x, 128)], axis=-1).astype(np.uint8)
    mask = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(mask)
    draw.rectangle((200, 100, 260, 150), fill=255)
    draw.ellipse((480, 280, 600, 330), fill=255)
    return Image.fromarray(rgb), mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?")
    parser.add_argument("mask", nargs="?")
    parser.add_argument("--synthetic", action="store_true", help="use a synthetic image and mask")
    parser.add_argument(
        "--model", default="demo", help="model name, org/repo[@rev] or checkpoint folder (default: demo)"
    )
    parser.add_argument("--strategy", default="auto", choices=["auto", "resize", "crop"])
    parser.add_argument("--output", default="inpainted.png")
    args = parser.parse_args()
    if args.synthetic:
        image, mask = synthetic_inputs()
    elif args.image and args.mask:
        image, mask = args.image, args.mask
    else:
        parser.error("give IMAGE and MASK, or --synthetic")

    inp = Inpainter.from_pretrained(args.model)
    result = inp.inpaint(image, mask, strategy=args.strategy, return_details=True)
    result.image.save(args.output)
    print(f"{inp}")
    print(f"strategy: {result.strategy[0]}; {int(result.mask.sum())} pixels filled")
    for _, window in result.windows:
        print(f"window at top={window.top} left={window.left}, {window.width}x{window.height}")
    print(f"wrote {args.output} ({result.image.width}x{result.image.height})")


if __name__ == "__main__":
    main()
