"""Which files a batch run reads and writes: images, their masks, shards and output paths.

- :func:`~dpinpaint.files.find_images` lists the image files of the inputs (files and folders);
- :func:`pair_masks` gives each image its mask: one mask file for all, or, in a mask folder,
  ``<stem><suffix>.<ext>`` (``photo.png`` + ``photo_mask.png``) then ``<stem>.<ext>``, at the
  same relative path (the plain stem only in another folder than the image's: next to the
  image, ``photo.jpg`` is another image); images without a mask are kept, with ``mask=None``,
  to be reported;
- :func:`select_shard` keeps a deterministic ``1/N`` of the pairs (by a hash of each image's
  relative path, so it does not depend on the order or the number of files);
- :func:`plan_outputs` does all of it for ``dpinpaint inpaint``: where each result goes (a
  folder, or one file), clashes, shards and outputs that exist already -> :class:`BatchPlan`.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from ..errors import InvalidInputError
from ..files import IMAGE_EXTENSIONS, find_images, is_image_file, remove_stale_temporaries

__all__ = [
    "OUTPUT_FORMATS",
    "OUTPUT_SUFFIXES",
    "Pair",
    "BatchPlan",
    "pair_masks",
    "parse_shard",
    "select_shard",
    "output_path",
    "plan_outputs",
    "check_writable",
]

#: ``--format`` values other than ``same``: (PIL format, extension).
OUTPUT_FORMATS = {"png": ("PNG", ".png"), "jpg": ("JPEG", ".jpg"), "webp": ("WEBP", ".webp")}
OUTPUT_SUFFIXES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".webp": "webp"}  # suffix -> --format


@dataclass(frozen=True)
class Pair:
    """One unit of work: an image, its mask (None: none was found), and where the result goes."""

    image: Path
    relative: str  # the image's path relative to its input root (POSIX), used for outputs and sharding
    mask: Path | None = None
    output: Path | None = None


def pair_masks(images: list[tuple[Path, str]], mask: str | os.PathLike[str], suffix: str = "_mask") -> list[Pair]:
    """Give each image its mask (see the module docstring); ``mask=None`` where none exists.

    Raises:
        InvalidInputError: ``mask`` does not exist.
    """
    mask = Path(mask)
    if mask.is_file():
        pairs = [Pair(image, rel, mask) for image, rel in images if image.resolve() != mask.resolve()]
        if images and not pairs:
            raise InvalidInputError(
                f"--mask {mask} is also the only input image; the mask is a separate file of the image's size "
                "(white = fill), e.g. photo_mask.png beside photo.jpg"
            )
        return pairs
    if not mask.is_dir():
        raise InvalidInputError(f"--mask {mask} does not exist (give a mask file or a folder of masks)")
    by_stem: dict[str, list[Path]] = {}
    for f in mask.rglob("*"):
        if f.is_file() and is_image_file(f):
            by_stem.setdefault(f.relative_to(mask).with_suffix("").as_posix(), []).append(f)
    pairs = []
    for image, rel in images:
        stem = Path(rel).with_suffix("").as_posix()
        found = None
        for key in (stem + suffix, stem) if suffix else (stem,):
            candidates = sorted(p for p in by_stem.get(key, []) if p.resolve() != image.resolve())
            if key == stem:  # a same-stem file next to the image is another image (photo.jpg), not its mask
                candidates = [p for p in candidates if p.parent.resolve() != image.parent.resolve()]
            if candidates:
                found = candidates[0]
                break
        pairs.append(Pair(image, rel, found))
    return pairs


def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` -> ``(K, N)`` with ``0 <= K < N``."""
    try:
        k_text, n_text = text.split("/")
        k, n = int(k_text), int(n_text)
    except ValueError:
        raise InvalidInputError(f"--shard must look like K/N (e.g. 0/4), got {text!r}") from None
    if n < 1 or not 0 <= k < n:
        raise InvalidInputError(f"--shard K/N needs 0 <= K < N (shards are numbered from 0), got {text!r}")
    return k, n


