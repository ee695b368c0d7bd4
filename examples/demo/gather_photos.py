"""Gather the photos that train, validate and test the bundled ``demo`` model; no network needed.

The sets, kept apart on purpose:

- ``photos``: photographs shipped by Debian packages (``PACKAGE_PHOTOS``: install them with
  ``apt-get install`` + the package names), split **by photo** into ``train`` and ``validation``
  deterministically (a hash of each photo's package and path; the ``opencv-doc`` photos always
  go to ``train``: the current demo learned from them, so they cannot validate it), copied
  unchanged with a ``photos.json`` manifest (package, source path, size, split). Near-duplicates
  (same 16x16 thumbnail within a tolerance) stay together in one split, and a photo that looks
  like a test photo (held-out, or a wallpaper below when mate-backgrounds is installed) is left
  out. Desktop wallpaper and background packages never train or validate.
- ``crops``: training crops of a folder of photos (``photos``' ``train`` split) at ``--size``
  (256 by default): random scales (a crop side between ``--min-scale`` and 1 times the photo's
  short side), positions and horizontal flips, ``--crops`` per photo, written as PNG.
- ``heldout``: the sample photographs shipped inside scikit-image, scikit-learn and matplotlib
  (``pip install scikit-image scikit-learn matplotlib``), copied unchanged. They are the demo's
  test set and never reach training or validation.
- ``wallpapers``: the 12 nature photographs of Debian's ``mate-backgrounds`` package, scaled down
  to fit 1920x1080 (Lanczos) and written as PNG: the full-size test photos of thin scratches and
  text strokes. Like ``heldout`` they only ever test (wallpaper packages never train or validate).
- ``train`` (the recipe of the shipped weights up to now): crops of the ``opencv-doc`` photos only.

Usage::

    apt-get install opencv-doc palapeli-data tuxpaint-data scribus-template qtbase5-examples
    apt-get install libirrlicht-doc gimp-data libvips-doc digikam-data kphotoalbum visp-images-data
    python examples/demo/gather_photos.py photos /work/demo-data          # train/ validation/ photos.json
    python examples/demo/gather_photos.py crops /work/demo-data/train /work/demo-data/crops-256 --size 256
    python examples/demo/gather_photos.py heldout /work/demo-data/heldout
    apt-get install mate-backgrounds
    python examples/demo/gather_photos.py wallpapers /work/demo-data/test-full
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import shutil
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

#: Photographs of other Debian packages: package -> absolute paths. Chosen by eye from every image
#: of at least 256 px in ~30 candidate packages (apt-cache search for photo, texture, examples,
#: data, doc packages of image libraries and games); left out: drawings, logos, icons, renders
#: (game skyboxes and cube maps, POV-Ray scenes), screenshots, text, processed variants
#: (ImageMagick's and GEGL's filtered copies of one photo), letterboxed photos, Krita's and
#: digiKam's pattern tiles and everything under 256 px on its short side.
PACKAGE_PHOTOS: dict[str, tuple[str, ...]] = {
    "palapeli-data": tuple(
        f"/usr/share/palapeli/collection/{n}.jpg"
        for n in (
            "castle-maintenon",
            "cincinnati-bridge",
            "citrus-fruits",
            "european-honey-bee",
            "panther-chameleon-female",
        )
    ),
    "tuxpaint-data": tuple(
        f"/usr/share/tuxpaint/templates/{n}.jpg"
        for n in (
            "burnt_bark",
            "cliff",
            "corn_maze",
            "jellyfish",
            "lighthouse",
            "mossy_log",
            "mudstone",
            "ocean_splash",
            "ocean_waves",
            "redwoods_above",
            "rocks",
            "sheep",
            "spiders_web",
            "sun_behind_clouds",
            "sun_behind_leaves",
            "trees_above",
            "trees_at_dusk",
            "wool_mill_machine",
        )
    ),
    "scribus-template": tuple(
        f"/usr/share/scribus/templates/{n}"
        for n in (
            "br2/nature.jpg",
            "br2/sunset.jpg",
            "br2/moon.jpg",
            "br2/halfmoon.jpg",
            "br2/brightness.jpg",
            "cal2/moon.jpg",
            "menu2/pizza.jpg",
            "nl1-bw/kites-bw.png",
        )
    ),
    "qtbase5-examples": tuple(
        f"/usr/lib/x86_64-linux-gnu/qt5/examples/widgets/{n}"
        for n in (
            "graphicsview/weatheranchorlayout/images/place.jpg",
            "painting/affine/bg1.jpg",
            "painting/composition/flower.jpg",
        )
    ),
    "libirrlicht-doc": tuple(
        f"/usr/share/doc/libirrlicht-dev/media/{n}.jpg" for n in ("rockwall", "wall", "detailmap3")
    ),
    "gimp-data": ("/usr/share/gimp/2.0/scripts/images/beavis.jpg", "/usr/share/gimp/2.0/scripts/images/texture.jpg"),
    "libvips-doc": ("/usr/share/gtk-doc/html/libvips/owl.jpg",),
    "digikam-data": ("/usr/share/digikam/about/images/body-background.jpg",),
    "kphotoalbum": tuple(
        f"/usr/share/kphotoalbum/demo/{n}.jpg"
        for n in (
            "anne_helene",
            "bar55",
            "bar55_2",
            "blackie",
            "cold_water",
            "donna",
            "donna_2",
            "grand_canyon_1",
            "grand_canyon_2",
            "grand_canyon_3",
            "jesper",
            "jesper_2",
            "new_wave_1",
            "new_wave_2",
            "pool",
            "pool_2",
            "skagen",
            "skagen_2",
            "snow",
            "spiff",
            "spiff_2",
            "sunset",
            "wayne",
        )
    ),
    "visp-images-data": (
        "/usr/share/visp-images-data/ViSP-images/Solvay/Solvay_conference_1927_Version2_2126x1463.jpg",
    ),
}
#: Share of the photos (outside opencv-doc) that validate; the rest train.
VALIDATION_SHARE = 0.35

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

#: The full-size test photos: every file of mate-backgrounds' ``nature`` folder (all photographs).
WALLPAPERS = Path("/usr/share/backgrounds/mate/nature")
WALLPAPER_PHOTOS = (
    "Aqua.jpg",
    "Blinds.jpg",
    "Dune.jpg",
    "FreshFlower.jpg",
    "Garden.jpg",
    "GreenMeadow.jpg",
    "LadyBird.jpg",
    "RainDrops.jpg",
    "Storm.jpg",
    "TwoWings.jpg",
    "Wood.jpg",
    "YellowFlower.jpg",
)
#: The largest full-size test photo (width, height): what users commonly meet.
FULL_SIZE = (1920, 1080)

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


def test_paths() -> list[Path]:
    """Every test photo a training or validation photo must not look like: the held-out photos,
    and the full-size wallpapers when their package is installed."""
    walls = [WALLPAPERS / name for name in WALLPAPER_PHOTOS]
    return heldout_paths() + [p for p in walls if p.is_file()]


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
    check_disjoint(photos, test_paths())
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


def save_full_size(paths: list[Path], output: Path, prefix: str) -> dict:
    """Each photo scaled down (never up) to fit :data:`FULL_SIZE`, as ``OUTPUT/PREFIX_STEM.png``."""
    output.mkdir(parents=True, exist_ok=True)
    sizes = []
    for path in paths:
        im = open_rgb(path)
        scale = min(1.0, FULL_SIZE[0] / im.width, FULL_SIZE[1] / im.height)
        if scale < 1.0:
            im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS)
        im.save(output / f"{prefix}_{path.stem}.png")
        sizes.append(f"{im.width}x{im.height}")
    return {"photos": len(paths), "sizes": sizes}


def gather_wallpapers(output: Path, folder: Path = WALLPAPERS) -> dict:
    """The :data:`WALLPAPER_PHOTOS`, scaled down (never up) to fit :data:`FULL_SIZE`, as PNG."""
    paths = [folder / name for name in WALLPAPER_PHOTOS]
    if not all(p.is_file() for p in paths):
        raise SystemExit(f"wallpapers not found in {folder}: apt-get install mate-backgrounds")
    return save_full_size(paths, output, "mate-backgrounds")


def photo_name(package: str, path: str) -> str:
    """A unique file name: the package, then the path's last two parts (``scribus-template_br2_moon.jpg``)."""
    return package + "_" + "_".join(Path(path).parts[-2:])


