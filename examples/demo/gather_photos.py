"""Gather the photos that train and test the bundled ``demo`` model; no network needed.

Two sets, kept apart on purpose:

- ``train``: the natural photographs among the sample images of Debian's ``opencv-doc`` package
  (``apt-get install opencv-doc``; they land in ``/usr/share/doc/opencv-doc/examples``),
  augmented into square crops at the model's resolution: random scales (a crop side between
  ``--min-scale`` and 1 times the photo's short side), random positions and random horizontal
  flips, ``--crops`` per photo, written as PNG.
- ``heldout``: the sample photographs shipped inside scikit-image, scikit-learn and matplotlib
  (``pip install scikit-image scikit-learn matplotlib``), copied unchanged. They are the demo's
  test set and never reach training: ``train`` refuses to run if any training photo looks like a
  held-out one (same 16x16 thumbnail within a small tolerance).

Usage (the exact commands that made the shipped weights are in ``docs/demo.md``)::

    python examples/demo/gather_photos.py train ~/demo-data/train --crops 100 --seed 0
    python examples/demo/gather_photos.py heldout ~/demo-data/heldout
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

OPENCV_EXAMPLES = Path("/usr/share/doc/opencv-doc/examples")

#: Natural photographs of opencv-doc (paths under OPENCV_EXAMPLES). Left out: logos, masks,
#: mattes, trimaps, disparity maps, renders, drawings, silhouettes, text crops, screenshots, the
#: 26 near-identical grey chessboard calibration shots (left01..right14), one of each
#: near-duplicate pair (ela_modified, reg/home.png) and images under 128 px.
OPENCV_PHOTOS = (
    "alphamat/input_images/plant.jpg",
    "data/HappyFish.jpg",
    "data/aero1.jpg",
    "data/aero3.jpg",
    "data/aloeL.jpg",
    "data/aloeR.jpg",
    "data/apple.jpg",
    "data/baboon.jpg",
    "data/basketball1.png",
    "data/basketball2.png",
    "data/board.jpg",
    "data/box_in_scene.png",
    "data/building.jpg",
    "data/butterfly.jpg",
    "data/chicky_512.png",
    "data/ela_original.jpg",
    "data/fruits.jpg",
    "data/graf1.png",
    "data/graf3.png",
    "data/home.jpg",
    "data/left.jpg",
    "data/leuvenA.jpg",
    "data/leuvenB.jpg",
    "data/licenseplate_motion.jpg",
    "data/messi5.jpg",
    "data/orange.jpg",
    "data/pca_test1.jpg",
    "data/right.jpg",
    "data/rubberwhale1.png",
    "data/rubberwhale2.png",
    "data/smarties.png",
    "data/squirrel_cls.jpg",
    "data/starry_night.jpg",
    "data/stuff.jpg",
    "data/sudoku.png",
    "dnn_superres/butterfly.png",
    "fuzzy/input.png",
    "hfs/data/000.jpg",
    "hfs/data/001.jpg",
    "hfs/data/002.jpg",
    "text/scenetext01.jpg",
    "text/scenetext02.jpg",
    "text/scenetext03.jpg",
    "text/scenetext04.jpg",
    "text/scenetext05.jpg",
    "text/scenetext06.jpg",
    "text/scenetext_segmented_word01.jpg",
    "text/scenetext_segmented_word02.jpg",
    "text/scenetext_segmented_word03.jpg",
    "text/scenetext_segmented_word04.jpg",
    "text/scenetext_segmented_word05.jpg",
    "ximgproc/stanford.png",
)

#: Held-out photographs: (package, file under its sample-data folder). Left out: synthetic
#: images (chessboards, colour patches, logos, the phantom, the horse silhouette), a
#: near-duplicate (motorcycle_right), multi-page/animated files and non-image data.
HELDOUT_PHOTOS = (
    ("skimage", "astronaut.png"),
    ("skimage", "brick.png"),
    ("skimage", "camera.png"),
    ("skimage", "cell.png"),
    ("skimage", "chelsea.png"),
    ("skimage", "clock_motion.png"),
    ("skimage", "coffee.png"),
    ("skimage", "coins.png"),
    ("skimage", "grass.png"),
    ("skimage", "gravel.png"),
    ("skimage", "hubble_deep_field.jpg"),
    ("skimage", "ihc.png"),
    ("skimage", "moon.png"),
    ("skimage", "motorcycle_left.png"),
    ("skimage", "page.png"),
    ("skimage", "retina.jpg"),
    ("skimage", "rocket.jpg"),
    ("skimage", "text.png"),
    ("sklearn", "china.jpg"),
    ("sklearn", "flower.jpg"),
    ("matplotlib", "grace_hopper.jpg"),
    ("matplotlib", "Minduka_Present_Blue_Pack.png"),
)

_SAMPLE_FOLDERS = {
    "skimage": ("skimage", "data"),
    "sklearn": ("sklearn", "datasets/images"),
    "matplotlib": ("matplotlib", "mpl-data/sample_data"),
}


def heldout_folder(package: str) -> Path:
    """The sample-data folder of ``package`` (found without importing it)."""
    module, sub = _SAMPLE_FOLDERS[package]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{module} is not installed: pip install scikit-image scikit-learn matplotlib")
    return Path(next(iter(spec.submodule_search_locations))) / sub


def open_rgb(path: Path) -> Image.Image:
    """An RGB image, EXIF orientation applied; alpha composited on white."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im)
        if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
            rgba = im.convert("RGBA")
            canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            return Image.alpha_composite(canvas, rgba).convert("RGB")
        return im.convert("RGB")