def select_shard(pairs: list[Pair], k: int, n: int) -> list[Pair]:
    """The pairs of shard ``k`` of ``n``: those whose relative path hashes to ``k`` (stable across runs and machines)."""
    if n == 1:
        return list(pairs)
    return [p for p in pairs if int(hashlib.sha1(p.relative.encode("utf-8")).hexdigest(), 16) % n == k]


def output_path(out_dir: Path, relative: str, fmt: str) -> Path:
    """Where the result of ``relative`` goes: same relative path, extension set by ``fmt`` (``same`` keeps it)."""
    target = out_dir / relative
    if fmt == "same":
        return target
    return target.with_suffix(OUTPUT_FORMATS[fmt][1])


Existing = Literal["error", "skip", "overwrite"]


@dataclass(frozen=True)
class BatchPlan:
    """What a batch run will do, decided before any model is loaded.

    Attributes:
        todo: the pairs to inpaint, in order, each with its ``output`` set (a pair whose mask
            was not found has ``mask=None`` and is reported as failed).
        skipped: pairs whose output exists and is kept (``existing="skip"``).
        folder: the folder the outputs go into (the output file's folder for a single image).
        file: the output file of a single image, or None when writing into ``folder``.
    """

    todo: list[Pair]
    skipped: list[Pair]
    folder: Path
    file: Path | None = None

    @property
    def pairs(self) -> list[Pair]:
        """Every pair of this shard: the skipped ones and those to do."""
        return [*self.skipped, *self.todo]

    def remove_stale_temporaries(self) -> int:
        """Delete the temporaries an interrupted run left for this plan's outputs; returns how many.

        Only this plan's outputs: other shards may be writing into the same folder right now.
        """
        if not self.folder.is_dir():
            return 0
        return remove_stale_temporaries(self.folder, [p.output for p in self.pairs if p.output is not None])


def _output_target(output: str, fmt: str) -> tuple[Path, Path | None]:
    """``(folder, single file or None)`` of ``--output``."""
    if not output.strip():
        raise InvalidInputError("--output is empty; give a folder (e.g. out/) or a file name for a single image")
    out_dir = Path(output)
    # `--output result.png` (not an existing folder, no trailing slash) names the file of a single input.
    as_folder = out_dir.is_dir() or output.endswith(("/", os.sep))
    suffix = out_dir.suffix.lower()
    if suffix in OUTPUT_SUFFIXES and not as_folder:
        if fmt != "same" and OUTPUT_SUFFIXES[suffix] != fmt:
            raise InvalidInputError(f"--output {out_dir} contradicts --format {fmt}; drop one of them")
        return out_dir.parent, out_dir
    if suffix in IMAGE_EXTENSIONS and not as_folder:
        raise InvalidInputError(
            f"--output {out_dir}: results can be written as {', '.join(OUTPUT_SUFFIXES)} files; for a folder "
            "with this name, create it first or end the name with /"
        )
    if out_dir.exists() and not out_dir.is_dir():
        raise InvalidInputError(
            f"--output {out_dir} is a file; give a folder (created if needed), or a new "
            f"{'/'.join(OUTPUT_SUFFIXES)} file name for a single image"
        )
    return out_dir, None