def gathered_photos() -> list[tuple[str, Path]]:
    """``(package, path)`` of every photo: the opencv-doc ones, then ``PACKAGE_PHOTOS``."""
    items = [("opencv-doc", OPENCV_EXAMPLES / p) for p in OPENCV_PHOTOS]
    items += [(pkg, Path(p)) for pkg, paths in PACKAGE_PHOTOS.items() for p in paths]
    missing = sorted({pkg for pkg, p in items if not p.is_file()})
    if missing:
        raise SystemExit(f"photos not found; install their packages: apt-get install {' '.join(missing)}")
    return items


def _hash_share(key: str) -> float:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


def split_photos(items: list[tuple[str, Path]], heldout: list[Path], tolerance: float = 6.0) -> dict[Path, str]:
    """``path -> "train" | "validation" | "dropped (looks like <held-out photo>)"``.

    Near-duplicates (thumbnails within ``tolerance`` mean grey levels) form one group and share a
    split: that of the group's first member (opencv-doc: train; otherwise validation when the hash
    of its package and path falls under ``VALIDATION_SHARE``).
    """
    held = [(h, thumbnail(open_rgb(h))) for h in heldout]
    thumbs = {p: thumbnail(open_rgb(p)) for _, p in items}
    split: dict[Path, str] = {}
    first_of: list[tuple[Path, np.ndarray]] = []  # group leaders
    for pkg, path in items:
        thumb = thumbs[path]
        clash = next((h for h, t in held if float(np.abs(thumb - t).mean()) < tolerance), None)
        if clash is not None:
            split[path] = f"dropped (looks like the held-out {clash.name})"
            continue
        leader = next((p for p, t in first_of if float(np.abs(thumb - t).mean()) < tolerance), None)
        if leader is not None:
            split[path] = split[leader]
            continue
        first_of.append((path, thumb))
        share = _hash_share(f"{pkg}/{path}")
        split[path] = "train" if pkg == "opencv-doc" or share >= VALIDATION_SHARE else "validation"
    return split


