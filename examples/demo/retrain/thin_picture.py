"""A picture of thin damage filled on a test photo: the strokes, OpenCV Telea's fill and the model's.

Issue 21 asks for thin scratches and text strokes filled "with no visible ghost of the strokes";
hole PSNR cannot show that, a picture can. For one photo of a folder, taken as the evaluation
takes it (its order, at its own size, the seed-0 masks: the same photo and strokes as
``score_test.py``'s thin runs), one row per kind of damage (a scratch, text strokes), each a crop
where the strokes are densest: the photo with its holes in white, Telea's fill, the model's, and
the photo. Under each fill, its hole PSNR over the whole photo.

    python examples/demo/retrain/thin_picture.py MODEL demo-data/test-full --output thin.png [--index 0]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from dpinpaint import Inpainter
from dpinpaint.baselines import inpaint_baseline
from dpinpaint.eval_masks import damage_mask
from dpinpaint.evaluate import load_images
from dpinpaint.metrics import hole_psnr

KINDS = ("scratch", "text")
#: Each panel's size (rows, columns), cut to the photo's.
PANEL = (270, 400)
#: Crops are tried on this grid of positions.
STEP = 16
GAP = 6
LABEL_HEIGHT = 16


def densest_crop(hole: np.ndarray, size: tuple[int, int] = PANEL, step: int = STEP) -> tuple[slice, slice]:
    """The crop of ``size`` (cut to ``hole``'s shape) holding the most hole pixels, its corner on a
    ``step`` grid (the first such crop, top to bottom, left to right, on a tie)."""
    height, width = hole.shape
    rows, cols = min(size[0], height), min(size[1], width)
    total = np.pad(hole.astype(np.int64).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys = np.arange(0, height - rows + 1, step)[:, None]
    xs = np.arange(0, width - cols + 1, step)[None, :]
    inside = total[ys + rows, xs + cols] - total[ys, xs + cols] - total[ys + rows, xs] + total[ys, xs]
    y, x = np.unravel_index(int(np.argmax(inside)), inside.shape)
    top, left = int(ys[y, 0]), int(xs[0, x])
    return slice(top, top + rows), slice(left, left + cols)


def panels(photo: np.ndarray, hole: np.ndarray, telea: np.ndarray, ours: np.ndarray, name: str) -> list[tuple[np.ndarray, str]]:  # fmt: skip
    """The four panels of one row (the densest crop) with their labels."""
    crop = densest_crop(hole)
    damaged = photo.copy()
    damaged[hole] = 255
    return [
        (damaged[crop], f"{hole.mean():.1%} holes (white)"),
        (telea[crop], f"OpenCV Telea: {hole_psnr(photo, telea, hole):.2f} dB"),
        (ours[crop], f"{name}: {hole_psnr(photo, ours, hole):.2f} dB"),
        (photo[crop], "the photo"),
    ]


def compose(rows: list[list[tuple[np.ndarray, str]]]) -> Image.Image:
    """Rows of labelled panels (all of a row the same size) on a white canvas."""
    width = max(sum(p.shape[1] for p, _ in row) + GAP * (len(row) - 1) for row in rows)
    height = sum(row[0][0].shape[0] + LABEL_HEIGHT for row in rows) + GAP * (len(rows) - 1)
    canvas = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(canvas)
    y = 0
    for row in rows:
        x = 0
        for pixels, label in row:
            canvas.paste(Image.fromarray(pixels), (x, y))
            draw.text((x + 2, y + pixels.shape[0] + 2), label, fill="black")
            x += pixels.shape[1] + GAP
        y += row[0][0].shape[0] + LABEL_HEIGHT + GAP
    return canvas


def thin_picture(model: str, data: Path, output: Path, index: int = 0) -> Path:
    """Writes the picture of photo ``index`` of ``data`` (the evaluation's order) to ``output``."""
    names, images = load_images(data, 0, num=index + 1, long_side="native")
    if len(images) <= index:
        raise SystemExit(f"{data} holds {len(images)} readable photos; --index {index} is past them")
    photo = images[index]
    inpainter = Inpainter.from_pretrained(model)
    label = Path(model).name if Path(model).exists() else model
    rows = []
    for kind in KINDS:
        hole = damage_mask(kind, photo.shape[0], photo.shape[1], 0, index) > 0
        telea = inpaint_baseline("opencv-telea", photo, hole)
        ours = np.asarray(inpainter.inpaint(photo, hole))
        rows.append(panels(photo, hole, telea, ours, label))
    output.parent.mkdir(parents=True, exist_ok=True)
    compose(rows).save(output)
    print(f"wrote {output} ({names[index]}, {photo.shape[1]}x{photo.shape[0]})")
    return output


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a checkpoint folder or model name")
    parser.add_argument("data", type=Path, help="a folder of photos (scored at their own size)")
    parser.add_argument("--output", type=Path, required=True, help="the picture (.png)")
    parser.add_argument("--index", type=int, default=0, help="which photo, in the evaluation's order (default 0)")
    args = parser.parse_args(argv)
    thin_picture(args.model, args.data, args.output, args.index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
