"""Draw the picture of the mask convention used in docs/api.md.

White / nonzero / True marks the pixels to fill; ``invert_mask=True`` flips that. The
third and fourth panels tint the pixels ``Inpainter.inpaint`` may change; every other pixel
is returned bit for bit.

    python examples/mask_conventions.py [--output docs/images/mask_convention.png]
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image, ImageDraw

from dpinpaint.masks import read_mask

SIZE = 160
LABEL = 22


def scene() -> Image.Image:
    """A small synthetic landscape: sky gradient, sun, hills, a house."""
    y = np.linspace(0, 1, SIZE)[:, None, None]
    sky = (np.array([90, 150, 230]) * (1 - y) + np.array([200, 225, 250]) * y).astype(np.uint8)
    im = Image.fromarray(np.broadcast_to(sky, (SIZE, SIZE, 3)).copy())
    d = ImageDraw.Draw(im)
    d.ellipse((110, 14, 140, 44), fill=(250, 210, 60))
    d.polygon([(0, 120), (50, 90), (100, 115), (160, 95), (160, 160), (0, 160)], fill=(70, 140, 70))
    d.rectangle((40, 95, 80, 130), fill=(200, 120, 90))
    d.polygon([(36, 96), (60, 76), (84, 96)], fill=(140, 50, 50))
    return im


def tint(image: Image.Image, hole: np.ndarray) -> Image.Image:
    arr = np.asarray(image).astype(np.float32)
    arr[hole] = arr[hole] * 0.35 + np.array([255, 0, 255]) * 0.65
    return Image.fromarray(arr.round().astype(np.uint8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", default="docs/images/mask_convention.png")
    args = parser.parse_args()

    image = scene()
    mask = Image.new("L", (SIZE, SIZE), 0)
    ImageDraw.Draw(mask).ellipse((100, 6, 150, 56), fill=255)  # paint the sun white: fill it
    hole, _ = read_mask(mask)
    inverted, _ = read_mask(mask, invert=True)
    panels = [
        ("image", image),
        ("mask: white = fill", mask.convert("RGB")),
        ("magenta = filled", tint(image, hole[0].numpy())),
        ("magenta = filled, invert_mask=True", tint(image, inverted[0].numpy())),
    ]
    sheet = Image.new("RGB", (len(panels) * (SIZE + 8) + 8, SIZE + LABEL + 8), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (label, panel) in enumerate(panels):
        x = 8 + i * (SIZE + 8)
        sheet.paste(panel, (x, LABEL))
        draw.text((x, 5), label, fill=(0, 0, 0))
    sheet.save(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
