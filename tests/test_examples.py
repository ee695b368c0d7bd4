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
