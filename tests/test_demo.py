"""The bundled ``demo`` model: shipped in the package, loaded offline, used by the CLI by default."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dpinpaint import Inpainter, get_preset, list_models
from dpinpaint.checkpoint import read_config
from dpinpaint.cli import main
from dpinpaint.errors import CheckpointError, ModelNotFoundError
from dpinpaint.hub import PRETRAINED, bundled_folder, resolve_checkpoint
from dpinpaint.metrics import psnr

ROOT = Path(__file__).resolve().parents[1]
DEMO_IMAGES = ROOT / "docs" / "images" / "demo"
PHOTO, MASK, AFTER = DEMO_IMAGES / "photo.png", DEMO_IMAGES / "mask.png", DEMO_IMAGES / "after.png"


@pytest.fixture(scope="module")
def demo() -> Inpainter:
    return Inpainter.from_pretrained("demo", device="cpu")


def test_bundled_files_are_small_safetensors_of_the_demo_preset() -> None:
    folder = bundled_folder("demo")
    assert folder.parent.parent == ROOT / "dpinpaint"  # inside the package
    weights = folder / "model.safetensors"
    assert weights.stat().st_size <= 15 * 2**20
    assert weights.read_bytes()[8:9] == b"{"  # a safetensors header, not a pickle
    assert read_config(folder) == get_preset("demo")
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert "w/o Inv-Path" in card and "feed-forward" in card and "scikit-image" in card


def test_demo_is_listed_as_bundled() -> None:
    models = {m.name: m for m in list_models()}
    assert models["demo"].bundled and models["demo"].repo_id is None
    assert not models["ffhq-256"].bundled
    assert "(bundled, offline)" in str(models["demo"])


def test_resolve_demo_is_the_package_folder_whatever_the_hub_settings(tmp_path: Path) -> None:
    folder = resolve_checkpoint("demo", cache_dir=tmp_path / "no-cache", local_files_only=True)
    assert folder == bundled_folder("demo")
    assert not (tmp_path / "no-cache").exists()  # the Hub cache is never touched


def test_demo_refuses_revisions_and_variants() -> None:
    with pytest.raises(ModelNotFoundError, match="no revisions"):
        resolve_checkpoint("demo", revision="main")
    with pytest.raises(CheckpointError, match="float32 only"):
        resolve_checkpoint("demo", variant="fp16")
    with pytest.raises(ModelNotFoundError, match="not a bundled model"):
        bundled_folder("ffhq-256")


def test_a_folder_named_like_the_model_does_not_hide_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "demo").mkdir()  # e.g. a user's folder of pictures
    (tmp_path / "demo" / "holiday.jpg").write_bytes(b"not a checkpoint")
    assert resolve_checkpoint("demo") == bundled_folder("demo")
    # ... but a real checkpoint folder of that name is the user's explicit choice.
    Inpainter.from_config("tiny", device="cpu").save_pretrained(tmp_path / "demo")
    assert resolve_checkpoint("demo") == Path("demo")
    assert resolve_checkpoint("./demo") == Path("demo")


def test_an_incomplete_install_says_to_reinstall(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import dpinpaint.registry as registry

    monkeypatch.setattr(registry, "_BUNDLED_ROOT", tmp_path)
    (tmp_path / "demo").mkdir()
    with pytest.raises(CheckpointError, match="reinstall dpinpaint"):
        Inpainter.from_pretrained("demo")


def _hole_psnr(gt: np.ndarray, out: np.ndarray, hole: np.ndarray) -> float:
    return psnr(gt[hole][None], out[hole][None])


@pytest.mark.slow
def test_demo_weights_are_learned_on_a_held_out_photo(demo: Inpainter) -> None:
    """A held-out photo (scikit-image's coffee, never trained on) with a 20-30% irregular hole.

    The network's own fill (``blend="none"``) is far better trained than untrained (17.9 dB in the
    hole against 8.7); blended into the photo as by default, it beats the mean colour (11.6) and
    OpenCV's Telea (16.9) with 18.1 dB.
    """
    skdata = pytest.importorskip("skimage.data")
    from dpinpaint.masks import generate_mask

    photo = np.ascontiguousarray(skdata.coffee()[:256, 150:406])  # (256, 256, 3) uint8
    hole = generate_mask(256, 256, kind="irregular", ratio=(0.2, 0.3), rng=np.random.default_rng(3))
    out = demo.inpaint(photo, hole)
    assert out.shape == photo.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], photo[~hole])  # observed pixels bit-identical
    raw = demo.inpaint(photo, hole, blend="none")
    untrained = Inpainter.from_config("demo", seed=0, device="cpu").inpaint(photo, hole, blend="none")
    assert _hole_psnr(photo, raw, hole) > _hole_psnr(photo, untrained, hole) + 5.0
    mean_fill = photo.copy()
    mean_fill[hole] = photo[~hole].mean(axis=0).round().astype(np.uint8)
    ours = _hole_psnr(photo, out, hole)
    assert ours > _hole_psnr(photo, raw, hole)  # the blend removes the fill's offset at the hole's edge
    assert ours > _hole_psnr(photo, mean_fill, hole) + 3.0
    telea = cv2.inpaint(photo, hole.astype(np.uint8) * 255, 3, cv2.INPAINT_TELEA)
    assert ours > _hole_psnr(photo, telea, hole)


@pytest.mark.slow
def test_offline_subprocess_loads_demo_and_inpaints_a_held_out_photo(tmp_path: Path) -> None:
    """``HF_HUB_OFFLINE=1``, an unreachable endpoint and an empty HF_HOME: demo still loads and inpaints."""
    pytest.importorskip("skimage")
    script = textwrap.dedent(
        """
        import json, sys
        import numpy as np
        from skimage import data
        from dpinpaint import Inpainter
        from huggingface_hub import constants
        inp = Inpainter.from_pretrained("demo")
        photo = data.chelsea()  # (300, 451, 3): held out from the demo's training photos
        mask = np.zeros(photo.shape[:2], bool)
        mask[120:170, 200:260] = True
        out = inp.inpaint(photo, mask)
        print(json.dumps({"offline": constants.HF_HUB_OFFLINE, "shape": list(out.shape),
                          "kept": bool((out[~mask] == photo[~mask]).all()),
                          "changed": bool((out[mask] != photo[mask]).any()),
                          "filled_mean": float(out[mask].mean()), "model": inp.config.name}))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HUB_OFFLINE="1", HF_ENDPOINT="http://127.0.0.1:9", HF_HOME=str(tmp_path / "hf"))
    run = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    facts = json.loads(run.stdout.strip().splitlines()[-1])
    assert facts["offline"] is True and facts["model"] == "demo"
    assert facts["shape"] == [300, 451, 3] and facts["kept"] and facts["changed"]
    assert 20 < facts["filled_mean"] < 235  # a fill from the surroundings, not black or white
    assert not (tmp_path / "hf").exists()


