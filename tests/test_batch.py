"""Unit tests of :mod:`dpinpaint.batch` and :mod:`dpinpaint.files` (in-process).

The end-to-end runs of ``dpinpaint inpaint`` are in ``test_cli_inpaint.py``.
"""

from __future__ import annotations

import functools
import io
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from dpinpaint import Inpainter
from dpinpaint.batch import (
    BatchRunner,
    Pair,
    Record,
    Summary,
    find_images,
    output_path,
    pair_masks,
    parse_shard,
    save_image,
    select_shard,
)
from dpinpaint.errors import InvalidInputError
from dpinpaint.files import TEMP_SUFFIX, atomic_write, remove_stale_temporaries


def _png(path: Path, size: tuple[int, int] = (8, 6), mode: str = "RGB", seed: int = 0) -> Path:
    """A small random image at ``path`` (``size`` is W, H); the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    w, h = size
    channels = {"RGB": 3, "RGBA": 4, "L": 1}[mode]
    arr = rng.integers(0, 256, (h, w, channels), dtype=np.uint8)
    Image.fromarray(arr[:, :, 0] if channels == 1 else arr, mode=mode).save(path)
    return path


def _rel(found: list[tuple[Path, str]]) -> list[str]:
    return [rel for _, rel in found]


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


# --------------------------------------------------------------------------------------
# find_images
# --------------------------------------------------------------------------------------


def test_find_images_lists_folders_sorted_and_files_directly(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("b.png", "a.jpg", "C.webp", "sub/d.png", ".hidden.png", "notes.txt", "e.JPEG"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
    loose = tmp_path / "loose.bmp"
    loose.write_bytes(b"x")
    odd = tmp_path / "odd.data"  # named directly: taken whatever its extension
    odd.write_bytes(b"x")

    assert _rel(find_images([root])) == ["C.webp", "a.jpg", "b.png", "e.JPEG"]
    assert _rel(find_images([root], recursive=True)) == ["C.webp", "a.jpg", "b.png", "e.JPEG", "sub/d.png"]
    found = find_images([root, loose, odd])
    assert found[-2:] == [(loose, "loose.bmp"), (odd, "odd.data")]
    assert all(path.is_file() for path, _ in found)
    with pytest.raises(InvalidInputError, match="does not exist"):
        find_images([tmp_path / "missing"])


def test_find_images_leaves_out_masks_and_the_output_folder(tmp_path: Path) -> None:
    root = tmp_path / "in"
    for name in ("a.png", "a_mask.png", "b.png", "b-m.png", "out/a.png", "out/sub/b.png"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    assert _rel(find_images([root], recursive=True, exclude_suffix="_mask", exclude_dirs=[root / "out"])) == [
        "a.png",
        "b-m.png",
        "b.png",
    ]
    assert _rel(find_images([root], exclude_suffix="-m")) == ["a.png", "a_mask.png", "b.png"]
    # Writing back into the input folder itself (in place, with --overwrite) still finds the inputs.
    assert _rel(find_images([root], exclude_suffix="_mask", exclude_dirs=[root, tmp_path])) == [
        "a.png",
        "b-m.png",
        "b.png",
    ]
    # An output folder given by another spelling of the same path is recognised too.
    assert "out/a.png" not in _rel(find_images([root], recursive=True, exclude_dirs=[root / "sub" / ".." / "out"]))


# --------------------------------------------------------------------------------------
# pair_masks
# --------------------------------------------------------------------------------------


def test_pair_masks_by_suffix_next_to_the_images(tmp_path: Path) -> None:
    d = tmp_path / "photos"
    for name in ("a.png", "a_mask.png", "b.jpg", "b_mask.jpg", "c.png"):
        _png(d / name)
    images = find_images([d], exclude_suffix="_mask")
    assert _rel(images) == ["a.png", "b.jpg", "c.png"]  # the masks are not inputs
    pairs = pair_masks(images, d)
    assert [(p.relative, p.mask) for p in pairs] == [
        ("a.png", d / "a_mask.png"),
        ("b.jpg", d / "b_mask.jpg"),
        ("c.png", None),  # never paired with itself, reported later
    ]


def test_pair_masks_by_stem_in_a_nested_mask_folder(tmp_path: Path) -> None:
    imgs, masks = tmp_path / "imgs", tmp_path / "masks"
    for name in ("a.jpg", "sub/b.png", "sub/deeper/c.png", "d.png"):
        _png(imgs / name)
    for name in ("a.png", "sub/b.png", "sub/deeper/c_mask.png", "sub/deeper/c.png", "b.png"):
        _png(masks / name)
    pairs = pair_masks(find_images([imgs], recursive=True), masks)
    assert {p.relative: p.mask for p in pairs} == {
        "a.jpg": masks / "a.png",
        "d.png": None,
        "sub/b.png": masks / "sub/b.png",  # the same relative path, not masks/b.png
        "sub/deeper/c.png": masks / "sub/deeper/c_mask.png",  # the suffix wins over the stem
    }


def test_pair_masks_custom_suffix_and_no_suffix(tmp_path: Path) -> None:
    d = tmp_path / "d"
    for name in ("a.png", "a-hole.png", "a_mask.png"):
        _png(d / name)
    pairs = pair_masks(find_images([d], exclude_suffix="-hole"), d, suffix="-hole")
    assert [(p.relative, p.mask) for p in pairs] == [("a.png", d / "a-hole.png"), ("a_mask.png", None)]
    # No suffix: stems only, and a file never pairs with itself.
    other = tmp_path / "other"
    _png(other / "a.png")
    assert {p.relative: p.mask for p in pair_masks(find_images([d]), other, suffix="")}["a.png"] == other / "a.png"
    assert all(p.mask is None for p in pair_masks(find_images([other]), other, suffix=""))


def test_pair_masks_one_file_for_all(tmp_path: Path) -> None:
    d = tmp_path / "d"
    for name in ("a.png", "b.jpg", "mask.png"):
        _png(d / name)
    pairs = pair_masks(find_images([d]), d / "mask.png")
    assert [(p.relative, p.mask) for p in pairs] == [("a.png", d / "mask.png"), ("b.jpg", d / "mask.png")]
    with pytest.raises(InvalidInputError, match="does not exist"):
        pair_masks(find_images([d]), tmp_path / "nope.png")


# --------------------------------------------------------------------------------------
# Shards and output paths
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [("0/1", (0, 1)), ("2/3", (2, 3)), (" 1/ 4", (1, 4))])
def test_parse_shard(text: str, expected: tuple[int, int]) -> None:
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["3/3", "a/b", "1/0", "-1/2", "1", "1/2/3", "", "0/-1"])
def test_parse_shard_rejects(text: str) -> None:
    with pytest.raises(InvalidInputError, match="--shard"):
        parse_shard(text)


def _pairs(names: list[str]) -> list[Pair]:
    return [Pair(Path("/in") / n, n, Path("/m.png")) for n in names]


@settings(max_examples=60, deadline=None)
@given(
    names=st.lists(st.text("ab/_.é0", min_size=1, max_size=8), unique=True, max_size=30),
    extra=st.lists(st.text("cd.x1", min_size=1, max_size=8), unique=True, max_size=10),
    n=st.integers(1, 7),
)
def test_shards_partition_the_pairs_stably(names: list[str], extra: list[str], n: int) -> None:
    pairs = _pairs(names)
    shards = [select_shard(pairs, k, n) for k in range(n)]
    assert sorted(p.relative for s in shards for p in s) == sorted(names)  # a partition: all, once each
    for shard in shards:
        assert shard == [p for p in pairs if p in shard]  # the input order is kept
    # Adding files (and shuffling) moves no existing file to another shard.
    grown = _pairs(list(reversed(names)) + [e for e in extra if e not in names])
    for k, shard in enumerate(shards):
        assert {p.relative for p in select_shard(grown, k, n)} >= {p.relative for p in shard}


def test_shards_are_balanced_and_fixed_across_versions() -> None:
    pairs = _pairs([f"img_{i:04d}.png" for i in range(1000)])
    sizes = [len(select_shard(pairs, k, 4)) for k in range(4)]
    assert sum(sizes) == 1000 and min(sizes) > 200
    # The split must not change between releases (a resumed job array must see the same shards).
    assert [p.relative for p in select_shard(pairs[:10], 0, 3)] == [
        p.relative for p in pairs[:10] if int(__import__("hashlib").sha1(p.relative.encode()).hexdigest(), 16) % 3 == 0
    ]


def test_output_path() -> None:
    out = Path("/out")
    assert output_path(out, "a/b.JPG", "same") == out / "a/b.JPG"
    assert output_path(out, "a/b.JPG", "png") == out / "a/b.png"
    assert output_path(out, "b.tar.png", "jpg") == out / "b.tar.jpg"
    assert output_path(out, "b.png", "webp") == out / "b.webp"


# --------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------


def test_atomic_write_replaces_and_uses_normal_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "a.txt"
    atomic_write(target, lambda tmp: Path(tmp).write_text("one"))
    atomic_write(target, lambda tmp: Path(tmp).write_text("two"))
    assert target.read_text() == "two"
    assert os.listdir(target.parent) == ["a.txt"]
    # Like any new file (0o666 minus the umask), not mkstemp's private 0o600.
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()


def test_atomic_write_failure_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "a.txt"
    target.write_text("old")

    def half(tmp: str) -> None:
        Path(tmp).write_text("partial")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, half)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_atomic_write_verifies_before_renaming(tmp_path: Path) -> None:
    """A writer that reports success over a short or empty file (a full disk) leaves the old file."""
    target = tmp_path / "a.png"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="nothing was written"):
        atomic_write(target, lambda tmp: None)

    whole = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(whole, "PNG")

    def short(tmp: str) -> None:  # as Pillow's JPEG encoder leaves a file past a size limit
        Path(tmp).write_bytes(whole.getvalue()[: len(whole.getvalue()) // 2])

    def decodes(tmp: str) -> None:
        with Image.open(tmp) as im:
            im.load()

    with pytest.raises(OSError):
        atomic_write(target, short, verify=decodes)
    assert target.read_bytes() == b"old" and sorted(os.listdir(tmp_path)) == ["a.png"]


@pytest.mark.skipif(os.name == "nt", reason="flock is POSIX")
def test_cleanup_leaves_the_temporary_a_live_write_owns(tmp_path: Path) -> None:
    """Two runs into one folder: the start-up cleanup of one must not delete what the other is writing."""
    target = tmp_path / "a.txt"
    stale = tmp_path / f".b.txt.0123456789ab{TEMP_SUFFIX}"
    stale.write_text("left by a killed run")
    seen: list[int] = []

    def write(tmp: str) -> None:
        Path(tmp).write_text("half")
        seen.append(remove_stale_temporaries(tmp_path))  # another run starting now
        assert Path(tmp).exists()
        Path(tmp).write_text("whole")

    atomic_write(target, write)
    assert seen == [1] and not stale.exists() and target.read_text() == "whole"
    assert os.listdir(tmp_path) == ["a.txt"]


def test_remove_stale_temporaries_only_of_the_given_outputs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    mine = [tmp_path / f".a.png.x1y2z3{TEMP_SUFFIX}", tmp_path / "sub" / f".b.png.abc_12{TEMP_SUFFIX}"]
    other = tmp_path / f".c.png.q9{TEMP_SUFFIX}"  # another shard writing c.png right now
    keep = [tmp_path / "a.png", tmp_path / ".a.png.notes"]
    for f in [*mine, other, *keep]:
        f.write_bytes(b"x")
    assert (
        remove_stale_temporaries(tmp_path, [tmp_path / "a.png", tmp_path / "sub" / "b.png", tmp_path / "x/y.png"]) == 2
    )
    assert not any(f.exists() for f in mine)
    assert other.exists() and all(f.exists() for f in keep)
    assert remove_stale_temporaries(tmp_path) == 1  # no targets: every temporary
    assert not other.exists() and all(f.exists() for f in keep)


# --------------------------------------------------------------------------------------
# save_image
# --------------------------------------------------------------------------------------


@functools.cache
def _srgb() -> bytes:
    """An sRGB profile (made once: a profile holds its creation time)."""
    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def test_save_image_keeps_exif_icc_dpi_and_alpha(tmp_path: Path) -> None:
    im = Image.fromarray(np.random.default_rng(0).integers(0, 256, (9, 7, 4), dtype=np.uint8), "RGBA")
    exif = Image.Exif()
    exif[0x010F] = "TestCam"
    im.info.update({"exif": exif.tobytes(), "icc_profile": _srgb(), "dpi": (300, 300)})
    for ext in (".png", ".webp", ".tif"):
        path = tmp_path / f"a{ext}"
        notes = save_image(im, path)
        assert notes == [] if ext != ".webp" else (len(notes) == 1 and "re-encoded as WEBP (lossy)" in notes[0])
        with Image.open(path) as back:
            back.load()
            assert back.mode == "RGBA"
            assert back.info.get("icc_profile") == _srgb()
            assert back.getexif().get(0x010F) == "TestCam"
            if ext != ".webp":
                assert np.array_equal(np.asarray(back), np.asarray(im))  # lossless: alpha bit for bit
                assert tuple(round(v) for v in back.info["dpi"]) == (300, 300)
        assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~_umask()


def test_save_image_jpeg_notes_and_conversions(tmp_path: Path) -> None:
    rgba = Image.new("RGBA", (8, 8), (10, 200, 30, 0))
    notes = save_image(rgba, tmp_path / "a.jpg")
    assert len(notes) == 2 and "alpha dropped" in notes[0] and "re-encoded as JPEG (lossy)" in notes[1]
    with Image.open(tmp_path / "a.jpg") as back:
        assert back.mode == "RGB"
    # Mode "1" becomes grey, not RGB.
    save_image(Image.new("1", (8, 8), 1), tmp_path / "b.jpg")
    with Image.open(tmp_path / "b.jpg") as back:
        assert back.mode == "L"
    with pytest.raises(InvalidInputError, match="cannot write"):
        save_image(rgba, tmp_path / "a.xyz")


@pytest.mark.parametrize("ext", [".jpg", ".webp"])
def test_save_image_16_bit_to_8_bit_formats_is_scaled_not_clipped(tmp_path: Path, ext: str) -> None:
    ramp = np.linspace(0, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    notes = save_image(Image.fromarray(ramp), tmp_path / f"a{ext}", quality=100)
    assert any("16-bit" in n for n in notes)
    with Image.open(tmp_path / f"a{ext}") as back:
        grey = np.asarray(back.convert("L")).astype(int)
    # Image.convert("L") would clip everything above 255 (almost the whole ramp) to white.
    assert np.abs(grey - ramp.astype(int) / 257).max() <= 3


def test_save_image_drops_an_icc_profile_of_another_colour_space(tmp_path: Path) -> None:
    fake_cmyk = bytearray(_srgb())
    fake_cmyk[16:20] = b"CMYK"  # what a CMYK JPEG read as RGB still carries
    im = Image.new("RGB", (8, 8), (1, 2, 3))
    im.info["icc_profile"] = bytes(fake_cmyk)
    save_image(im, tmp_path / "a.jpg")
    with Image.open(tmp_path / "a.jpg") as back:
        assert "icc_profile" not in back.info


# --------------------------------------------------------------------------------------
# Record and Summary
# --------------------------------------------------------------------------------------


def test_record_json_fields() -> None:
    record = Record("in/a.png", "m.png", "out/a.jpg", "ok", 0.25, "resize", None, ["alpha dropped: ..."])
    data = json.loads(record.to_json())
    assert list(data) == [f.name for f in fields(Record)]
    assert set(data) >= {"input", "mask", "output", "status", "seconds", "strategy", "error", "notes"}
    assert data["notes"] == ["alpha dropped: ..."] and data["error"] is None
    assert json.loads(Record("é.png", None, None, "failed", error="x").to_json())["input"] == "é.png"


def test_summary_counts_and_line() -> None:
    summary = Summary()
    for status in ("ok", "ok", "failed", "skipped", "ok"):
        summary.add(Record("a", None, None, status))
    summary.seconds = 2.0
    assert (summary.succeeded, summary.failed, summary.skipped) == (3, 1, 1)
    assert summary.line() == "5 image(s): 3 succeeded, 1 failed, 1 skipped in 2.0 s, 1.50 images/s"
    assert Summary().line() == "0 image(s): 0 succeeded, 0 failed, 0 skipped in 0.0 s"


# --------------------------------------------------------------------------------------
# BatchRunner (in-process, the tiny model)
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def inpainter() -> Inpainter:
    return Inpainter.from_config("tiny", seed=0, w_avg_samples=64)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> list[Pair]:
    """Good images of several sizes and modes, with a corrupt file, a missing mask and a bad mask in between."""
    root = tmp_path_factory.mktemp("runner")
    pairs: list[Pair] = []
    specs: list[tuple[str, tuple[int, int], str]] = [
        ("a.png", (70, 90), "RGB"),
        ("corrupt.png", (0, 0), ""),
        ("b.png", (64, 64), "RGBA"),
        ("c.png", (150, 60), "L"),
        ("nomask.png", (40, 40), "RGB"),
        ("badmask.png", (50, 50), "RGB"),
        ("d.png", (200, 120), "RGB"),
        ("e.png", (61, 77), "RGB"),
    ]
    for i, (name, (w, h), mode) in enumerate(specs):
        image = root / name
        mask: Path | None = root / f"{image.stem}_mask.png"
        if name == "corrupt.png":
            image.write_bytes(b"this is not a PNG file" * 10)
            w, h = 20, 20
        else:
            _png(image, (w, h), mode, seed=i)
        hole = np.zeros((h, w), np.uint8)
        hole[h // 4 : h // 2, w // 3 : w // 2 + 3] = 255
        if name == "d.png":
            hole[:] = 0
            hole[100:110, 20:30] = 255  # a small hole in a large image: the crop strategy
        if name == "badmask.png":
            hole = hole[:-1]  # wrong size
        if name == "nomask.png":
            mask = None
        else:
            Image.fromarray(hole).save(mask)  # type: ignore[arg-type]
        pairs.append(Pair(image, name, mask, root / "out" / name))
    return pairs


def _run(inpainter: Inpainter, pairs: list[Pair], out: Path, **kwargs: Any) -> tuple[Summary, list[Record]]:
    pairs = [replace(p, output=out / p.relative) for p in pairs]
    seen: list[Record] = []
    summary = BatchRunner(inpainter, **kwargs).run(pairs, on_record=seen.append)
    return summary, seen


def _pixels(records: list[Record]) -> Iterator[tuple[str, np.ndarray]]:
    for r in records:
        if r.status == "ok":
            assert r.output is not None
            with Image.open(r.output) as im:
                yield Path(r.output).name, np.asarray(im)


def test_runner_reports_failures_in_order_and_goes_on(inpainter: Inpainter, work: list[Pair], tmp_path: Path) -> None:
    summary, seen = _run(inpainter, work, tmp_path / "w2", workers=2)
    assert seen == summary.records
    assert [r.input for r in seen] == [str(p.image) for p in work]  # in input order, failures included
    status = {Path(r.input).name: r for r in seen}
    assert [n for n, r in status.items() if r.status == "failed"] == ["corrupt.png", "nomask.png", "badmask.png"]
    assert "not an image file" in (status["corrupt.png"].error or "")
    assert "no mask found" in (status["nomask.png"].error or "")
    assert "differs from image size" in (status["badmask.png"].error or "")
    assert all(r.output is None and r.strategy is None for r in seen if r.status == "failed")
    assert (summary.succeeded, summary.failed, summary.skipped) == (5, 3, 0)
    assert status["d.png"].strategy == "crop" and status["a.png"].strategy == "resize"
    for r in seen:
        if r.status == "ok":
            assert r.error is None and r.notes == [] and r.seconds > 0
            assert r.output is not None and Path(r.output).is_file()
    assert sorted(os.listdir(tmp_path / "w2")) == ["a.png", "b.png", "c.png", "d.png", "e.png"]  # no temporaries


@pytest.mark.slow
def test_runner_outputs_keep_unmasked_pixels_and_alpha(inpainter: Inpainter, work: list[Pair], tmp_path: Path) -> None:
    _, seen = _run(inpainter, work, tmp_path / "o", workers=0)
    by_name = {p.relative: p for p in work}
    checked = 0
    for name, out in _pixels(seen):
        pair = by_name[name]
        with Image.open(pair.image) as src_im, Image.open(pair.mask) as mask_im:  # type: ignore[arg-type]
            src, hole = np.asarray(src_im), np.asarray(mask_im) > 127
            assert out.shape == src.shape and src_im.mode == Image.open(tmp_path / "o" / name).mode
        assert np.array_equal(out[~hole], src[~hole]), name  # bit for bit outside the hole
        assert not np.array_equal(out[hole], src[hole]), name  # and the hole was filled
        if src.ndim == 3 and src.shape[2] == 4:
            assert np.array_equal(out[..., 3], src[..., 3])  # alpha untouched, inside the hole too
        checked += 1
    assert checked == 5


@pytest.mark.slow
def test_runner_workers_and_batch_size_do_not_change_outputs(
    inpainter: Inpainter, work: list[Pair], tmp_path: Path
) -> None:
    results = {}
    for key, kwargs in {
        "w0": {"workers": 0, "batch_size": 1},
        "w3": {"workers": 3, "batch_size": 1},
        "b3": {"workers": 2, "batch_size": 3},
    }.items():
        _, seen = _run(inpainter, work, tmp_path / key, **kwargs)
        assert [(r.input, r.status, r.strategy) for r in seen] == [
            (r.input, r.status, r.strategy) for r in results.get("w0", (None, seen))[1]
        ]
        results[key] = (dict(_pixels(seen)), seen)
    reference = results["w0"][0]
    for key in ("w3", "b3"):
        outputs = results[key][0]
        assert outputs.keys() == reference.keys()
        for name, out in outputs.items():
            # Batching only changes float rounding: at most one level, on a few pixels.
            diff = np.abs(out.astype(int) - reference[name].astype(int))
            assert diff.max() <= (0 if key == "w3" else 1), (key, name, diff.max())


def test_runner_failure_of_the_model_fails_the_batch_only(
    inpainter: Inpainter, work: list[Pair], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = inpainter.complete
    calls = {"n": 0}

    def flaky(jobs: list[Any], *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("CUDA out of memory")
        return real(jobs, *args, **kwargs)

    monkeypatch.setattr(inpainter, "complete", flaky)
    good = [p for p in work if p.relative in ("a.png", "b.png", "c.png")]
    summary, seen = _run(inpainter, good, tmp_path, workers=1, batch_size=1)
    assert [r.status for r in seen] == ["ok", "failed", "ok"]
    assert seen[1].error == "RuntimeError: CUDA out of memory"
    assert summary.failed == 1


def test_runner_rejects_negative_workers(inpainter: Inpainter) -> None:
    with pytest.raises(InvalidInputError, match="--workers"):
        BatchRunner(inpainter, workers=-1)


@pytest.mark.slow
def test_runner_seed_results_do_not_depend_on_the_batch(work: list[Pair], tmp_path: Path) -> None:
    from dpinpaint.models.stylegan2 import NoiseInjection

    noisy = Inpainter.from_config("tiny", seed=0, w_avg_samples=64)
    for module in noisy.model.modules():
        if isinstance(module, NoiseInjection):
            module.weight.data.fill_(0.5)  # trained checkpoints have non-zero noise strengths
    good = [p for p in work if p.relative in ("a.png", "b.png", "c.png", "e.png")]
    outputs = {}
    for batch_size in (1, 3):
        _, seen = _run(noisy, good, tmp_path / str(batch_size), workers=0, batch_size=batch_size, seed=7)
        outputs[batch_size] = dict(_pixels(seen))
    for pair in good:
        alone = np.asarray(noisy.inpaint(str(pair.image), str(pair.mask), seed=7))
        for batch_size in (1, 3):
            # Exactly what inpaint(seed=7) gives, whatever the neighbours in the batch.
            assert np.array_equal(outputs[batch_size][pair.relative], alone), (pair.relative, batch_size)


def test_a_same_stem_image_next_to_an_image_is_not_its_mask(tmp_path: Path) -> None:
    for name in ("photo.png", "photo.jpg", "other.png", "other_mask.png"):
        Image.new("RGB", (8, 8)).save(tmp_path / name)
    pairs = {p.relative: p.mask for p in pair_masks(find_images([tmp_path], exclude_suffix="_mask"), tmp_path)}
    assert pairs == {"other.png": tmp_path / "other_mask.png", "photo.jpg": None, "photo.png": None}
    masks = tmp_path / "masks"
    masks.mkdir()
    Image.new("L", (8, 8)).save(masks / "photo.png")  # in a separate mask folder the plain stem pairs
    pairs = {p.relative: p.mask for p in pair_masks(find_images([tmp_path]), masks)}
    assert pairs["photo.png"] == masks / "photo.png" and pairs["photo.jpg"] == masks / "photo.png"


@pytest.mark.skipif(os.name == "nt", reason="FIFOs and permissions are POSIX")
def test_find_images_reports_what_it_cannot_read(tmp_path: Path) -> None:
    _png(tmp_path / "in" / "a.png")
    _png(tmp_path / "in" / "sub" / "b.png")
    os.mkfifo(tmp_path / "in" / "pipe.png")
    (tmp_path / "in" / "gone.png").symlink_to(tmp_path / "nowhere.png")
    (tmp_path / "in" / "sub" / "loop").symlink_to(tmp_path / "in")
    skipped: dict[str, str] = {}
    found = find_images([tmp_path / "in"], recursive=True, on_skip=lambda p, why: skipped.setdefault(p.name, why))
    assert [rel for _, rel in found] == ["a.png", "sub/b.png"]
    assert "FIFO" in skipped["pipe.png"] and "broken" in skipped["gone.png"] and "not followed" in skipped["loop"]
    flat: list[str] = []
    find_images([tmp_path / "in"], on_skip=lambda p, why: flat.append(p.name))
    assert sorted(flat) == ["gone.png", "pipe.png"]  # sub-folders are not descended, so not reported
