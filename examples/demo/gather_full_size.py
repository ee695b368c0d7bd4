"""Gather the demo's second pair of full-size photo sets (thin damage at the photos' own size); no network needed.

``gather_photos.py`` gathers the first sets (training, validation, the held-out sample photos and the
mate-backgrounds test photos). That test showed thin scratches losing to OpenCV's Telea on very
smooth, out-of-focus photos, a case the validation photos hardly held. These two sets cover it:

- ``wildlife``: the 33 wildlife photographs (1920x1080, most with soft, out-of-focus backgrounds)
  of the *erase* activity of Debian's educational suite ``gcompris-qt-data``, taken out of its
  Qt resource file (WebP images inside ``erase.rcc``) and written as PNG: **validation** of thin
  damage at full size. gcompris-qt-data is neither a wallpaper package nor a library's sample data.
- ``lomiri``: the photographs of the wallpaper packages ``lomiri-wallpapers-16.04`` and
  ``lomiri-wallpapers-20.04`` (:data:`LOMIRI_PHOTOS`: renders and abstract patterns left out),
  scaled down to fit 1920x1080 (Lanczos) and written as PNG: the **second full-size test set**,
  chosen before anything was scored on it; like every wallpaper package it never trains or
  validates.

Usage::

    apt-get install gcompris-qt-data lomiri-wallpapers-16.04 lomiri-wallpapers-20.04
    python examples/demo/gather_full_size.py wildlife demo-data/validation-wildlife
    python examples/demo/gather_full_size.py lomiri demo-data/test-lomiri
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gather_photos import save_full_size

GCOMPRIS_ERASE = Path("/usr/share/gcompris-qt/rcc/erase.rcc")
#: Images of the resource file smaller than this (on their short side) are icons, not photographs.
MIN_PHOTO_SIDE = 512

LOMIRI = Path("/usr/share/backgrounds")
#: The photographs of lomiri-wallpapers-16.04 and -20.04. Left out: the renders and abstract
#: images Fossa_by_Jasper_Roks, Infinite-Sea_by_Aury88, Painting-Colors_by__herobrine7gamer and
#: umang_by_Abhishek_Mudgal, and the texture analogpattern_by_Peter_Nerlich.
LOMIRI_PHOTOS = (
    "Bridge_by_Sander_Klootwijk.jpg",
    "Dragonfly_by_Bolly.jpg",
    "Kleiber_by_Lukas_Baubkus.jpg",
    "Picture_0B_by_freespace.jpg",
    "Picture_1A_by_freespace.jpg",
    "Wine_by_Jakkub_Mede.jpg",
    "aitzgorri_by_Aitzol_Berasategi.jpg",
    "free_by_Peter_Nerlich.jpg",
    "friends_by_Aitzol_Berasategi.jpg",
    "greentock_by_Peter_Nerlich.jpg",
    "life_by_Aitzol_Berasategi.jpg",
    "picosdeeuropa_by_Aitzol_Berasategi.jpg",
    "seeding_by_Clements_Engelhardt.jpg",
    "sunset_by_Aitzol_Berasategi.jpg",
)


def webp_images(data: bytes) -> list[Image.Image]:
    """Every WebP image stored in ``data`` (a Qt resource file keeps them as plain RIFF chunks), in order."""
    images = []
    start = data.find(b"RIFF")
    while start >= 0:
        if data[start + 8 : start + 12] == b"WEBP":
            size = struct.unpack("<I", data[start + 4 : start + 8])[0]
            with Image.open(io.BytesIO(data[start : start + 8 + size])) as im:
                images.append(im.convert("RGB"))
            start = data.find(b"RIFF", start + 8 + size)
        else:
            start = data.find(b"RIFF", start + 4)
    return images


def gather_wildlife(output: Path, source: Path = GCOMPRIS_ERASE) -> dict:
    """The photographs of gcompris' erase activity, unchanged (they are 1920x1080 or smaller), as PNG."""
    if not source.is_file():
        raise SystemExit(f"{source} not found: apt-get install gcompris-qt-data")
    photos = [im for im in webp_images(source.read_bytes()) if min(im.size) >= MIN_PHOTO_SIDE]
    if not photos:
        raise SystemExit(f"no photographs found in {source}")
    output.mkdir(parents=True, exist_ok=True)
    for k, im in enumerate(photos):
        im.save(output / f"gcompris-erase_{k:03d}.png")
    return {"photos": len(photos), "sizes": sorted({f"{im.width}x{im.height}" for im in photos})}


def gather_lomiri(output: Path, folder: Path = LOMIRI) -> dict:
    """The :data:`LOMIRI_PHOTOS`, scaled down (never up) to fit 1920x1080, as PNG."""
    paths = [folder / name for name in LOMIRI_PHOTOS]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise SystemExit(
            f"{len(missing)} photos not found in {folder} (e.g. {missing[0]}): "
            "apt-get install lomiri-wallpapers-16.04 lomiri-wallpapers-20.04"
        )
    return save_full_size(paths, output, "lomiri")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="set", required=True)
    wild = sub.add_parser("wildlife", help="validation: gcompris' 33 wildlife photos (1920x1080)")
    wild.add_argument("output", type=Path)
    wild.add_argument(
        "--source", type=Path, default=GCOMPRIS_ERASE, help=f"the resource file (default {GCOMPRIS_ERASE})"
    )
    lomiri = sub.add_parser("lomiri", help="test: the lomiri wallpapers' photographs, fit in 1920x1080")
    lomiri.add_argument("output", type=Path)
    lomiri.add_argument("--source", type=Path, default=LOMIRI, help=f"where they are (default {LOMIRI})")
    args = parser.parse_args(argv)
    if args.set == "wildlife":
        summary = gather_wildlife(args.output, args.source)
    else:
        summary = gather_lomiri(args.output, args.source)
    print(json.dumps({"set": args.set, "output": str(args.output), **summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
