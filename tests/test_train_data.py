"""The training data layer: sources, preparation, validation, split, samples, sampler, loader."""

from __future__ import annotations

import io
import json
import logging
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpinpaint.errors import ImageReadError, InvalidInputError
from dpinpaint.train.data import (
    SPLIT_FILE,
    ImageSource,
    InpaintingDataset,
    ResumableSampler,
    adjust_colors,
    make_loader,
    prepare_image,
    random_blur,
    read_split,
    split_indices,
    validate_source,
    write_split,
)

# relative path -> (width, height); the expected order is the plain string sort of the paths
# ("a-b.jpg" < "a/c.PNG": '-' sorts before '/', unlike a per-component sort).
IMAGES = {"b.png": (60, 50), "a/c.PNG": (50, 70), "a-b.jpg": (64, 64), "sub/deep/d.bmp": (72, 56)}
NAMES = sorted(IMAGES)
JUNK = {".hidden.png": b"", ".cache/x.png": b"", "notes.txt": b"hello", "a/readme.md": b"#", "b.png.txt": b"x"}


def _pixels(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A smooth gradient with noise, ``(h, w, 3)`` uint8 (so that resampling filters differ)."""
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x * 3 + y * 5) % 256], -1)
    noise = np.random.default_rng(seed).integers(-20, 21, smooth.shape)
    return (smooth + noise).clip(0, 255).astype(np.uint8)


def _save(path: Path, w: int, h: int, seed: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(w, h, seed)).save(path)


def _zip_folder(folder: Path, archive: Path, extra: dict[str, bytes] | None = None) -> Path:
    """A zip of every file of ``folder`` (hidden ones too), in reverse order, with folder entries."""
    files = sorted((p for p in folder.rglob("*") if p.is_file()), reverse=True)
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("sub/", b"")
        for f in files:
            zf.write(f, f.relative_to(folder).as_posix())
        for name, data in (extra or {}).items():
            zf.writestr(name, data)
    return archive


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for seed, (name, (w, h)) in enumerate(IMAGES.items()):
        _save(root / name, w, h, seed)
    for name, data in JUNK.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data if name != ".cache/x.png" else (root / "b.png").read_bytes())
    (root / ".hidden.png").write_bytes((root / "b.png").read_bytes())
    return root


@pytest.fixture
def archive(folder: Path, tmp_path: Path) -> Path:
    return _zip_folder(folder, tmp_path / "data.zip", {"__MACOSX/._b.png": b"\0\5\26\7"})


# -- sources ----------------------------------------------------------------------------------------
def test_folder_lists_images_sorted_skipping_hidden_and_other_files(folder: Path) -> None:
    source = ImageSource(folder)
    assert source.kind == "folder" and len(source) == 4
    assert source.names == NAMES == ["a-b.jpg", "a/c.PNG", "b.png", "sub/deep/d.bmp"]
    for i, name in enumerate(NAMES):
        im = source.open(i)
        assert im.mode == "RGB" and im.size == IMAGES[name]


def test_zip_lists_and_decodes_the_same_images(folder: Path, archive: Path) -> None:
    a, b = ImageSource(folder), ImageSource(archive)
    assert b.kind == "zip" and b.names == a.names
    for i in range(len(a)):
        assert np.array_equal(np.asarray(a.open(i)), np.asarray(b.open(i)))
        assert a.size(i) == b.size(i)
    da = InpaintingDataset(a, range(len(a)), 32, seed=3)
    db = InpaintingDataset(b, range(len(b)), 32, seed=3)
    for i in range(len(a)):
        sa, sb = da[i], db[i]
        assert sa["index"] == sb["index"] == i
        assert torch.equal(sa["image"], sb["image"]) and torch.equal(sa["known"], sb["known"])


def test_exif_orientation_is_applied_in_folders_and_zips(tmp_path: Path) -> None:
    root = tmp_path / "exif"
    root.mkdir()
    pixels = _pixels(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    Image.fromarray(pixels).save(root / "rotated.png", exif=exif)
    expected = np.rot90(pixels, k=-1)  # (60, 40, 3): displayed upright
    for source in (ImageSource(root), ImageSource(_zip_folder(root, tmp_path / "exif.zip"))):
        im = source.open(0)
        assert im.size == (40, 60)
        assert np.array_equal(np.asarray(im), expected)


def test_zip_source_pickles_without_its_handle(archive: Path) -> None:
    source = ImageSource(archive)
    first = np.asarray(source.open(0))  # opens the archive in this process
    copy = pickle.loads(pickle.dumps(source))
    assert copy._zip is None
    assert np.array_equal(np.asarray(copy.open(0)), first)
    source.close()
    copy.close()


def test_missing_and_unusable_sources_have_clear_messages(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="does not exist"):
        ImageSource(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="holds no images"):
        ImageSource(tmp_path / "empty")
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("x")
    (tmp_path / "junk" / ".hidden.png").write_bytes(b"x")
    with pytest.raises(InvalidInputError, match=r"folder .*junk holds no images"):
        ImageSource(tmp_path / "junk")
    _save(tmp_path / "one.png", 8, 8)
    with pytest.raises(InvalidInputError, match=r"neither a folder nor a \.zip archive"):
        ImageSource(tmp_path / "one.png")
    (tmp_path / "bad.zip").write_bytes(b"PK\3\4 not really")
    with pytest.raises(InvalidInputError, match="not a valid zip archive"):
        ImageSource(tmp_path / "bad.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as zf:
        zf.writestr("readme.txt", "no images")
    with pytest.raises(InvalidInputError, match=r"zip archive .*empty.zip holds no images"):
        ImageSource(tmp_path / "empty.zip")


# -- preparation ------------------------------------------------------------------------------------
def test_samples_are_the_centre_crop_resized_with_lanczos(tmp_path: Path) -> None:
    root = tmp_path / "prep"
    _save(root / "wide.png", 90, 60, seed=5)
    source = ImageSource(root)
    reference = (
        Image.fromarray(_pixels(90, 60, seed=5)).crop((15, 0, 75, 60)).resize((40, 40), Image.Resampling.LANCZOS)
    )
    ref = np.asarray(reference)
    assert np.array_equal(prepare_image(root / "wide.png", 40), ref)
    assert np.array_equal(prepare_image(source.open(0), 40), ref)
    expected = torch.from_numpy(ref.transpose(2, 0, 1).copy()).float() / 127.5 - 1.0
    sample = InpaintingDataset(source, [0], 40, seed=0, flip=False)[0]
    assert sample["image"].dtype == torch.float32 and sample["image"].shape == (3, 40, 40)
    assert torch.allclose(sample["image"], expected, atol=1e-6)
    assert -1.0 <= sample["image"].min() and sample["image"].max() <= 1.0
    # with flips: each epoch gives the image or its mirror, and both occur
    flipping = InpaintingDataset(source, [0], 40, seed=0, flip=True)
    seen = set()
    for epoch in range(12):
        flipping.set_epoch(epoch)
        image = flipping[0]["image"]
        if torch.allclose(image, expected, atol=1e-6):
            seen.add("plain")
        else:
            assert torch.allclose(image, expected.flip(-1), atol=1e-6)
            seen.add("mirrored")
    assert seen == {"plain", "mirrored"}


# -- validation -------------------------------------------------------------------------------------
def test_validate_reports_a_good_source(folder: Path, archive: Path) -> None:
    for path in (folder, archive):
        report = validate_source(ImageSource(path), 48)
        assert report.count == 4 and report.min_side == 50 and report.max_side == 72
        assert report.non_square == 3 and report.decoded and report.kind in ("folder", "zip")
        assert "4 images" in str(report)
    assert not validate_source(ImageSource(folder), 48, decode=False).decoded


def test_validate_names_small_and_unreadable_images(folder: Path) -> None:
    with pytest.raises(InvalidInputError, match=r"2 of 4 images") as err:
        validate_source(ImageSource(folder), 55)
    assert "b.png is 60x50, smaller than 55 px" in str(err.value) and "c.PNG is 50x70" in str(err.value)

    good = (folder / "b.png").read_bytes()
    (folder / "garbage.png").write_bytes(b"not an image at all")
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "truncated.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(InvalidInputError, match=r"3 of 7 images .* resolution 40") as err:
        validate_source(ImageSource(folder), 40, workers=2)
    message = str(err.value)
    assert "garbage.png is not an image" in message and "empty.jpg is empty" in message
    assert "truncated.png" in message and "... and" not in message
    # headers only: the truncated file passes, the others do not
    with pytest.raises(InvalidInputError, match=r"2 of 7 images") as err:
        validate_source(ImageSource(folder), 40, decode=False)
    assert "truncated.png" not in str(err.value)


def test_validate_names_at_most_five_offenders(tmp_path: Path) -> None:
    root = tmp_path / "many"
    for i in range(8):
        _save(root / f"small{i}.png", 20, 30)
    _save(root / "big.png", 40, 40)
    with pytest.raises(InvalidInputError, match=r"8 of 9 images") as err:
        validate_source(ImageSource(root), 32)
    message = str(err.value)
    assert sum(f"small{i}.png" in message for i in range(8)) == 5
    assert "... and 3 more" in message


def test_samples_refuse_images_smaller_than_the_resolution(folder: Path) -> None:
    dataset = InpaintingDataset(ImageSource(folder), range(4), 60, seed=0)
    with pytest.raises(InvalidInputError, match="smaller than 60 px"):
        dataset[2]  # b.png, 60x50
    (folder / "b.png").write_bytes(b"broken")
    with pytest.raises(ImageReadError, match=r"b\.png"):
        dataset[2]


# -- split ------------------------------------------------------------------------------------------
def test_split_by_file_order() -> None:
    assert split_indices(10, 3) == (list(range(7)), [7, 8, 9])
    assert split_indices(10, 0) == (list(range(10)), [])
    assert split_indices(70_000) == (list(range(65_000)), list(range(65_000, 70_000)))
    with pytest.raises(InvalidInputError, match=r"100 image\(s\).*last 5000.*smaller test_count \(e.g. 10"):
        split_indices(100)
    with pytest.raises(InvalidInputError, match="leaves no training image"):
        split_indices(4, 4)
    with pytest.raises(InvalidInputError, match="test_count"):
        split_indices(4, -1)


def test_split_file_round_trip_and_change_detection(
    folder: Path, archive: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    run = tmp_path / "run"
    source = ImageSource(folder)
    train, test = split_indices(len(source), 1)
    path = write_split(run, source, train, test)
    assert path == run / SPLIT_FILE
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["count"] == 4 and record["test"]["names"] == ["sub/deep/d.bmp"]
    assert record["source"] == str(folder.resolve()) and len(record["names_sha256"]) == 64
    assert read_split(run, source) == (train, test)
    assert read_split(run, ImageSource(folder), train, test) == (train, test)
    with pytest.raises(InvalidInputError, match="split differs"):
        read_split(run, source, *split_indices(4, 2))
    with caplog.at_level(logging.WARNING):  # the same images elsewhere (here: zipped) are accepted
        assert read_split(run, ImageSource(archive)) == (train, test)
    assert "the data moved" in caplog.text

    _save(folder / "z.png", 64, 64)
    with pytest.raises(InvalidInputError, match=r"records 4 images.* now has 5"):
        read_split(run, ImageSource(folder))
    (folder / "z.png").unlink()
    (folder / "sub" / "deep" / "d.bmp").rename(folder / "sub" / "deep" / "e.bmp")
    with pytest.raises(InvalidInputError, match=r"names .* differ.*'sub/deep/d.bmp' is gone"):
        read_split(run, ImageSource(folder))

    with pytest.raises(InvalidInputError, match="does not exist"):
        read_split(tmp_path / "other-run", source)
    (run / SPLIT_FILE).write_text("{not json", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not a readable split file"):
        read_split(run, source)
    with pytest.raises(InvalidInputError, match="share images"):
        write_split(run, source, [0, 1], [1, 2])
    with pytest.raises(InvalidInputError, match="not an image index"):
        write_split(run, source, [0, 9], [])


# -- samples and masks ------------------------------------------------------------------------------
def _is_rectangle(hole: np.ndarray) -> bool:
    rows, cols = np.flatnonzero(hole.any(1)), np.flatnonzero(hole.any(0))
    return bool(hole[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1].all())


def test_adjust_colors_turns_hues_and_keeps_greys() -> None:
    primaries = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]]], np.uint8)
    turned = adjust_colors(primaries, 120.0, 1.0, 1.0)
    assert turned.dtype == np.uint8 and turned.shape == primaries.shape
    assert turned[0, :3].tolist() == [[0, 255, 0], [0, 0, 255], [255, 0, 0]]  # red -> green -> blue -> red
    assert turned[0, 3].tolist() == [128, 128, 128]
    photo = _pixels(40, 30, seed=2)
    assert np.abs(adjust_colors(photo, 0.0, 1.0, 1.0).astype(int) - photo).max() <= 1  # identity, up to rounding
    pale = adjust_colors(photo, 0.0, 0.0, 1.0)
    assert np.array_equal(pale[..., 0], pale[..., 1]) and np.array_equal(pale[..., 1], pale[..., 2])
    assert (adjust_colors(photo, 0.0, 1.0, 0.5).astype(int) >= photo.astype(int) - 1).all()  # gamma < 1 brightens
    assert adjust_colors(photo, 0.0, 1.0, 0.5).mean() > photo.mean() + 20


def test_color_changes_follow_the_seed_and_leave_flips_and_masks_alone(folder: Path) -> None:
    source = ImageSource(folder)
    plain = InpaintingDataset(source, range(4), 32, seed=1)
    always = InpaintingDataset(source, range(4), 32, seed=1, color_probability=1.0)
    half = InpaintingDataset(source, range(4), 32, seed=1, color_probability=0.5)
    changed = 0
    for epoch in range(4):
        for i in range(4):
            a, b, c = plain[(epoch, i)], always[(epoch, i)], half[(epoch, i)]
            assert torch.equal(a["known"], b["known"]) and torch.equal(a["known"], c["known"])
            assert not torch.equal(a["image"], b["image"])
            assert torch.equal(b["image"], always[(epoch, i)]["image"])  # a function of (seed, epoch, index)
            changed += not torch.equal(a["image"], c["image"])
    assert 2 <= changed <= 14  # probability 1/2 over 16 samples
    with pytest.raises(InvalidInputError, match="color_probability"):
        InpaintingDataset(source, range(4), 32, seed=1, color_probability=1.5)


def _roughness(pixels: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours."""
    return float(np.abs(np.diff(pixels.astype(float), axis=1)).mean())


def test_random_blur_smooths_keeps_flat_images_and_follows_the_rng() -> None:
    photo = _pixels(64, 48, seed=3)
    blurred = random_blur(photo, np.random.default_rng(0))
    assert blurred.dtype == np.uint8 and blurred.shape == photo.shape
    assert _roughness(blurred) < _roughness(photo) / 4
    assert abs(blurred.mean() - photo.mean()) < 2  # a blur moves no colour in or out
    assert np.array_equal(random_blur(photo, np.random.default_rng(0)), blurred)
    strengths = {round(_roughness(random_blur(photo, np.random.default_rng(s))), 3) for s in range(6)}
    assert len(strengths) == 6  # the sigma is drawn from the rng
    flat = np.full((32, 32, 3), (0, 128, 255), np.uint8)
    assert np.array_equal(random_blur(flat, np.random.default_rng(1)), flat)


def test_blurs_follow_the_seed_and_leave_flips_masks_and_colours_alone(folder: Path) -> None:
    source = ImageSource(folder)
    colored = InpaintingDataset(source, range(4), 32, seed=1, color_probability=1.0)
    always = InpaintingDataset(source, range(4), 32, seed=1, color_probability=1.0, blur_probability=1.0)
    half = InpaintingDataset(source, range(4), 32, seed=1, color_probability=1.0, blur_probability=0.5)
    blurred = 0
    for epoch in range(4):
        for i in range(4):
            a, b, c = colored[(epoch, i)], always[(epoch, i)], half[(epoch, i)]
            assert torch.equal(a["known"], b["known"]) and torch.equal(a["known"], c["known"])
            # the same colour change, then a blur: smoother, the same mean colour
            plain, smooth = (x["image"].permute(1, 2, 0).numpy() for x in (a, b))
            assert _roughness(smooth) < _roughness(plain)
            assert np.abs(smooth.mean((0, 1)) - plain.mean((0, 1))).max() < 0.05
            assert torch.equal(b["image"], always[(epoch, i)]["image"])  # a function of (seed, epoch, index)
            blurred += not torch.equal(a["image"], c["image"])
    assert 2 <= blurred <= 14  # probability 1/2 over 16 samples
    with pytest.raises(InvalidInputError, match="blur_probability"):
        InpaintingDataset(source, range(4), 32, seed=1, blur_probability=-0.1)


def test_masks_stay_in_the_ratio_range_and_both_kinds_occur(folder: Path) -> None:
    source = ImageSource(folder)
    dataset = InpaintingDataset(source, range(4), 32, seed=1, hole_ratio=(0.1, 0.3))
    kinds = []
    for epoch in range(10):
        dataset.set_epoch(epoch)
        for i in range(4):
            known = dataset[i]["known"]
            assert known.shape == (1, 32, 32) and known.dtype == torch.float32
            assert set(known.unique().tolist()) <= {0.0, 1.0}
            hole = known[0].numpy() == 0
            assert 0.1 <= hole.mean() < 0.3
            kinds.append(_is_rectangle(hole))
    assert 5 <= sum(kinds) <= 35  # regular_probability 0.5 of 40 masks: both kinds occur
    only = InpaintingDataset(source, range(4), 32, seed=1, mask_kinds=("regular",))
    assert all(_is_rectangle(only[i]["known"][0].numpy() == 0) for i in range(4))
    for bad in ({"mask_kinds": ("round",)}, {"regular_probability": 1.5}, {"hole_ratio": (0.5, 0.2)}):
        with pytest.raises(InvalidInputError):
            InpaintingDataset(source, range(4), 32, seed=1, **bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="not an image index"):
        InpaintingDataset(source, [4], 32, seed=1)


def test_samples_depend_only_on_seed_epoch_and_image(folder: Path) -> None:
    source = ImageSource(folder)
    full = InpaintingDataset(source, range(4), 32, seed=7)
    subset = InpaintingDataset(source, [3, 1], 32, seed=7)
    assert torch.equal(full[(2, 3)]["known"], subset[(2, 0)]["known"])  # same image, same epoch
    assert subset[(2, 0)]["index"] == 3
    full.set_epoch(2)
    assert torch.equal(full[3]["known"], full[(2, 3)]["known"])
    assert not torch.equal(full[(0, 3)]["known"], full[(1, 3)]["known"])  # new masks every epoch
    other = InpaintingDataset(source, range(4), 32, seed=8)
    assert not torch.equal(other[(0, 3)]["known"], full[(0, 3)]["known"])


# -- sampler ----------------------------------------------------------------------------------------
def test_ranks_partition_each_epoch() -> None:
    for drop_last, total in ((True, 18), (False, 24)):
        samplers = [
            ResumableSampler(23, seed=4, batch_size=2, rank=r, world_size=3, drop_last=drop_last) for r in range(3)
        ]
        for epoch in (0, 1):
            for s in samplers:
                s.set_epoch(epoch)
            parts = [list(s) for s in samplers]
            assert [len(p) for p in parts] == [total // 3] * 3 == [len(s) for s in samplers]
            merged = [i for p in parts for i in p]
            if drop_last:  # disjoint, 5 images left out, not the same ones every epoch
                assert len(set(merged)) == 18 and set(merged) <= set(range(23))
            else:  # every image, one padded
                assert set(merged) == set(range(23)) and len(merged) == 24
    a = list(ResumableSampler(23, seed=4, batch_size=2))
    assert sorted(a[:22]) != a[:22] and a == list(ResumableSampler(23, seed=4, batch_size=2))
    assert list(ResumableSampler(5, seed=0, batch_size=2, drop_last=False, shuffle=False)) == [0, 1, 2, 3, 4]


def test_sampler_resumes_mid_epoch_with_the_remaining_order() -> None:
    for world in (1, 2):
        full = [list(ResumableSampler(30, seed=9, batch_size=4, rank=r, world_size=world)) for r in range(world)]
        original = ResumableSampler(30, seed=9, batch_size=4, world_size=world)
        original.advance(2 * 4 * world)  # two steps
        state = json.loads(json.dumps(original.state_dict()))  # JSON-able
        for r in range(world):
            resumed = ResumableSampler(30, seed=9, batch_size=4, rank=r, world_size=world)
            resumed.load_state_dict(state)
            resumed.set_epoch(0)  # the current epoch: the position is kept
            assert list(resumed) == full[r][8:] and len(resumed) == len(full[r]) - 8
    sampler = ResumableSampler(30, seed=9, batch_size=4)
    sampler.advance(28)
    assert list(sampler) == [] and len(sampler) == 0
    with pytest.raises(InvalidInputError, match="past the end of epoch 0"):
        sampler.advance(4)
    sampler.next_epoch()
    assert sampler.state_dict()["epoch"] == 1 and len(sampler) == 28
    with pytest.raises(InvalidInputError, match=r"seed 9 -> 10"):
        ResumableSampler(30, seed=10, batch_size=4).load_state_dict(state)
    with pytest.raises(InvalidInputError, match="cannot fill one batch"):
        ResumableSampler(7, seed=0, batch_size=4, world_size=2)
    with pytest.raises(InvalidInputError, match="rank"):
        ResumableSampler(8, seed=0, batch_size=1, rank=2, world_size=2)


# -- loader -----------------------------------------------------------------------------------------
def _epochs(loader: torch.utils.data.DataLoader, sampler: ResumableSampler, epochs: int, stop: int | None = None):
    """Batches as a trainer consumes them (advance after each, next epoch at the end); ``stop`` after N."""
    out = []
    for _ in range(epochs):
        for batch in loader:
            out.append(batch)
            sampler.advance(batch["image"].shape[0] * sampler.world_size)
            if stop is not None and len(out) == stop:
                return out
        sampler.next_epoch()
    return out


def _same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        all(torch.equal(x[k], y[k]) for k in ("image", "known", "index")) for x, y in zip(a, b)
    )


def test_batches_are_identical_for_any_number_of_workers(archive: Path) -> None:
    runs = []
    for workers in (0, 2):
        source = ImageSource(archive)
        source.open(0)  # a handle in the parent: workers must not share it
        dataset = InpaintingDataset(source, range(4), 32, seed=2)
        sampler = ResumableSampler(4, seed=2, batch_size=2)
        loader = make_loader(dataset, sampler, 2, workers)
        batches = _epochs(loader, sampler, 2)
        assert batches[0]["image"].shape == (2, 3, 32, 32) and batches[0]["known"].shape == (2, 1, 32, 32)
        assert batches[0]["index"].dtype == torch.int64
        runs.append(batches)
        del loader
    assert len(runs[0]) == 4 and _same(runs[0], runs[1])
    reference = InpaintingDataset(ImageSource(archive), range(4), 32, seed=2)
    for step, batch in enumerate(runs[1]):  # the workers drew each epoch's masks, not epoch 0's again
        for k, index in enumerate(batch["index"].tolist()):
            assert torch.equal(batch["known"][k], reference[(step // 2, index)]["known"])
    first, second = (torch.cat([b["index"] for b in runs[0][e * 2 : e * 2 + 2]]) for e in (0, 1))
    assert sorted(first.tolist()) == sorted(second.tolist()) == [0, 1, 2, 3]


def test_a_resumed_run_continues_with_the_same_batches(folder: Path) -> None:
    def setup() -> tuple[torch.utils.data.DataLoader, ResumableSampler]:
        dataset = InpaintingDataset(ImageSource(folder), range(4), 24, seed=5)
        sampler = ResumableSampler(4, seed=5, batch_size=1)
        return make_loader(dataset, sampler, 1, 0), sampler

    loader, sampler = setup()
    reference = _epochs(loader, sampler, 3)
    loader, sampler = setup()
    head = _epochs(loader, sampler, 3, stop=6)  # interrupted in the second epoch
    state = sampler.state_dict()
    assert (state["epoch"], state["position"]) == (1, 2)
    loader, sampler = setup()
    sampler.load_state_dict(state)
    tail = _epochs(loader, sampler, 2)
    assert _same(head + tail, reference)


def test_make_loader_checks_its_arguments(folder: Path) -> None:
    dataset = InpaintingDataset(ImageSource(folder), range(4), 24, seed=0)
    with pytest.raises(InvalidInputError, match="differs from the sampler"):
        make_loader(dataset, ResumableSampler(4, seed=0, batch_size=2), 4)
    with pytest.raises(InvalidInputError, match="covers 5 samples"):
        make_loader(dataset, ResumableSampler(5, seed=0, batch_size=1))
    with pytest.raises(InvalidInputError, match="workers"):
        make_loader(dataset, ResumableSampler(4, seed=0, batch_size=1), workers=-1)


def test_zip_member_bytes_match_the_files(folder: Path, archive: Path) -> None:
    a, b = ImageSource(folder), ImageSource(archive)
    for i in range(len(a)):
        assert a.read_bytes(i) == b.read_bytes(i)
        assert Image.open(io.BytesIO(b.read_bytes(i))).size == IMAGES[b.names[i]]


def test_an_archive_member_larger_than_an_image_may_be_is_refused_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zip bomb: a small archive whose member decompresses to far more than any image."""
    from dpinpaint.train.data import sources

    archive = tmp_path / "bomb.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.png", b"\0" * 200_000)  # 200 KB of zeros: a few hundred bytes compressed
    monkeypatch.setattr(sources, "MAX_MEMBER_BYTES", 100_000)
    source = ImageSource(archive)
    with pytest.raises(ImageReadError, match=r"decompresses to 200,000 bytes, more than the 100,000.*zip bomb"):
        source.read_bytes(0)
