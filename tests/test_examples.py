"""The examples run as documented."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


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


def test_inpaint_image_example(tmp_path: Path) -> None:
    out = tmp_path / "out.png"
    proc = _run([str(ROOT / "examples" / "inpaint_image.py"), "--demo", "--output", str(out)], tmp_path)
    with Image.open(out) as img:
        assert img.size == (641, 427)
    assert "strategy: crop" in proc.stdout and proc.stdout.count("window at") == 2


def test_batch_inpaint_example(tmp_path: Path) -> None:
    proc = _run([str(ROOT / "examples" / "batch_inpaint.py"), "--demo", "--output", str(tmp_path / "o")], tmp_path)
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
