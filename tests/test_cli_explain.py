"""``dpinpaint explain`` and the inversion options of the command line (in-process through ``main``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from dpinpaint import Inpainter, get_preset
from dpinpaint.cli import main


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("explain")
    Inpainter.from_config("tiny", seed=2, w_avg_samples=64).save_pretrained(root / "model")
    rng = np.random.default_rng(0)
    (root / "in").mkdir()
    for name in ("a", "b"):
        Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8)).save(root / "in" / f"{name}.png")
        mask = np.zeros((70, 90), np.uint8)
        mask[20:45, 30:60] = 255
        Image.fromarray(mask).save(root / "in" / f"{name}_mask.png")
    Image.fromarray(np.zeros((70, 90), np.uint8)).save(root / "empty.png")
    return {"root": root, "model": root / "model", "image": root / "in" / "a.png", "mask": root / "in" / "a_mask.png"}


@pytest.mark.slow
def test_explain_writes_the_figure(files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fig.png"
    base = ["explain", str(files["image"]), "--mask", str(files["mask"]), "--model", str(files["model"])]
    assert main([*base, "--output", str(out)]) == 0
    assert "inversion=learned" in capsys.readouterr().out
    with Image.open(out) as fig:
        assert fig.width > 5 * 256 and fig.height > 256
        first = fig.tobytes()
    other = tmp_path / "other.png"
    assert (
        main(
            [
                *base,
                "-o",
                str(other),
                "--pixel",
                "3,4",
                "--resolution",
                "32",
                "--inversion",
                "hybrid",
                "--steps",
                "2",
                "-q",
            ]
        )
        == 0
    )
    with Image.open(other) as fig:
        assert fig.tobytes() != first
    assert main([*base, "-o", str(tmp_path / "x.png"), "--pixel", "3"]) == 2
    assert main([*base, "-o", str(tmp_path / "x.png"), "--resolution", "16"]) == 2
    empty = ["explain", str(files["image"]), "--mask", str(files["root"] / "empty.png"), "--model", str(files["model"])]
    with pytest.warns(UserWarning, match="empty"):
        assert main([*empty, "-o", str(tmp_path / "x.png")]) == 2
    err = capsys.readouterr().err
    assert "pixel must be X,Y" in err and "resolution must be one of" in err and "nothing to explain" in err
    assert not (tmp_path / "x.png").exists()


def test_explain_feedforward_only_model_names_no_inversion(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Inpainter.from_config(get_preset("tiny").replace(paths="feedforward"), seed=0).save_pretrained(tmp_path / "ff")
    out = tmp_path / "fig.png"
    args = ["explain", str(files["image"]), "--mask", str(files["mask"]), "--model", str(tmp_path / "ff")]
    assert main([*args, "--output", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "feed-forward path only" in printed and "inversion=" not in printed
    assert out.is_file()


@pytest.mark.slow
def test_inpaint_with_optimised_inversion(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = [str(files["root"] / "in"), "--mask", str(files["root"] / "in"), "--model", str(files["model"]), "--json"]
    assert main(["inpaint", *common, "-o", str(tmp_path / "learned")]) == 0
    assert main(["inpaint", *common, "-o", str(tmp_path / "opt"), "--inversion", "optimize", "--steps", "4"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["status"] for r in records] == ["ok"] * 4
    a_learned = np.asarray(Image.open(tmp_path / "learned" / "a.png"))
    a_opt = np.asarray(Image.open(tmp_path / "opt" / "a.png"))
    hole = np.asarray(Image.open(files["mask"])) > 127
    assert np.array_equal(a_learned[~hole], a_opt[~hole]) and not np.array_equal(a_learned[hole], a_opt[hole])
    assert (
        main(["inpaint", *common, "-o", str(tmp_path / "bad"), "--inversion-lr", "-1", "--inversion", "optimize"]) == 2
    )
    assert "lr" in capsys.readouterr().err