def thumbnail(im: Image.Image) -> np.ndarray:
    """A 16x16 grey thumbnail of the centre square, for near-duplicate checks."""
    side = min(im.size)
    left, top = (im.width - side) // 2, (im.height - side) // 2
    small = im.crop((left, top, left + side, top + side)).convert("L").resize((16, 16), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32)


def heldout_paths() -> list[Path]:
    paths = [heldout_folder(pkg) / name for pkg, name in HELDOUT_PHOTOS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(f"held-out photos not found: {missing}")
    return paths


def check_disjoint(train: list[Path], heldout: list[Path], tolerance: float = 6.0) -> None:
    """Exit if a training photo's thumbnail is within ``tolerance`` (mean grey levels) of a held-out one's."""
    held = {p: thumbnail(open_rgb(p)) for p in heldout}
    for t in train:
        thumb = thumbnail(open_rgb(t))
        for h, other in held.items():
            if float(np.abs(thumb - other).mean()) < tolerance:
                raise SystemExit(f"training photo {t} looks like the held-out photo {h}: refusing to mix them")


def augment(im: Image.Image, size: int, crops: int, min_scale: float, rng: np.random.Generator) -> list[Image.Image]:
    """``crops`` random square crops of ``im`` (side in [min_scale, 1] x short side), flipped at random, at ``size``."""
    short = min(im.size)
    out = []
    for _ in range(crops):
        side = max(1, round(short * rng.uniform(min_scale, 1.0)))
        left = int(rng.integers(0, im.width - side + 1))
        top = int(rng.integers(0, im.height - side + 1))
        crop = im.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        if rng.random() < 0.5:
            crop = crop.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        out.append(crop)
    return out


def gather_train(output: Path, size: int, crops: int, min_scale: float, seed: int) -> dict:
    photos = [OPENCV_EXAMPLES / p for p in OPENCV_PHOTOS]
    missing = [str(p) for p in photos if not p.is_file()]
    if missing:
        raise SystemExit(f"opencv-doc photos not found ({len(missing)}, e.g. {missing[0]}): apt-get install opencv-doc")
    check_disjoint(photos, heldout_paths())
    output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for path, rel in zip(photos, OPENCV_PHOTOS, strict=True):
        stem = rel.replace("/", "_").rsplit(".", 1)[0]
        for k, crop in enumerate(augment(open_rgb(path), size, crops, min_scale, rng)):
            crop.save(output / f"{stem}_{k:03d}.png")
    return {"photos": len(photos), "images": len(photos) * crops, "size": size, "seed": seed, "min_scale": min_scale}


def gather_heldout(output: Path) -> dict:
    output.mkdir(parents=True, exist_ok=True)
    for (pkg, name), path in zip(HELDOUT_PHOTOS, heldout_paths(), strict=True):
        (output / f"{pkg}_{name}").write_bytes(path.read_bytes())
    return {"photos": len(HELDOUT_PHOTOS)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="set", required=True)
    train = sub.add_parser("train", help="augmented crops of the opencv-doc photos")
    train.add_argument("output", type=Path)
    train.add_argument("--size", type=int, default=128, help="side of the crops (the model's resolution)")
    train.add_argument("--crops", type=int, default=100, help="crops per photo")
    train.add_argument("--min-scale", type=float, default=0.3, help="smallest crop side, as a share of the short side")
    train.add_argument("--seed", type=int, default=0)
    held = sub.add_parser("heldout", help="the scikit-image / scikit-learn / matplotlib sample photos, unchanged")
    held.add_argument("output", type=Path)
    args = parser.parse_args(argv)
    if args.set == "train":
        summary = gather_train(args.output, args.size, args.crops, args.min_scale, args.seed)
    else:
        summary = gather_heldout(args.output)
    print(json.dumps({"set": args.set, "output": str(args.output), **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
