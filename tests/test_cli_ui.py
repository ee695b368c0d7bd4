"""``dpinpaint ui``'s command line: what it refuses before any page is served."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from dpinpaint.cli import main


def test_a_bad_model_fails_before_the_page_is_served(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("gradio")
    missing = tmp_path / "no-such-checkpoint"
    assert main(["ui", "--model", str(missing), "--no-cached", "--port", "7999"]) == 2
    assert "no-such-checkpoint" in capsys.readouterr().err


def test_bad_limits_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ui", "--port", "70000"]) == 2
    assert "--port must be in 1..65535" in capsys.readouterr().err
    assert main(["ui", "--max-upload-mb", "0"]) == 2
    assert "max_upload_mb must be > 0" in capsys.readouterr().err


def test_without_gradio_it_says_what_to_install() -> None:
    code = "import sys; sys.modules['gradio'] = None; from dpinpaint.cli import main; sys.exit(main(['ui']))"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert 'pip install "dpinpaint[ui]"' in run.stderr