def plan_outputs(
    inputs: Sequence[str | os.PathLike[str]],
    mask: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    fmt: str = "same",
    mask_suffix: str = "_mask",
    recursive: bool = False,
    shard: tuple[int, int] = (0, 1),
    existing: Existing = "error",
    on_skip: Callable[[Path, str], None] | None = None,
) -> BatchPlan:
    """Find the images of ``inputs``, pair them with masks and decide where each result goes.

    Args:
        inputs: image files and folders.
        mask: one mask file for every image, or a folder of masks (see :func:`pair_masks`).
        output: a folder (created later if needed), or a ``.png``/``.jpg``/``.jpeg``/``.webp``
            file name for a single input image (not an existing folder, no trailing slash).
        fmt: ``"same"`` (keep each input's format) or a key of :data:`OUTPUT_FORMATS`.
        shard: ``(K, N)``: keep the K-th of N deterministic shares (:func:`select_shard`).
        existing: what to do with outputs that exist: ``"error"``, ``"skip"`` (resume a run)
            or ``"overwrite"``.
        on_skip: told of each file a folder holds but that cannot be read (see
            :func:`~dpinpaint.files.find_images`).

    A shard that gets none of the images gives an empty plan (not an error: in a job array of
    many shards over few images, some shards are empty).

    Raises:
        InvalidInputError: an output that contradicts the format or the number of images, two
            images writing one file (among all shards), no images at all, existing outputs with
            ``existing="error"``, or an output folder that cannot be written.
    """
    if fmt != "same" and fmt not in OUTPUT_FORMATS:
        raise InvalidInputError(f"--format must be same or one of {', '.join(OUTPUT_FORMATS)}, got {fmt!r}")
    if existing not in ("error", "skip", "overwrite"):
        raise InvalidInputError(f"existing must be 'error', 'skip' or 'overwrite', got {existing!r}")
    folder, out_file = _output_target(os.fspath(output), fmt)
    images = find_images(
        inputs,
        recursive=recursive,
        exclude_suffix=mask_suffix if Path(mask).is_dir() else None,
        # outputs of an earlier run inside an input folder are not inputs
        exclude_dirs=[] if out_file is not None else [folder],
        on_skip=on_skip,
    )
    target = out_file.resolve() if out_file is not None else None
    if target is not None:  # nor is an earlier result file found in an input folder
        named = {Path(p).resolve() for p in inputs if not Path(p).is_dir()}
        images = [(f, rel) for f, rel in images if f.resolve() != target or f.resolve() in named]
    pairs = pair_masks(images, mask, suffix=mask_suffix)
    if out_file is not None:
        if len(pairs) != 1:
            raise InvalidInputError(
                f"--output {out_file} names one image file, but {len(pairs)} images were found; "
                "give a folder to write them all"
            )
        for role, path in (("input image", pairs[0].image), ("mask", pairs[0].mask)):
            if path is not None and path.resolve() == target:
                raise InvalidInputError(f"--output {out_file} is the {role} itself; choose another name")
        pairs = [replace(pairs[0], output=out_file)]
    else:
        pairs = [replace(p, output=output_path(folder, p.relative, fmt)) for p in pairs]
    # Clashes are looked for among all pairs, not this shard's only: two shards must not write one file.
    by_output: dict[Path | None, list[str]] = {}
    for p in pairs:
        by_output.setdefault(p.output, []).append(str(p.image))
    clashes = {out: srcs for out, srcs in by_output.items() if len(srcs) > 1}
    if clashes:
        out, srcs = next(iter(clashes.items()))
        raise InvalidInputError(
            f"{len(clashes)} output path(s) would be written twice, e.g. {out} from {', '.join(srcs)}"
        )
    if not pairs:
        raise InvalidInputError("no images found in " + ", ".join(os.fspath(p) for p in inputs))
    pairs = select_shard(pairs, *shard)  # may be empty: in a job array, a shard with no image is normal
    present = [p for p in pairs if p.output is not None and p.output.exists()]
    if present and existing == "error":
        raise InvalidInputError(
            f"{len(present)} output(s) already exist (e.g. {present[0].output}); pass --skip-existing "
            "to keep them (resume a run) or --overwrite to replace them"
        )
    check_writable(folder)
    kept = set(present) if existing == "skip" else set()
    return BatchPlan(
        todo=[p for p in pairs if p not in kept], skipped=[p for p in pairs if p in kept], folder=folder, file=out_file
    )


def check_writable(folder: Path) -> None:
    """Fail before any image is inpainted if ``folder`` (or the nearest folder that exists) is read-only."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        raise InvalidInputError(f"--output: cannot write into {existing} (permission denied); choose another folder")