def test_cli_uses_demo_when_model_is_not_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded: list[str] = []
    original = Inpainter.from_pretrained.__func__  # type: ignore[attr-defined]

    def spy(cls: type[Inpainter], name_or_path: str, **kwargs: object) -> Inpainter:
        loaded.append(name_or_path)
        return original(cls, name_or_path, **kwargs)

    monkeypatch.setattr(Inpainter, "from_pretrained", classmethod(spy))
    status = main(["inpaint", str(PHOTO), "--mask", str(MASK), "--output", str(tmp_path), "--json"])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    assert loaded == ["demo"]
    record = json.loads(captured.out.strip().splitlines()[-1])
    assert record["status"] == "ok"
    photo, result = np.asarray(Image.open(PHOTO).convert("RGB")), np.asarray(Image.open(tmp_path / "photo.png"))
    hole = np.asarray(Image.open(MASK).convert("L")) > 127
    assert result.shape == photo.shape and np.array_equal(result[~hole], photo[~hole])
    assert not np.array_equal(result[hole], photo[hole])


@pytest.mark.slow
def test_readme_command_reproduces_the_readme_picture(tmp_path: Path) -> None:
    """The README's main command writes ``after.png`` as committed (up to float rounding across CPUs)."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = (
        "dpinpaint inpaint docs/images/demo/photo.png --mask docs/images/demo/mask.png --output inpainted --overwrite"
    )
    assert command in readme
    args = [
        "inpaint",
        str(PHOTO),
        "--mask",
        str(MASK),
        "--output",
        str(tmp_path / "inpainted"),
        "--quiet",
        "--overwrite",
    ]
    assert main(args) == 0
    assert main(args) == 0  # run twice, as a user following the README again would
    made = np.asarray(Image.open(tmp_path / "inpainted" / "photo.png")).astype(int)
    committed = np.asarray(Image.open(AFTER)).astype(int)
    assert made.shape == committed.shape
    diff = np.abs(made - committed)
    assert diff.max() <= 2 and diff.mean() < 0.05


def test_the_documented_recipe_uses_every_demo_config_in_one_chain() -> None:
    """docs/demo.md trains from each ``examples/demo/*.json`` once, each run from the previous one's
    ``final/``, and ships the last; every config loads and trains the ``demo`` preset."""
    from dpinpaint.train.config import TrainConfig

    doc = (ROOT / "docs" / "demo.md").read_text(encoding="utf-8")
    runs = re.findall(r"^dpinpaint train examples/demo/(\S+\.json)(?: --init (\S+))? .*--output (\S+)$", doc, re.M)
    configs = sorted(p.name for p in (ROOT / "examples" / "demo").glob("*.json"))
    assert sorted(name for name, _, _ in runs) == configs and len(runs) == len(configs)
    assert runs[0][1] == ""  # the first run starts from random weights
    for (_, _, previous), (_, init, _) in itertools.pairwise(runs):
        assert init == f"{previous}/final"
    assert f"cp {runs[-1][2]}/final/config.json {runs[-1][2]}/final/model.safetensors dpinpaint/pretrained/demo/" in doc
    for name in configs:
        config = TrainConfig.from_json(ROOT / "examples" / "demo" / name)
        assert config.model == get_preset("demo") and config.stage1_steps == 0 and config.stage2_steps > 0


def test_download_and_list_commands_know_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["download", "demo"]) == 0
    assert "bundled with dpinpaint: nothing to download" in capsys.readouterr().out
    assert main(["list"]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.split()[0] == "demo" and "bundled" in first
    assert PRETRAINED["demo"].bundled


@pytest.mark.slow
def test_wheel_ships_the_demo(tmp_path: Path) -> None:
    """``pip install .`` (not editable) must carry the weights and the model card."""
    run = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path / "wheel"), str(ROOT)],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )  # fmt: skip
    if run.returncode and ("No matching distribution" in run.stderr or "Could not find a version" in run.stderr):
        pytest.skip(f"pip cannot fetch the build backend (no package index?): {run.stderr.strip()[-200:]}")
    assert run.returncode == 0, run.stderr
    (wheel,) = (tmp_path / "wheel").glob("dpinpaint-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        weights = archive.getinfo("dpinpaint/pretrained/demo/model.safetensors")
    for name in ("config.json", "model.safetensors", "README.md"):
        assert f"dpinpaint/pretrained/demo/{name}" in names
    assert (weights.external_attr >> 16) & 0o444 == 0o444  # readable by everyone once installed


def test_evaluate_defaults_to_demo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    Image.open(PHOTO).save(data / "photo.png")
    args = ["evaluate", "--data", str(data), "-o", str(tmp_path / "report"), "--groups", "10-20", "--no-fid", "-q"]
    assert main(args) == 0, capsys.readouterr().err
    meta = json.loads((tmp_path / "report" / "report.json").read_text(encoding="utf-8"))["meta"]
    assert meta["model"] == "demo" and meta["size"] == 128 and meta["baselines"] == []
    # Only baselines: no model is loaded.
    assert main([*args[:4], str(tmp_path / "baseline"), *args[5:], "--baseline", "opencv-ns"]) == 0
    meta = json.loads((tmp_path / "baseline" / "report.json").read_text(encoding="utf-8"))["meta"]
    assert meta["model"] is None and meta["baselines"] == ["opencv-ns"]