def gather_photos(output: Path) -> dict:
    items = gathered_photos()
    split = split_photos(items, test_paths())
    manifest = []
    for pkg, path in items:
        entry = {"package": pkg, "source": str(path), "split": split[path]}
        if split[path] in ("train", "validation"):
            folder = output / split[path]
            folder.mkdir(parents=True, exist_ok=True)
            name = photo_name(pkg, str(path))
            shutil.copyfile(path, folder / name)
            with Image.open(path) as im:
                entry.update({"file": f"{split[path]}/{name}", "width": im.width, "height": im.height})
        manifest.append(entry)
    (output / "photos.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    counts = {s: sum(1 for e in manifest if e["split"] == s) for s in ("train", "validation")}
    return {**counts, "dropped": len(manifest) - sum(counts.values()), "packages": sorted({p for p, _ in items})}


def gather_crops(source: Path, output: Path, size: int, crops: int, min_scale: float, seed: int) -> dict:
    """``crops`` augmented crops at ``size`` of every photo in ``source`` (sorted), for training."""
    photos = sorted(p for p in source.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not photos:
        raise SystemExit(f"no photos in {source}")
    output.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for path in photos:
        for k, crop in enumerate(augment(open_rgb(path), size, crops, min_scale, rng)):
            crop.save(output / f"{path.stem}_{k:03d}.png")
    return {"photos": len(photos), "images": len(photos) * crops, "size": size, "seed": seed, "min_scale": min_scale}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="set", required=True)
    train = sub.add_parser("train", help="augmented crops of the opencv-doc photos")
    train.add_argument("output", type=Path)
    train.add_argument("--size", type=int, default=128, help="side of the crops (the model's resolution)")
    train.add_argument("--crops", type=int, default=100, help="crops per photo")
    train.add_argument("--min-scale", type=float, default=0.3, help="smallest crop side, as a share of the short side")
    train.add_argument("--seed", type=int, default=0)
    photos = sub.add_parser("photos", help="photographs of Debian packages, split into train/ and validation/")
    photos.add_argument("output", type=Path)
    crops = sub.add_parser("crops", help="multi-scale training crops of a folder of photos")
    crops.add_argument("source", type=Path)
    crops.add_argument("output", type=Path)
    crops.add_argument("--size", type=int, default=256, help="side of the crops (default 256)")
    crops.add_argument("--crops", type=int, default=50, help="crops per photo")
    crops.add_argument("--min-scale", type=float, default=0.3, help="smallest crop side, as a share of the short side")
    crops.add_argument("--seed", type=int, default=0)
    held = sub.add_parser("heldout", help="the scikit-image / scikit-learn / matplotlib sample photos, unchanged")
    held.add_argument("output", type=Path)
    walls = sub.add_parser(
        "wallpapers", help="full-size test photos: mate-backgrounds' nature photos, fit in 1920x1080"
    )
    walls.add_argument("output", type=Path)
    walls.add_argument("--source", type=Path, default=WALLPAPERS, help=f"where they are (default {WALLPAPERS})")
    args = parser.parse_args(argv)
    if args.set == "train":
        summary = gather_train(args.output, args.size, args.crops, args.min_scale, args.seed)
    elif args.set == "photos":
        summary = gather_photos(args.output)
    elif args.set == "crops":
        summary = gather_crops(args.source, args.output, args.size, args.crops, args.min_scale, args.seed)
    elif args.set == "wallpapers":
        summary = gather_wallpapers(args.output, args.source)
    else:
        summary = gather_heldout(args.output)
    print(json.dumps({"set": args.set, "output": str(args.output), **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
