"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_dual_path_forward_example_writes_the_panels(tmp_path: Path) -> None:
    out = tmp_path / "paths.png"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "dual_path_forward.py"), "--preset", "tiny", "--output", str(out)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    with Image.open(out) as img:
        assert img.size == (4 * 64, 64)  # masked input | I_s | I_g | output
    assert "deformable fusion offsets at [32, 64]" in proc.stdout


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_inpaint_image_example(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    proc = _run([str(ROOT / "examples" / "inpaint_image.py"), "--synthetic", "--output", str(out)], tmp_path)
    with Image.open(out) as img:
        assert img.size == (641, 427)
    assert "strategy: crop" in proc.stdout and proc.stdout.count("window at") == 2


@pytest.mark.slow
def test_batch_inpaint_example(tmp_path: Path) -> None:
    proc = _run([str(ROOT / "examples" / "batch_inpaint.py"), "--synthetic", "--output", str(tmp_path / "o")], tmp_path)
    assert "inpainted 5 image(s)" in proc.stdout
    for i in range(5):
        with (
            Image.open(tmp_path / "o" / f"img{i}.png") as out,
            Image.open(tmp_path / "o" / "inputs" / f"img{i}.png") as src,
        ):
            assert out.size == src.size


def test_mask_conventions_example_draws_the_docs_picture(tmp_path: Path) -> None:
    out = tmp_path / "mask.png"
    _run([str(ROOT / "examples" / "mask_conventions.py"), "--output", str(out)], tmp_path)
    with Image.open(out) as new, Image.open(ROOT / "docs" / "images" / "mask_convention.png") as committed:
        assert new.size == committed.size
        assert new.tobytes() == committed.tobytes()  # the picture in docs/api.md is what the code does


def _retrain_module(name: str, monkeypatch: pytest.MonkeyPatch, folder: str = "demo/retrain") -> Any:
    """``examples/FOLDER/NAME.py`` loaded as a module, its folder on the path (for its siblings)."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT / "examples" / folder))
    spec = importlib.util.spec_from_file_location(name, ROOT / "examples" / folder / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def _gather_module():  # type: ignore[no-untyped-def]
    import importlib.util

    spec = importlib.util.spec_from_file_location("gather_photos", ROOT / "examples" / "demo" / "gather_photos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_demo_photo_augmentation_is_seeded_square_and_varied() -> None:
    import numpy as np

    gather = _gather_module()
    y, x = np.mgrid[0:300, 0:451]
    photo = Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8))
    first = gather.augment(photo, 128, 6, 0.3, np.random.default_rng(0))
    again = gather.augment(photo, 128, 6, 0.3, np.random.default_rng(0))
    assert [im.size for im in first] == [(128, 128)] * 6
    assert all(a.tobytes() == b.tobytes() for a, b in zip(first, again, strict=True))
    assert len({im.tobytes() for im in first}) == 6  # different crops, scales and flips


def test_demo_training_photos_refuse_a_held_out_photo(tmp_path: Path) -> None:
    """A held-out photo slipped into the training set (even re-encoded and resized) is caught."""
    import pytest

    pytest.importorskip("skimage")
    gather = _gather_module()
    held = gather.heldout_folder("skimage") / "coffee.png"
    copy = tmp_path / "innocent.jpg"
    with Image.open(held) as im:
        im.resize((im.width // 2, im.height // 2)).save(copy, quality=85)
    other = tmp_path / "other.png"
    Image.fromarray(np.zeros((200, 200, 3), np.uint8) + 40).save(other)
    gather.check_disjoint([other], [held])  # unrelated: fine
    with pytest.raises(SystemExit, match="looks like the held-out photo"):
        gather.check_disjoint([other, copy], [held])
    assert {pkg for pkg, _ in gather.HELDOUT_PHOTOS} == {"skimage", "sklearn", "matplotlib"}
    assert not {name for _, name in gather.HELDOUT_PHOTOS} & {p.rsplit("/", 1)[-1] for p in gather.OPENCV_PHOTOS}


def _photo(path: Path, seed: int, size: tuple[int, int] = (300, 200)) -> Path:
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (4, 6, 3)).astype(np.uint8)  # blocky, so thumbnails differ a lot
    Image.fromarray(small).resize(size, Image.Resampling.NEAREST).save(path)
    return path


def test_demo_photos_split_by_photo_keeping_near_duplicates_together(tmp_path: Path) -> None:
    gather = _gather_module()
    held = _photo(tmp_path / "held.png", 99)
    look_alike = tmp_path / "look_alike.jpg"
    with Image.open(held) as im:
        im.resize((150, 100)).save(look_alike, quality=85)
    items = [("opencv-doc", _photo(tmp_path / f"cv{i}.png", i)) for i in range(3)]
    items += [("pkg", _photo(tmp_path / f"p{i}.png", 10 + i)) for i in range(30)]
    twin = tmp_path / "p0_twin.jpg"
    with Image.open(tmp_path / "p0.png") as im:
        im.resize((240, 160)).save(twin, quality=90)
    items += [("other", twin), ("pkg", look_alike)]
    split = gather.split_photos(items, [held])
    assert split == gather.split_photos(items, [held])  # deterministic
    assert all(split[p] == "train" for pkg, p in items if pkg == "opencv-doc")
    assert split[twin] == split[tmp_path / "p0.png"]  # a near-duplicate follows its first look-alike
    assert split[look_alike].startswith("dropped (looks like the held-out held.png")
    shares = [split[p] for pkg, p in items if pkg == "pkg" and p != look_alike]
    assert 0 < shares.count("validation") < len(shares)  # both splits get photos
    assert gather.photo_name("scribus-template", "/usr/share/scribus/templates/br2/moon.jpg") == (
        "scribus-template_br2_moon.jpg"
    )


def test_demo_training_crops_of_a_folder(tmp_path: Path) -> None:
    gather = _gather_module()
    (tmp_path / "photos").mkdir()
    for i in range(2):
        _photo(tmp_path / "photos" / f"a{i}.png", i, (400, 300))
    summary = gather.gather_crops(tmp_path / "photos", tmp_path / "crops", 64, 3, 0.3, 0)
    files = sorted((tmp_path / "crops").iterdir())
    assert summary["images"] == len(files) == 6
    assert all(Image.open(f).size == (64, 64) for f in files)


def test_full_size_test_photos_fit_1920x1080_and_are_never_enlarged(tmp_path: Path) -> None:
    gather = _gather_module()
    source = tmp_path / "nature"
    source.mkdir()
    for i, name in enumerate(gather.WALLPAPER_PHOTOS):
        _photo(source / name, i, (2560, 1600) if i % 2 else (800, 600))
    summary = gather.gather_wallpapers(tmp_path / "full", source)
    assert summary["photos"] == 12 and summary["sizes"][:2] == ["800x600", "1728x1080"]
    assert sorted(p.name for p in (tmp_path / "full").iterdir())[0] == "mate-backgrounds_Aqua.png"
    (source / "Wood.jpg").unlink()
    with pytest.raises(SystemExit, match="apt-get install mate-backgrounds"):
        gather.gather_wallpapers(tmp_path / "again", source)


def test_wildlife_validation_photos_come_out_of_a_qt_resource_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The WebP images stored in a resource file are found among other bytes (a RIFF chunk that is
    not WebP is skipped); icons below MIN_PHOTO_SIDE are left out; a missing file says what to install."""
    import io

    import numpy as np

    full = _retrain_module("gather_full_size", monkeypatch, folder="demo")
    blobs = []
    for size in ((640, 520), (64, 64), (700, 600)):
        buffer = io.BytesIO()
        pixels = (np.random.default_rng(size[0]).random((size[1], size[0], 3)) * 255).astype(np.uint8)
        Image.fromarray(pixels).save(buffer, format="WEBP", lossless=True)
        blobs.append(buffer.getvalue())
    wave = b"RIFF" + (4).to_bytes(4, "little") + b"WAVE"
    (tmp_path / "erase.rcc").write_bytes(b"qres\0junk" + blobs[0] + wave + b"x" * 7 + blobs[1] + blobs[2] + b"tail")
    assert [im.size for im in full.webp_images((tmp_path / "erase.rcc").read_bytes())] == [
        (640, 520),
        (64, 64),
        (700, 600),
    ]
    summary = full.gather_wildlife(tmp_path / "out", tmp_path / "erase.rcc")
    assert summary["photos"] == 2 and summary["sizes"] == ["640x520", "700x600"]
    first = np.asarray(Image.open(tmp_path / "out" / "gcompris-erase_000.png"))
    assert first.shape == (520, 640, 3) and np.array_equal(first, np.asarray(Image.open(io.BytesIO(blobs[0]))))
    with pytest.raises(SystemExit, match="apt-get install gcompris-qt-data"):
        full.gather_wildlife(tmp_path / "again", tmp_path / "missing.rcc")


def test_second_full_size_test_set_fits_1920x1080(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    full = _retrain_module("gather_full_size", monkeypatch, folder="demo")
    for i, name in enumerate(full.LOMIRI_PHOTOS):
        _photo(tmp_path / name, i, (4000, 3000) if i % 2 else (1365, 1074))
    summary = full.gather_lomiri(tmp_path / "test", tmp_path)
    assert summary["photos"] == len(full.LOMIRI_PHOTOS) == 14
    assert summary["sizes"][:2] == ["1365x1074", "1440x1080"]
    (tmp_path / full.LOMIRI_PHOTOS[0]).unlink()
    with pytest.raises(SystemExit, match=r"apt-get install lomiri-wallpapers-16\.04"):
        full.gather_lomiri(tmp_path / "again", tmp_path)


def test_the_demo_retraining_recipe_is_one_phased_config_at_any_scale() -> None:
    """examples/demo/retrain/recipe.json is one run (phases, not a chain of --init runs) on PICNet's
    layout with thin damage and snapshots; scale_recipe.py keeps it valid at any number of steps."""
    import json
    import subprocess

    from dpinpaint.train.config import TrainConfig

    folder = ROOT / "examples" / "demo" / "retrain"
    config = TrainConfig.from_json(folder / "recipe.json")
    assert config.model.feedforward.layout == "picnet" and not config.model.uses_inversion
    assert config.phases and sum(p.steps for p in config.phases) == config.stage2_steps
    assert config.thin_probability > 0 and config.snapshot_every > 0 and config.lambda_adv > 0
    for steps in (4, 7, 1000, 12345):
        out = subprocess.run(
            [sys.executable, str(folder / "scale_recipe.py"), str(folder / "recipe.json"), "--steps", str(steps),
             "--set", "precision=fp32", "--set", "workers=0"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        scaled = TrainConfig.from_dict(json.loads(out))
        assert scaled.stage2_steps == steps and sum(p.steps for p in scaled.phases) == steps
        assert scaled.precision == "fp32" and scaled.workers == 0 and scaled.snapshot_every >= 1
        shares = [p.steps / steps for p in scaled.phases]
        if steps >= 1000:  # each phase keeps its share
            assert all(
                abs(a - p.steps / config.stage2_steps) < 0.01 for a, p in zip(shares, config.phases, strict=True)
            )
    assert subprocess.run(["bash", "-n", str(folder / "train_gpu.sh")], check=False).returncode == 0


def test_the_cpu_run_config_is_the_scaled_recipe_and_then_a_restart() -> None:
    """examples/demo/retrain/recipe-cpu.json, the config of the CPU run, is recipe.json scaled to
    6,000 steps for the CPU (docs/demo.md's command) followed by phases that restart the learning
    rate and decay it again: one config, one run from scratch."""
    import json
    import subprocess

    from dpinpaint.train.config import TrainConfig

    folder = ROOT / "examples" / "demo" / "retrain"
    cpu = TrainConfig.from_json(folder / "recipe-cpu.json")
    sets = ["precision=fp32", "batch_size=8", "workers=1", "checkpoint_every=200"]
    out = subprocess.run(
        [sys.executable, str(folder / "scale_recipe.py"), str(folder / "recipe.json"), "--steps", "6000",
         "--snapshots", "12", *[a for s in sets for a in ("--set", s)]],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    scaled = TrainConfig.from_dict(json.loads(out))
    first = cpu.phases[: len(scaled.phases)]
    assert first == scaled.phases
    assert cpu.replace(phases=first, stage2_steps=scaled.stage2_steps) == scaled  # every other field as documented
    later = cpu.phases[len(scaled.phases) :]
    assert later and sum(p.steps for p in cpu.phases) == cpu.stage2_steps
    rates = [p.lr for p in later if p.lr is not None]
    assert len(rates) == len(later)  # each later phase sets its own rate
    assert rates[0] > (scaled.phases[-1].lr or 0.0)  # a restart ...
    assert rates == sorted(rates, reverse=True)  # ... then a decay


@pytest.mark.slow
def test_choosing_a_snapshot_scores_each_on_the_validation_photos(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """choose_snapshot.py evaluates every snapshot against the three baselines and picks by wins."""
    import json

    from dpinpaint import Inpainter
    from dpinpaint.config import get_preset

    for step, seed in ((100, 1), (200, 2)):
        inp = Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=seed)
        inp.save_pretrained(tmp_path / "snapshots" / f"step-{step:08d}")
    (tmp_path / "snapshots" / "not-a-snapshot").mkdir()
    (tmp_path / "validation").mkdir()
    for i in range(2):
        _photo(tmp_path / "validation" / f"v{i}.png", i, (120, 90))
    module = _retrain_module("choose_snapshot", monkeypatch)  # its dataclass looks itself up in sys.modules
    argv = [str(tmp_path / "snapshots"), str(tmp_path / "validation"), "--output", str(tmp_path / "choose")]
    assert module.main(argv) == 0
    scores = json.loads((tmp_path / "choose" / "choice.json").read_text())
    assert [s["name"] for s in scores] == ["step-00000100", "step-00000200"]
    assert all(s["comparisons"] == 20 and s["scratch_photos"] == 2 for s in scores)
    best = max(scores, key=lambda s: (s["wins"], s["scratch_wins"], s["hole_margin"]))
    table = (tmp_path / "choose" / "choice.md").read_text()
    assert f"| {best['name']} **chosen** |" in table and table.count("**chosen**") == 1

    def no_new_runs(*args: object, **kwargs: object) -> None:
        raise AssertionError("scored again")

    monkeypatch.setattr(sys.modules["scoring"], "evaluate", no_new_runs)  # the saved scores are read back
    assert module.main([*argv, "--last", "1"]) == 0
    assert [s["name"] for s in json.loads((tmp_path / "choose" / "choice.json").read_text())] == ["step-00000200"]
    with pytest.raises(AssertionError, match="scored again"):  # another protocol (fewer photos): run again
        module.main([*argv, "--num", "1"])
    monkeypatch.setattr(sys.modules["scoring"], "_inference_code", lambda: "changed")
    with pytest.raises(AssertionError, match="scored again"):  # the same protocol, other inference code
        module.main([*argv, "--last", "1"])


@pytest.mark.slow
def test_scoring_on_the_test_photos_reports_every_bar(tmp_path: Path) -> None:
    """score_test.py runs the four kinds of test (irregular at 256 and 768, scratches and text) and
    writes every bar, passed or not, with the figures behind it."""
    import json

    from dpinpaint import Inpainter
    from dpinpaint.config import get_preset

    model = tmp_path / "model"
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(model)
    for folder, size in (("heldout", (120, 90)), ("full", (200, 150))):
        (tmp_path / folder).mkdir()
        for i in range(2):
            _photo(tmp_path / folder / f"p{i}.png", i, size)
    args = [str(model), "--heldout", str(tmp_path / "heldout"), "--full", str(tmp_path / "full")]
    _run(
        [str(ROOT / "examples" / "demo" / "retrain" / "score_test.py"), *args, "--output", str(tmp_path / "t")],
        tmp_path,
    )
    report = (tmp_path / "t" / "test.md").read_text()
    bars = [line for line in report.splitlines() if line.startswith("- [")]
    assert len(bars) == 5, report  # 256, 768, time at 768, scratches, text
    assert "every comparison won" in bars[0] and "at most 1000 ms per image" in bars[2]
    assert "scratch on full-size photos" in bars[3] and "text on full-size photos" in bars[4]
    record = json.loads((tmp_path / "t" / "test.json").read_text())
    assert len(record["irregular-256"]) == len(record["irregular-768"]) == 20
    assert [len(record[k]) for k in ("scratch-full-size", "text-full-size", "scratch-held-out")] == [2, 2, 2]
    assert "| median |" in report and any(f"({b})" in report for b in ("Telea", "NS", "biharmonic"))
    picture = Image.open(tmp_path / "t" / "thin.png")  # scratch and text rows of four 150x200 panels
    assert "![A scratch and text strokes" in report and picture.size == (4 * 200 + 3 * 6, 2 * (150 + 16) + 6)


@pytest.mark.slow
def test_tuning_flat_contrast_scores_every_value_on_every_validation_folder(tmp_path: Path) -> None:
    """tune_flat.py writes one row per value with, per folder and kind, the photos better than Telea
    and the mean margin; the baselines run once per folder and kind, not once per value."""
    from dpinpaint import Inpainter
    from dpinpaint.config import get_preset

    model = tmp_path / "model"
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(model)
    for folder in ("val", "wild"):
        (tmp_path / folder).mkdir()
        for i in range(2):
            _photo(tmp_path / folder / f"p{i}.png", i, (120, 90))
    script = str(ROOT / "examples" / "demo" / "retrain" / "tune_flat.py")
    args = [script, str(model), str(tmp_path / "val"), str(tmp_path / "wild"), "--values", "0,0.02"]
    _run([*args, "--output", str(tmp_path / "t")], tmp_path)
    table = (tmp_path / "t" / "flat.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| 0")]
    assert [r.split(" | ")[0] for r in rows] == ["| 0", "| 0.02"], table
    assert all(r.count("/2, ") == 4 and r.count("(NS ") == 4 for r in rows), table
    assert sorted(p.name for p in (tmp_path / "t" / "val").iterdir()) == [
        "scratch-0",
        "scratch-0.02",
        "scratch-baselines",
        "text-0",
        "text-0.02",
        "text-baselines",
    ]
    with pytest.raises(AssertionError, match="expected numbers >= 0"):
        _run([*args[:-1], "-1", "--output", str(tmp_path / "u")], tmp_path)


def test_the_thin_damage_picture_shows_where_the_strokes_are_densest(monkeypatch: pytest.MonkeyPatch) -> None:
    picture = _retrain_module("thin_picture", monkeypatch)
    hole = np.zeros((300, 500), bool)
    hole[200:240, 330:420] = True  # the densest patch
    hole[10:12, :] = True  # a long thin line elsewhere
    rows, cols = picture.densest_crop(hole, size=(100, 150), step=10)
    assert (rows, cols) == (slice(140, 240), slice(270, 420))  # the first crop, on the grid, holding all of it
    assert picture.densest_crop(hole[:50, :80], size=(100, 150)) == (slice(0, 50), slice(0, 80))


@pytest.mark.slow
def test_tuning_inference_settings_scores_each_candidate_on_validation(tmp_path: Path) -> None:
    """tune_inference.py runs the baselines once and the model once per setting, and marks one choice per table."""
    from dpinpaint import Inpainter
    from dpinpaint.config import get_preset

    model = tmp_path / "model"
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(model)
    (tmp_path / "validation").mkdir()
    for i in range(2):
        _photo(tmp_path / "validation" / f"v{i}.png", i, (160, 120))
    script = ROOT / "examples" / "demo" / "retrain" / "tune_inference.py"
    args = [str(model), str(tmp_path / "validation"), "--output", str(tmp_path / "tune")]
    _run([str(script), *args, "--native-max-sides", "64,128", "--thin-sides", "4,32"], tmp_path)
    report = (tmp_path / "tune" / "tune.md").read_text()
    assert report.count("**chosen**") == 3, report
    assert "| poisson" in report and "| none" in report
    assert "| 64" in report and "| 128" in report and "| 4" in report and "| 32" in report
    # 20 comparisons per blend, per side and per thin side; 2 photos per kind, per blend and per thin side
    assert report.count("/20 |") == 6 and report.count("/2 |") == 8
    for bad, message in (
        (["--thin-sides", "4,0"], "positive numbers"),
        (["--native-max-sides", "64.5"], "whole numbers"),
        (["--blends", "poisson,seamless"], "expected some of"),
    ):
        proc = subprocess.run([sys.executable, str(script), *args, *bad], capture_output=True, text=True, timeout=120)
        assert proc.returncode == 2 and message in proc.stderr  # refused before anything runs
    runs = sorted(p.name for p in (tmp_path / "tune").iterdir() if p.is_dir())
    assert runs == [
        "baselines-768", "blend-none", "blend-poisson", "irregular-thin-32", "irregular-thin-4", "native-128",
        "native-64", "scratch-baselines",
        "scratch-blend-none", "scratch-blend-poisson", "scratch-thin-32", "scratch-thin-4", "text-baselines",
        "text-blend-none", "text-blend-poisson", "text-thin-32", "text-thin-4",
    ]  # fmt: skip
