"""End-to-end tests of ``dpinpaint inpaint`` / ``download`` / ``list`` / ``env``.

The must-show runs go through the real console script in subprocesses (started together in
one module fixture so that their start-ups overlap); option checks that stop before the
model loads, and format details, call :func:`dpinpaint.cli.main` in-process.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import signal_when
from PIL import Image, ImageCms, ImageOps

from dpinpaint import Inpainter
from dpinpaint.batch import IMAGE_EXTENSIONS, Pair, select_shard
from dpinpaint.cli import main
from dpinpaint.files import TEMP_SUFFIX
from dpinpaint.ops import torchvision_kernels_available

REPO = Path(__file__).resolve().parents[1]
SCRIPT = Path(sys.executable).parent / "dpinpaint"
ENTRY = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "dpinpaint"]
SUMMARY = re.compile(r"^dpinpaint: (\d+) image\(s\): (\d+) succeeded, (\d+) failed, (\d+) skipped in [\d.]+ s")
RECORD_FIELDS = {
    "input",
    "mask",
    "output",
    "status",
    "seconds",
    "strategy",
    "error",
    "notes",
    "model",
    "revision",
    "dpinpaint",
}
Runs = dict[str, subprocess.CompletedProcess[str]]
SRGB = bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())  # made once: it holds a timestamp


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1", **extra})
    env.pop("FORCE_COLOR", None)
    return env


def _image(path: Path, size: tuple[int, int], mode: str = "RGB", seed: int = 0, **save: Any) -> Path:
    """A smooth random image (``size`` is W, H) saved at ``path`` in the format of its extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (max(2, h // 8), max(2, w // 8), 4), dtype=np.uint8)
    rgba = np.asarray(Image.fromarray(small, "RGBA").resize((w, h), Image.Resampling.BILINEAR))
    im = Image.fromarray(rgba, "RGBA")
    im = im if mode == "RGBA" else im.convert(mode)
    im.save(path, **save)
    return path


def _mask(path: Path, size: tuple[int, int], box: tuple[float, float, float, float] = (0.3, 0.25, 0.6, 0.7)) -> Path:
    """A white rectangle (fractions left, top, right, bottom) on black, ``size`` W, H."""
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size
    arr = np.zeros((h, w), np.uint8)
    arr[int(box[1] * h) : int(box[3] * h), int(box[0] * w) : int(box[2] * w)] = 255
    Image.fromarray(arr).save(path)
    return path


def _hole(mask: Path) -> np.ndarray:
    with Image.open(mask) as im:
        return np.asarray(im) > 127


def _decode(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        im.load()
        return np.asarray(im)


def _records(stdout: str) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    for r in records:
        assert set(r) == RECORD_FIELDS, r
    return records


def _reencoded(notes: list[str]) -> bool:
    """Whether the record says a lossy format re-encoded the output."""
    return any("(lossy)" in n for n in notes)


def _lossless_notes(notes: list[str]) -> list[str]:
    """The notes besides the lossy re-encoding one."""
    return [n for n in notes if "(lossy)" not in n]


def _summary(stderr: str) -> tuple[int, int, int, int]:
    lines = [m for line in stderr.splitlines() if (m := SUMMARY.match(line))]
    assert len(lines) == 1, stderr
    total, ok, failed, skipped = (int(g) for g in lines[0].groups())
    return total, ok, failed, skipped


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.rglob(f"*{TEMP_SUFFIX}"))


# --------------------------------------------------------------------------------------
# The data and the subprocess runs
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    Inpainter.from_config("tiny", seed=0, w_avg_samples=64).save_pretrained(root / "model")

    # mixed/: 3 good images, a corrupt file, a truncated PNG, an image without a mask, a mask of the wrong size.
    mixed = root / "mixed"
    for i, (name, size, mode) in enumerate(
        [("a.png", (90, 70), "RGB"), ("b.jpg", (80, 64), "RGB"), ("c.png", (60, 60), "RGBA")]
    ):
        _image(mixed / name, size, mode, seed=i)
        _mask(mixed / f"{Path(name).stem}_mask.png", size)
    (mixed / "corrupt.png").write_bytes(b"definitely not an image\n" * 20)
    _mask(mixed / "corrupt_mask.png", (20, 20))
    whole = _image(root / "whole.png", (100, 100), seed=9).read_bytes()
    (mixed / "trunc.png").write_bytes(whole[: len(whole) // 2])
    _mask(mixed / "trunc_mask.png", (100, 100))
    _image(mixed / "nomask.png", (50, 50), seed=5)
    _image(mixed / "badmask.png", (50, 50), seed=6)
    _mask(mixed / "badmask_mask.png", (51, 50))

    # good/ + masks/: nested folders, masks by stem or by suffix at the same relative path.
    for i, (name, size, mode, mask_name) in enumerate(
        [
            ("p1.png", (120, 100), "RGB", "p1.png"),
            ("p2.jpg", (70, 90), "RGB", "p2_mask.png"),
            ("sub/p3.png", (64, 64), "L", "sub/p3.png"),
            ("sub/p4.png", (80, 80), "RGBA", "sub/p4_mask.png"),
            ("sub/deep/p5.png", (200, 150), "RGB", "sub/deep/p5.png"),
        ]
    ):
        _image(root / "good" / name, size, mode, seed=10 + i)
        box = (0.1, 0.1, 0.2, 0.2) if name.endswith("p5.png") else (0.3, 0.25, 0.6, 0.7)
        _mask(root / "masks" / mask_name, size, box)
    return root


def _inpaint(data: Path, *args: str) -> list[str]:
    return [*ENTRY, "inpaint", *args, "--model", str(data / "model")]


@pytest.fixture(scope="module")
def runs(data: Path) -> Runs:
    good = [str(data / "good"), "--mask", str(data / "masks"), "--recursive", "--json"]
    hf_home = data / "hf-home"
    hf_home.mkdir()
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        "mixed": (
            _inpaint(data, str(data / "mixed"), "--mask", str(data / "mixed"), "-o", str(data / "out-mixed"), "--json"),
            {},
        ),
        "w0": (_inpaint(data, *good, "-o", str(data / "out-w0"), "--workers", "0", "--batch-size", "1"), {}),
        "w2": (_inpaint(data, *good, "-o", str(data / "out-w2"), "--workers", "2"), {}),
        "b3": (_inpaint(data, *good, "-o", str(data / "out-b3"), "--workers", "2", "--batch-size", "3"), {}),
        "s0": (_inpaint(data, *good, "-o", str(data / "out-shards"), "--shard", "0/2", "--progress"), {}),
        "s1": (_inpaint(data, *good, "-o", str(data / "out-shards"), "--shard", "1/2", "--quiet"), {}),
        "download": ([*ENTRY, "download", str(data / "model")], {}),
        "download-missing": ([*ENTRY, "download", str(data / "no-such-model")], {}),
        "download-offline": ([*ENTRY, "download", "org/not-cached"], {"HF_HOME": str(hf_home)}),
        "list": ([*ENTRY, "list"], {}),
        "list-cached": ([*ENTRY, "list", "--cached"], {"HF_HOME": str(hf_home)}),
        "env": ([*ENTRY, "env"], {}),
        "env-json": ([*ENTRY, "env", "--json"], {"HF_HOME": str(hf_home)}),
        "help": ([*ENTRY, "--help"], {}),
    }
    procs = {
        key: subprocess.Popen(cmd, cwd=data, env=_env(**env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for key, (cmd, env) in commands.items()
    }
    results = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[key] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return results


# --------------------------------------------------------------------------------------
# Must show 1: failures are reported, the rest is written, the exit status is 1
# --------------------------------------------------------------------------------------


def test_folder_with_failures(runs: Runs, data: Path) -> None:
    run = runs["mixed"]
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    out = data / "out-mixed"
    assert [p.name for p in _image_files(out)] == ["a.png", "b.jpg", "c.png"]
    for name in ("a.png", "b.jpg", "c.png"):
        src, res = _decode(data / "mixed" / name), _decode(out / name)
        assert res.shape == src.shape
    assert _temporaries(out) == []

    failed = {line.split(": ")[2]: line for line in run.stderr.splitlines() if line.startswith("dpinpaint: failed: ")}
    mixed = data / "mixed"
    assert set(failed) == {str(mixed / n) for n in ("badmask.png", "corrupt.png", "nomask.png", "trunc.png")}
    assert "not an image file" in failed[str(mixed / "corrupt.png")]
    assert "truncated" in failed[str(mixed / "trunc.png")]
    assert "no mask found" in failed[str(mixed / "nomask.png")]
    assert "differs from image size" in failed[str(mixed / "badmask.png")]
    assert _summary(run.stderr) == (7, 3, 4, 0)
    assert run.stderr.strip().splitlines()[-1].startswith("dpinpaint: 7 image(s)")  # the summary comes last
    assert "%|" not in run.stderr  # no progress bar: stderr is not a terminal

    records = _records(run.stdout)
    assert [Path(r["input"]).name for r in records] == [
        "a.png",
        "b.jpg",
        "badmask.png",
        "c.png",
        "corrupt.png",
        "nomask.png",
        "trunc.png",
    ]
    for r in records:
        name = Path(r["input"]).name
        if name in ("a.png", "b.jpg", "c.png"):
            assert r["status"] == "ok" and r["error"] is None
            assert _lossless_notes(r["notes"]) == [] and _reencoded(r["notes"]) == name.endswith(".jpg")
            assert r["output"] == str(out / name) and r["mask"] == str(mixed / f"{Path(name).stem}_mask.png")
            assert r["strategy"] == "resize" and r["seconds"] > 0
        else:
            assert r["status"] == "failed" and r["output"] is None and r["strategy"] is None
            assert r["error"] and r["error"] in failed[r["input"]]
    assert next(r for r in records if r["input"].endswith("nomask.png"))["mask"] is None


def test_unmasked_pixels_are_unchanged(runs: Runs, data: Path) -> None:
    assert runs["w0"].returncode == 0, runs["w0"].stderr
    checked = 0
    for rel, mask in [
        ("p1.png", "p1.png"),
        ("sub/p3.png", "sub/p3.png"),
        ("sub/p4.png", "sub/p4_mask.png"),
        ("sub/deep/p5.png", "sub/deep/p5.png"),
    ]:
        src, res, hole = _decode(data / "good" / rel), _decode(data / "out-w0" / rel), _hole(data / "masks" / mask)
        assert res.shape == src.shape and res.dtype == src.dtype, rel
        assert np.array_equal(res[~hole], src[~hole]), rel
        assert not np.array_equal(res[hole], src[hole]), rel
        if res.ndim == 3 and res.shape[2] == 4:
            assert np.array_equal(res[..., 3], src[..., 3])  # alpha kept bit for bit
        checked += 1
    assert checked == 4
    strategies = {Path(r["input"]).name: r["strategy"] for r in _records(runs["w0"].stdout)}
    assert strategies["p5.png"] == "crop" and strategies["p1.png"] == "resize"


def test_workers_and_batch_size_give_the_same_outputs(runs: Runs, data: Path) -> None:
    for key in ("w0", "w2", "b3"):
        assert runs[key].returncode == 0, runs[key].stderr
        assert _summary(runs[key].stderr) == (5, 5, 0, 0)
    reference = {p.relative_to(data / "out-w0"): _decode(p) for p in _image_files(data / "out-w0")}
    assert len(reference) == 5
    for key, tolerance in (("w2", 0), ("b3", 1)):
        outputs = {p.relative_to(data / f"out-{key}"): _decode(p) for p in _image_files(data / f"out-{key}")}
        assert outputs.keys() == reference.keys()
        for rel, res in outputs.items():
            diff = np.abs(res.astype(int) - reference[rel].astype(int)).max()
            assert diff <= tolerance, (key, rel, diff)  # batching may move float rounding by one level
        ref_records = [(r["input"], r["output"], r["strategy"]) for r in _records(runs["w0"].stdout)]
        assert [
            (r["input"], r["output"].replace(f"out-{key}", "out-w0"), r["strategy"]) for r in _records(runs[key].stdout)
        ] == ref_records


def test_shards_split_the_folder(runs: Runs, data: Path) -> None:
    done: list[list[str]] = []
    for key in ("s0", "s1"):
        assert runs[key].returncode == 0, runs[key].stderr
        done.append(sorted(Path(r["input"]).relative_to(data / "good").as_posix() for r in _records(runs[key].stdout)))
    everything = sorted(p.relative_to(data / "good").as_posix() for p in _image_files(data / "good"))
    assert sorted(done[0] + done[1]) == everything and not set(done[0]) & set(done[1])
    pairs = [Pair(data / "good" / rel, rel) for rel in everything]
    assert done == [sorted(p.relative for p in select_shard(pairs, k, 2)) for k in range(2)]
    assert (
        sorted(p.relative_to(data / "out-shards").as_posix() for p in _image_files(data / "out-shards")) == everything
    )
    # --progress draws the bar on a pipe; --quiet prints nothing at all when everything succeeds.
    assert "inpainting: 100%|" in runs["s0"].stderr and "image/s" in runs["s0"].stderr
    assert runs["s1"].stderr == ""


# --------------------------------------------------------------------------------------
# Must show 2: SIGKILL part-way, then --skip-existing
# --------------------------------------------------------------------------------------


@pytest.mark.slow
def test_sigkill_then_resume_with_skip_existing(data: Path, tmp_path: Path) -> None:
    count = 72
    src, out = tmp_path / "many", tmp_path / "out"
    _mask(src / "shared_mask.png", (128, 128))
    for i in range(count):
        _image(src / f"img{i:03d}.png", (128, 128), seed=100 + i)
    args = [str(src), "--mask", str(src / "shared_mask.png"), "-o", str(out), "--workers", "0", "--batch-size", "1"]
    with open(tmp_path / "first.log", "w") as log:
        proc = subprocess.Popen(_inpaint(data, *args), env=_env(), stdout=log, stderr=subprocess.STDOUT)
        try:
            finished_first = not signal_when(proc, lambda: out.is_dir() and len(_image_files(out)) >= 4, signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=60)
    if finished_first:
        pytest.skip(f"the run ended (status {proc.returncode}) before it could be killed: machine too fast or too slow")
    assert proc.returncode == -signal.SIGKILL

    first = _image_files(out)
    assert 4 <= len(first) < count + 1, "killed before or after the run?"
    for p in first:  # every file under an image name is complete
        assert _decode(p).shape == (128, 128, 3), p
    stamps = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in first}
    left = _temporaries(out)

    time.sleep(0.05)  # a rewrite would get a later mtime
    again = subprocess.run(
        _inpaint(data, *args, "--skip-existing", "--json"), env=_env(), capture_output=True, text=True, timeout=300
    )
    assert again.returncode == 0, again.stderr
    records = _records(again.stdout)
    assert len(records) == count
    skipped = {r["output"] for r in records if r["status"] == "skipped"}
    assert skipped == {str(p) for p in first}
    assert all(r["status"] == "ok" for r in records if r["status"] != "skipped")
    assert _summary(again.stderr) == (count, count - len(first), 0, len(first))
    if left:
        assert f"removed {len(left)} temporary file(s)" in again.stderr
    for p, stamp in stamps.items():
        assert (p.stat().st_mtime_ns, p.stat().st_ino) == stamp, f"{p} was rewritten"
    final = _image_files(out)
    assert [p.name for p in final] == [f"img{i:03d}.png" for i in range(count)]
    for p in final:
        assert _decode(p).shape == (128, 128, 3)
    assert _temporaries(out) == []


# --------------------------------------------------------------------------------------
# download / list / env / --help
# --------------------------------------------------------------------------------------


def test_download_list_env(runs: Runs, data: Path) -> None:
    run = runs["download"]
    assert run.returncode == 0, run.stderr
    assert "tiny (64x64)" in run.stdout and str(data / "model") in run.stdout

    run = runs["download-missing"]
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "dpinpaint: error: no checkpoint folder at" in run.stderr and "no-such-model" in run.stderr

    run = runs["download-offline"]
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert "org/not-cached" in run.stderr and "offline" in run.stderr

    run = runs["list"]
    assert run.returncode == 0, run.stderr
    assert [line.split()[0] for line in run.stdout.splitlines()] == ["demo", "ffhq-256", "church-256", "cat-256"]
    assert "dpinpaint/ffhq-256" in run.stdout

    run = runs["list-cached"]
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("no ") and "Traceback" not in run.stderr

    run = runs["env"]
    assert run.returncode == 0, run.stderr
    kernels = torchvision_kernels_available()  # False where torchvision's CUDA build cannot load (CPU-only torch)
    assert re.search(rf"^torchvision kernels active:\s+{kernels}$", run.stdout, re.M)
    assert re.search(r"^device \(auto\):\s+cpu$", run.stdout, re.M)

    facts = json.loads(runs["env-json"].stdout)
    assert facts["torchvision kernels active"] is kernels
    assert facts["hub cache"] == str(data / "hf-home" / "hub") and facts["hub offline"] is True
    assert facts["dpinpaint"] and facts["torch"] and facts["device (auto)"] == "cpu"

    run = runs["help"]
    assert run.returncode == 0
    for command in ("inpaint", "download", "list", "env"):
        assert command in run.stdout


def test_list_cached_finds_checkpoints(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot = tmp_path / "hub" / "models--org--tiny" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((data / "model" / name).read_bytes())
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    other = tmp_path / "hub" / "models--org--other" / "snapshots" / ("b" * 40)
    other.mkdir(parents=True)
    (other / "weights.bin").write_bytes(b"x")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
        import huggingface_hub.constants as constants

        mp.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
        assert main(["list", "--cached"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and lines[0].startswith("org/tiny") and "aaaaaaaaaaaa" in lines[0]
    assert "config.json, model.safetensors" in lines[0]


@pytest.mark.parametrize("command", ["inpaint", "download", "list", "env", "info", "presets", "convert"])
def test_help_of_every_subcommand(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith(f"usage: dpinpaint {command}")


# --------------------------------------------------------------------------------------
# In-process: options that stop before the model loads, formats, overwrite
# --------------------------------------------------------------------------------------


def _main(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    status = main(["inpaint", *args])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("shard", ["3/3", "a/b", "1/0", "-1/2", "1/2/3"])
def test_bad_shard_exits_2(data: Path, capsys: pytest.CaptureFixture[str], shard: str) -> None:
    status, out, err = _main(
        capsys,
        str(data / "good"),
        "-m",
        str(data / "masks"),
        "-o",
        str(data / "x"),
        f"--shard={shard}",
        "--model",
        "/no/model",
    )
    assert status == 2 and out == ""
    assert err.startswith("dpinpaint: error: --shard") and repr(shard) in err


@pytest.mark.slow
def test_existing_outputs_stop_before_the_model_loads(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "p1.png").write_bytes(b"old")
    args = [str(data / "good"), "-m", str(data / "masks"), "-o", str(out), "-r"]
    status, _, err = _main(capsys, *args, "--model", str(tmp_path / "no-model"))
    assert status == 2 and "1 output(s) already exist" in err and "--skip-existing" in err and "--overwrite" in err
    assert (out / "p1.png").read_bytes() == b"old"

    # A temporary of this run's outputs left by a killed run is deleted; one of an output this run does
    # not write (another shard may be writing it right now into the same folder) is left alone.
    mine, theirs = out / f".p1.png.k1ll3d{TEMP_SUFFIX}", out / f".zz.png.wr1t1ng{TEMP_SUFFIX}"
    mine.write_bytes(b"half")
    theirs.write_bytes(b"half")
    status, _, err = _main(capsys, *args, "--model", str(data / "model"), "--overwrite", "--workers", "0")
    assert status == 0
    assert err.splitlines()[0] == "dpinpaint: removed 1 temporary file(s) left by an interrupted run"
    assert _decode(out / "p1.png").shape == (100, 120, 3)  # rewritten
    assert len(_image_files(out)) == 5
    assert not mine.exists() and theirs.exists()


def test_quiet_still_reports_failures(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    mixed = data / "mixed"
    status, out, err = _main(
        capsys, str(mixed), "-m", str(mixed), "-o", str(tmp_path), "--model", str(data / "model"), "-q"
    )
    assert status == 1 and out == ""
    assert len([line for line in err.splitlines() if line.startswith("dpinpaint: failed: ")]) == 4
    assert _summary(err) == (7, 3, 4, 0)


def test_output_clashes_and_bad_outputs_exit_2(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "d"
    _image(d / "a.png", (64, 64))
    _image(d / "a.jpg", (64, 64))
    _mask(tmp_path / "m.png", (64, 64))
    status, _, err = _main(
        capsys,
        str(d),
        "-m",
        str(tmp_path / "m.png"),
        "-o",
        str(tmp_path / "o"),
        "--format",
        "png",
        "--model",
        "/no/model",
    )
    assert status == 2 and "would be written twice" in err and "a.png" in err and "a.jpg" in err
    # Even when the two files fall in different shards, which would otherwise race for one output.
    for k in range(2):
        status, _, err = _main(
            capsys,
            str(d),
            "-m",
            str(tmp_path / "m.png"),
            "-o",
            str(tmp_path / "o"),
            "--format",
            "png",
            "--shard",
            f"{k}/2",
            "--model",
            "/no/model",
        )
        assert status == 2 and "would be written twice" in err
    (tmp_path / "file").write_text("x")
    status, _, err = _main(
        capsys, str(d), "-m", str(tmp_path / "m.png"), "-o", str(tmp_path / "file"), "--model", "/no/model"
    )
    assert status == 2 and "is a file" in err
    status, _, err = _main(capsys, str(tmp_path / "nothing"), "-m", str(tmp_path / "m.png"), "-o", str(tmp_path / "o"))
    assert status == 2 and "does not exist" in err
    status, _, err = _main(capsys, str(d), "-m", str(tmp_path / "nomask"), "-o", str(tmp_path / "o"))
    assert status == 2 and "--mask" in err


@pytest.fixture(scope="module")
def formats(data: Path) -> Path:
    """exif.jpg (EXIF orientation 6, a Make tag, an ICC profile), alpha.png (RGBA), icc.png; masks by suffix."""
    d = data / "formats"
    srgb = SRGB
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    exif[0x010F] = "TestCam"
    _image(d / "exif.jpg", (96, 64), seed=1, exif=exif.tobytes(), icc_profile=srgb, quality=95)
    _mask(d / "exif_mask.png", (64, 96))  # drawn on the upright image
    _image(d / "alpha.png", (72, 60), "RGBA", seed=2)
    _mask(d / "alpha_mask.png", (72, 60))
    _image(d / "icc.png", (64, 64), seed=3, icc_profile=srgb)
    _mask(d / "icc_mask.png", (64, 64))
    return d


def _run_formats(
    data: Path, formats: Path, out: Path, capsys: pytest.CaptureFixture[str], *args: str
) -> dict[str, dict[str, Any]]:
    status, stdout, err = _main(
        capsys,
        str(formats),
        "-m",
        str(formats),
        "-o",
        str(out),
        "--model",
        str(data / "model"),
        "--json",
        "--workers",
        "1",
        *args,
    )
    assert status == 0, err
    return {Path(r["input"]).name: r for r in _records(stdout)}


def test_format_same_keeps_format_exif_icc_and_alpha(
    data: Path, formats: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    records = _run_formats(data, formats, tmp_path, capsys)
    assert {n: r["output"] for n, r in records.items()} == {
        n: str(tmp_path / n) for n in ("alpha.png", "exif.jpg", "icc.png")
    }
    srgb = SRGB
    with Image.open(tmp_path / "exif.jpg") as im, Image.open(formats / "exif.jpg") as src_im:
        assert im.format == "JPEG" and im.size == (64, 96)  # upright
        exif = im.getexif()
        assert exif.get(0x010F) == "TestCam" and exif.get(0x0112, 1) == 1
        assert im.info.get("icc_profile") == srgb
        upright = np.asarray(ImageOps.exif_transpose(src_im)).astype(int)
        res = np.asarray(im).astype(int)
    hole = _hole(formats / "exif_mask.png")
    assert np.abs(res[~hole] - upright[~hole]).mean() < 3  # the same (upright) picture, re-encoded
    with Image.open(tmp_path / "alpha.png") as im:
        assert im.format == "PNG" and im.mode == "RGBA"
        assert np.array_equal(np.asarray(im)[..., 3], _decode(formats / "alpha.png")[..., 3])
    with Image.open(tmp_path / "icc.png") as im:
        assert im.info.get("icc_profile") == srgb
    assert all(_lossless_notes(r["notes"]) == [] and r["error"] is None for r in records.values())
    assert {name: _reencoded(r["notes"]) for name, r in records.items()} == {
        name: Path(r["output"]).suffix in (".jpg", ".webp") for name, r in records.items()
    }


def test_format_jpg_png_webp_and_quality(
    data: Path, formats: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sizes = {}
    for quality in ("95", "30"):
        out = tmp_path / f"jpg{quality}"
        records = _run_formats(data, formats, out, capsys, "--format", "jpg", "--quality", quality)
        assert sorted(p.name for p in _image_files(out)) == ["alpha.jpg", "exif.jpg", "icc.jpg"]
        alpha = records["alpha.png"]
        assert alpha["status"] == "ok" and alpha["error"] is None
        assert len(_lossless_notes(alpha["notes"])) == 1 and "alpha dropped" in alpha["notes"][0]
        assert _lossless_notes(records["icc.png"]["notes"]) == []
        assert all(_reencoded(r["notes"]) for r in records.values())
        with Image.open(out / "alpha.jpg") as im:
            assert im.format == "JPEG" and im.mode == "RGB"
        sizes[quality] = sum(p.stat().st_size for p in _image_files(out))
    assert sizes["30"] < 0.7 * sizes["95"]

    for fmt, pil_format in (("png", "PNG"), ("webp", "WEBP")):
        out = tmp_path / fmt
        records = _run_formats(data, formats, out, capsys, "--format", fmt)
        assert sorted(p.name for p in _image_files(out)) == [f"alpha.{fmt}", f"exif.{fmt}", f"icc.{fmt}"]
        with Image.open(out / f"alpha.{fmt}") as im:
            assert im.format == pil_format and im.mode == "RGBA"
        with Image.open(out / f"exif.{fmt}") as im:
            assert im.size == (64, 96) and im.getexif().get(0x010F) == "TestCam"
        assert all(_lossless_notes(r["notes"]) == [] for r in records.values())
        assert all(_reencoded(r["notes"]) == (fmt == "webp") for r in records.values())


def test_a_lossless_webp_stays_lossless(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = _image(tmp_path / "in" / "sticker.webp", (72, 60), mode="RGBA", lossless=True, exact=True)
    lossy = _image(tmp_path / "in" / "photo.webp", (72, 60), quality=90)
    for name in ("sticker", "photo"):
        _mask(tmp_path / "in" / f"{name}_mask.png", (72, 60))
    status, out, err = _main(
        capsys,
        str(tmp_path / "in"),
        "-m",
        str(tmp_path / "in"),
        "-o",
        str(tmp_path / "out"),
        "--model",
        str(data / "model"),
        "--json",
    )
    assert status == 0, err
    records = {Path(r["input"]).name: r for r in _records(out)}
    assert records["sticker.webp"]["notes"] == []  # no "re-encoded (lossy)"
    keep = ~_hole(tmp_path / "in" / "sticker_mask.png")
    assert np.array_equal(_decode(tmp_path / "out" / "sticker.webp")[keep], _decode(image)[keep])
    assert [n for n in records["photo.webp"]["notes"] if "(lossy)" in n and "use --format png" in n]
    assert _decode(tmp_path / "out" / "photo.webp").shape == _decode(lossy).shape


@pytest.mark.slow
def test_output_folder_inside_the_input_folder_is_not_read_back(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = tmp_path / "photos"
    _image(d / "a.png", (64, 64))
    _mask(d / "a_mask.png", (64, 64))
    args = [str(d), "-m", str(d), "-o", str(d / "inpainted"), "-r", "--model", str(data / "model"), "--json"]
    status, out, _ = _main(capsys, *args)
    assert status == 0 and len(_records(out)) == 1
    status, out, err = _main(capsys, *args, "--skip-existing")  # the resume sees a.png only, not inpainted/a.png
    assert status == 0, err
    assert [r["status"] for r in _records(out)] == ["skipped"]


@pytest.mark.slow
def test_output_file_name_for_a_single_image(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = tmp_path / "in"
    image = _image(d / "a.png", (72, 60))
    mask = _mask(tmp_path / "m.png", (72, 60))
    model = ["--model", str(data / "model"), "-q"]
    for name in ("result.png", "sub/result.jpg", "result.webp"):
        status, _, err = _main(capsys, str(image), "-m", str(mask), "-o", str(tmp_path / name), *model)
        assert status == 0, err
        out = tmp_path / name
        assert out.is_file() and not _temporaries(tmp_path)
        with Image.open(out) as im:
            assert im.format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[out.suffix] and im.size == (72, 60)
    # Lossless: every pixel outside the hole is the input's.
    keep = ~_hole(mask)
    assert np.array_equal(_decode(tmp_path / "result.png")[keep], _decode(image)[keep])
    # A folder of one image may name the file too.
    status, _, err = _main(capsys, str(d), "-m", str(mask), "-o", str(tmp_path / "one.png"), *model)
    assert status == 0 and (tmp_path / "one.png").is_file(), err
    # The same existing-output rules as for folders.
    status, _, err = _main(capsys, str(image), "-m", str(mask), "-o", str(tmp_path / "result.png"), *model)
    assert status == 2 and "already exist" in err
    status, _, err = _main(
        capsys, str(image), "-m", str(mask), "-o", str(tmp_path / "result.png"), "--overwrite", *model
    )
    assert status == 0, err
    # The result written into the input folder is not an input of the next run.
    inside = ["-m", str(mask), "-o", str(d / "result.png"), *model]
    assert _main(capsys, str(d), *inside)[0] == 0
    status, _, err = _main(capsys, str(d), *inside, "--overwrite")
    assert status == 0 and (d / "result.png").is_file(), err
    (d / "result.png").unlink()
    # Errors before the model loads: several images, a contradicting --format, the input or the
    # mask itself, an image suffix that is not written.
    _image(d / "b.png", (72, 60), seed=1)
    for args, message in (
        ([str(d), "-o", str(tmp_path / "two.png")], "names one image file, but 2 images"),
        ([str(image), "-o", str(tmp_path / "x.png"), "--format", "jpg"], "contradicts --format jpg"),
        ([str(image), "-o", str(image), "--overwrite"], "is the input image itself"),
        ([str(image), "-o", str(mask), "--overwrite"], "is the mask itself"),
        ([str(image), "-o", str(tmp_path / "x.tif")], "can be written as .png, .jpg, .jpeg, .webp"),
        ([str(mask), "-o", str(tmp_path / "x.png")], "is also the only input image"),
        ([str(image), "-o", ""], "--output is empty"),
        ([str(image), "-o", " "], "--output is empty"),
    ):
        status, _, err = _main(capsys, *args, "-m", str(mask), "--model", "/no/model")
        assert status == 2 and message in err, err
    assert not any((tmp_path / name).exists() for name in ("two.png", "x.png", "x.tif"))
    # An existing folder whose name ends in .png is still a folder, and so is a name ending in /.
    (tmp_path / "dir.png").mkdir()
    for out in (str(tmp_path / "dir.png"), str(tmp_path / "new.png") + "/"):
        status, _, err = _main(capsys, str(image), "-m", str(mask), "-o", out, *model)
        assert status == 0 and (Path(out) / "a.png").is_file(), err


def test_summary_helper() -> None:
    """The summary line the tests look for is the one the command prints."""
    assert _summary("x\ndpinpaint: 3 image(s): 1 succeeded, 1 failed, 1 skipped in 0.1 s\n") == (3, 1, 1, 1)


def test_in_place_with_overwrite(data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _image(tmp_path / "a.png", (64, 64))
    _mask(tmp_path / "a_mask.png", (64, 64))
    before = _decode(tmp_path / "a.png")
    args = [str(tmp_path), "-m", str(tmp_path), "-o", str(tmp_path), "--model", str(data / "model"), "-q"]
    status, _, err = _main(capsys, *args)
    assert status == 2 and "already exist" in err
    status, _, err = _main(capsys, *args, "--overwrite")
    assert status == 0, err
    assert not np.array_equal(_decode(tmp_path / "a.png"), before)
    assert _decode(tmp_path / "a_mask.png").max() == 255  # the mask is not an input


@pytest.mark.slow
def test_sigint_stops_cleanly_with_a_summary(data: Path, tmp_path: Path) -> None:
    count = 60
    src, out = tmp_path / "many", tmp_path / "out"
    _mask(src / "shared_mask.png", (128, 128))
    for i in range(count):
        _image(src / f"img{i:03d}.png", (128, 128), seed=300 + i)
    args = [str(src), "--mask", str(src / "shared_mask.png"), "-o", str(out), "--workers", "1", "--batch-size", "1"]
    # A job started in the background (`pytest &`) inherits SIGINT as ignored, and so would the
    # subprocess: give it the default handling a terminal user's process has.
    proc = subprocess.Popen(
        _inpaint(data, *args),
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        finished_first = not signal_when(proc, lambda: out.is_dir() and len(_image_files(out)) >= 3, signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if finished_first:
        pytest.skip("the run ended before it could be interrupted")
    assert proc.returncode == 130, stderr
    assert "dpinpaint: interrupted:" in stderr and "--skip-existing" in stderr and "Traceback" not in stderr
    for p in _image_files(out):
        assert _decode(p).shape == (128, 128, 3), p
    assert _temporaries(out) == []


@pytest.mark.slow
def test_json_into_a_closed_pipe_stops_quietly(data: Path, tmp_path: Path) -> None:
    src = tmp_path / "many"
    _mask(src / "shared_mask.png", (64, 64))
    for i in range(30):
        _image(src / f"img{i:03d}.png", (64, 64), seed=500 + i)
    args = [str(src), "--mask", str(src / "shared_mask.png"), "-o", str(tmp_path / "out"), "--json"]
    proc = subprocess.Popen(_inpaint(data, *args), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()  # like `| head -1`
    proc.stdout.close()
    stderr = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert first.startswith(b"{")
    assert proc.returncode in (0, 141), stderr  # 0 if everything was written before the pipe closed
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr


@pytest.mark.slow
def test_warnings_are_lines_and_json_notes_and_records_name_the_model(tmp_path: Path) -> None:
    """An empty and an almost-full mask: one ``dpinpaint: warning:`` line each (no raw Python
    warning), the same text in the JSON notes; every record and the summary name the model and version."""
    from dpinpaint.version import __version__

    src = tmp_path / "in"
    _image(src / "empty.png", (64, 48), seed=1)
    _mask(src / "empty_mask.png", (64, 48), box=(0, 0, 0, 0))
    _image(src / "full.png", (64, 48), seed=2)
    _mask(src / "full_mask.png", (64, 48), box=(0, 0, 1, 1))
    cmd = [*ENTRY, "inpaint", str(src), "--mask", str(src), "-o", str(tmp_path / "out"), "--json", "--seed", "3"]
    run = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "Warning" not in run.stderr and "warnings.warn" not in run.stderr and "set_result" not in run.stderr
    records = {Path(r["input"]).name: r for r in _records(run.stdout)}
    assert all(
        r["model"] == "demo" and r["revision"] is None and r["dpinpaint"] == __version__ for r in records.values()
    )
    assert len(records["empty.png"]["notes"]) == 1 and "is empty" in records["empty.png"]["notes"][0]
    assert len(records["full.png"]["notes"]) == 1 and "covers 100.0%" in records["full.png"]["notes"][0]
    warned = [line for line in run.stderr.splitlines() if line.startswith("dpinpaint: warning: ")]
    assert len(warned) == 3, run.stderr
    assert "--seed 3 has no effect" in warned[0]
    for name in ("empty.png", "full.png"):
        assert f"dpinpaint: warning: {src / name}: {records[name]['notes'][0]}" in warned
    assert f"with model demo (dpinpaint {__version__})" in run.stderr.strip().splitlines()[-1]


@pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")
@pytest.mark.parametrize("suffix", [".jpg", ".png"])
@pytest.mark.slow
def test_a_full_disk_fails_the_image_and_leaves_nothing(tmp_path: Path, suffix: str) -> None:
    """Past a file-size limit (like a full disk) writes come up short; Pillow's JPEG encoder does not
    notice, so the written file is decoded before it is renamed into place: the image fails, exit 1."""
    import resource

    src = _image(tmp_path / "src.png", (16, 16), seed=3)
    noise = np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    # ~195 KB as PNG and ~160 KB as JPEG at quality 95: over the limit, but by less than the JPEG
    # encoder's last buffer, whose write then comes up short without an error.
    Image.fromarray(noise).save(src)
    mask = _mask(tmp_path / "mask.png", (256, 256), box=(0.45, 0.45, 0.55, 0.55))
    out = tmp_path / f"out{suffix}"
    limit = 135 * 1024

    def limit_file_size() -> None:  # Python ignores SIGXFSZ, so a write past the limit comes up short
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = [*ENTRY, "inpaint", str(src), "--mask", str(mask), "-o", str(out), "--json"]
    run = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=300, preexec_fn=limit_file_size)
    assert run.returncode == 1, run.stderr
    [record] = _records(run.stdout)
    assert record["status"] == "failed" and record["output"] is None, record
    assert not out.exists() and _temporaries(tmp_path) == []
    assert _summary(run.stderr)[1:3] == (0, 1)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_output_folder_fails_before_any_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    image = _image(tmp_path / "a.png", (32, 32))
    mask = _mask(tmp_path / "m.png", (32, 32))
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        status, _, err = _main(capsys, str(image), "-m", str(mask), "-o", str(locked / "out"), "--model", "/no/model")
    finally:
        locked.chmod(0o755)
    assert status == 2 and "permission denied" in err


def test_sixteen_bit_colour_png_keeps_16_bits_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A 16-bit RGB PNG comes back as a 16-bit PNG whose unmasked pixels are bit-identical (Pillow
    alone reads such files with 8 bits); the Python API gives a uint16 array for it."""
    import cv2

    from dpinpaint import Inpainter

    rng = np.random.default_rng(5)
    deep = cv2.resize(rng.integers(0, 65536, (8, 10, 3), dtype=np.uint16), (80, 64), interpolation=cv2.INTER_LINEAR)
    src = tmp_path / "deep.png"
    cv2.imwrite(str(src), deep[:, :, ::-1])
    mask = _mask(tmp_path / "deep_mask.png", (80, 64))
    hole = _hole(mask)
    code, _, err = _main(capsys, str(src), "--mask", str(mask), "--output", str(tmp_path / "out.png"))
    assert code == 0, err
    written = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)
    assert written.dtype == np.uint16
    result = written[:, :, ::-1]
    np.testing.assert_array_equal(result[~hole], deep[~hole])
    assert (result[hole] != deep[hole]).any()
    api = Inpainter.from_pretrained("demo").inpaint(src, mask)
    assert isinstance(api, np.ndarray) and api.dtype == np.uint16
    np.testing.assert_array_equal(api, result)


def test_jpeg_outputs_reuse_the_sources_quantisation_tables(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``--format same`` on a JPEG: re-encoded with the source's own tables and subsampling, the
    observed pixels barely change; at ``--quality 95`` (the old default) tens of percent of them do."""
    y, x = np.mgrid[0:120, 0:160]
    src = tmp_path / "in" / "photo.jpg"
    src.parent.mkdir()
    Image.fromarray(np.stack([x * 1.5, y * 2, x + y], -1).astype(np.uint8)).save(src, quality=80)  # smooth, like skies
    mask = _mask(tmp_path / "photo_mask.png", (160, 120), box=(0.4, 0.4, 0.6, 0.6))
    hole = _hole(mask)
    before = _decode(src).astype(int)
    changed = {}
    for name, extra in (("tables", []), ("q95", ["--quality", "95"])):
        out = tmp_path / name / "photo.jpg"
        code, _, err = _main(capsys, str(src), "--mask", str(mask), "--output", str(out), "--json", *extra)
        assert code == 0, err
        changed[name] = float((np.abs(_decode(out).astype(int) - before)[~hole] > 0).mean())
    assert changed["tables"] < 0.05 < changed["q95"], changed
    assert changed["tables"] * 4 < changed["q95"], changed
