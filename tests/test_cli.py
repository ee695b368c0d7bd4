"""Tests for the ``dpinpaint`` command line and :mod:`dpinpaint.summary`.

The subprocess runs (``python -m dpinpaint ...``) start together in one module fixture so
that their interpreter start-ups overlap.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from dpinpaint import DualPathNet, ModelConfig, get_preset, list_presets
from dpinpaint.cli import main
from dpinpaint.summary import ModelSummary, summarize

REPO = Path(__file__).resolve().parents[1]
MODULES = ("stylegan", "style_encoder", "encoder", "generator")
ROW = re.compile(r"^(\w+)\s+([\d,]+)\s+(\d+\.\d\d)$")

COMMANDS = {
    "info": ["info", "tiny"],
    "info-json": ["info", "tiny", "--json"],
    "unknown": ["info", "nope"],
    "presets": ["presets"],
}


@pytest.fixture(scope="module")
def cli_runs() -> dict[str, subprocess.CompletedProcess[str]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    procs = {
        key: subprocess.Popen(
            [sys.executable, "-m", "dpinpaint", *args],
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for key, args in COMMANDS.items()
    }
    results = {}
    for key, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[key] = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    return results


@pytest.fixture(scope="module")
def tiny_params() -> dict[str, int]:
    net = DualPathNet(get_preset("tiny"))
    return {name: sum(p.numel() for p in getattr(net, name).parameters()) for name in MODULES}


def _table_rows(text: str) -> dict[str, tuple[int, float]]:
    rows = {}
    for line in text.splitlines():
        match = ROW.match(line.strip())
        if match:
            rows[match.group(1)] = (int(match.group(2).replace(",", "")), float(match.group(3)))
    return rows


# --------------------------------------------------------------------------------------
# Subprocess runs
# --------------------------------------------------------------------------------------


def test_info_table(cli_runs: dict[str, subprocess.CompletedProcess[str]], tiny_params: dict[str, int]) -> None:
    run = cli_runs["info"]
    assert run.returncode == 0, run.stderr
    assert "model tiny: 64x64" in run.stdout
    rows = _table_rows(run.stdout)
    assert list(rows) == [*MODULES, "total"]
    for name in MODULES:
        assert rows[name][0] == tiny_params[name], name
    assert rows["total"][0] == sum(tiny_params.values())
    assert rows["total"][1] > 0
    assert rows["stylegan"][1] > 0
    assert rows["total"][1] == pytest.approx(sum(rows[name][1] for name in MODULES), abs=0.03)


def test_info_json(cli_runs: dict[str, subprocess.CompletedProcess[str]], tiny_params: dict[str, int]) -> None:
    run = cli_runs["info-json"]
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"config", "params", "flops"}
    assert data["params"] == tiny_params
    assert set(data["flops"]) == set(MODULES)
    assert all(isinstance(v, int) and v > 0 for v in data["flops"].values())
    assert ModelConfig.from_dict(data["config"]) == get_preset("tiny")


def test_unknown_preset_exits_2(cli_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = cli_runs["unknown"]
    assert run.returncode == 2
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    assert "dpinpaint: error: unknown preset 'nope'" in run.stderr
    for name in list_presets():
        assert name in run.stderr


def test_presets_command(cli_runs: dict[str, subprocess.CompletedProcess[str]]) -> None:
    run = cli_runs["presets"]
    assert run.returncode == 0, run.stderr
    lines = run.stdout.strip().splitlines()
    assert [line.split()[0] for line in lines] == [
        "ffhq-256",
        "church-256",
        "cat-256",
        "ffhq-256-paper256",
        "tiny",
        "demo",
    ]
    for line, description in zip(lines, list_presets().values()):
        assert description in line


# --------------------------------------------------------------------------------------
# In-process runs of main()
# --------------------------------------------------------------------------------------


def _json_info(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["info", *args, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow
def test_info_concat_has_fewer_generator_params(
    capsys: pytest.CaptureFixture[str], tiny_params: dict[str, int]
) -> None:
    data = _json_info(capsys, "tiny", "--fusion", "concat")
    assert data["config"]["fusion"] == "concat"
    assert data["params"]["generator"] < tiny_params["generator"]
    assert data["params"]["generator"] == sum(
        p.numel() for p in DualPathNet(get_preset("tiny").replace(fusion="concat")).generator.parameters()
    )
    for name in ("stylegan", "style_encoder", "encoder"):
        assert data["params"][name] == tiny_params[name]


def test_info_feedforward_paths_has_no_inversion_rows(
    capsys: pytest.CaptureFixture[str], tiny_params: dict[str, int]
) -> None:
    data = _json_info(capsys, "tiny", "--paths", "feedforward")
    assert set(data["params"]) == {"encoder", "generator"}
    assert data["params"]["encoder"] == tiny_params["encoder"]
    assert data["params"]["generator"] < tiny_params["generator"]


def test_info_reads_a_config_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = get_preset("tiny").replace(name="from-file", fusion="concat")
    path = tmp_path / "config.json"
    config.to_json(path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "model from-file: 64x64" in out
    rows = _table_rows(out)
    net = DualPathNet(config)
    assert rows["generator"][0] == sum(p.numel() for p in net.generator.parameters())


def test_info_bad_config_file_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"resolution": 100}', encoding="utf-8")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dpinpaint: error:")
    assert "power of two" in err
    assert main(["info", str(tmp_path / "missing.json")]) == 2
    assert "cannot read config file" in capsys.readouterr().err


def test_bad_choice_is_an_argparse_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["info", "tiny", "--fusion", "sum"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_nonpositive_batch_size_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(["info", "tiny", "--batch-size", "0"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2


# --------------------------------------------------------------------------------------
# summarize()
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_summary() -> tuple[ModelSummary, DualPathNet]:
    torch.manual_seed(0)
    net = DualPathNet(get_preset("tiny"))
    return summarize(get_preset("tiny"), model=net), net


def test_summarize_tiny(tiny_summary: tuple[ModelSummary, DualPathNet], tiny_params: dict[str, int]) -> None:
    summary, _ = tiny_summary
    assert summary.name == "tiny" and summary.resolution == 64 and summary.batch_size == 1
    assert summary.params == tiny_params
    assert list(summary.flops) == list(MODULES)
    assert all(v > 0 for v in summary.flops.values())
    assert summary.flops["stylegan"] > 0
    assert summary.total_flops == sum(summary.flops.values())
    assert summary.total_params == sum(tiny_params.values())
    text = summary.format()
    rows = _table_rows(text)
    assert list(rows) == [*MODULES, "total"]
    assert rows["total"][0] == summary.total_params


def test_summarize_flops_match_direct_counts(tiny_summary: tuple[ModelSummary, DualPathNet]) -> None:
    """Each row equals a FlopCounterMode count of that sub-network run on its own."""
    summary, net = tiny_summary
    config = net.config
    gen = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 64, generator=gen) * 2 - 1
    known = (torch.rand(1, 1, 64, 64, generator=gen) > 0.3).float()
    masked = image * known

    def count(fn) -> int:
        counter = FlopCounterMode(display=False)
        with torch.no_grad(), counter:
            fn()
        return counter.get_total_flops()

    w_plus = torch.zeros(1, config.stylegan.n_latent, config.stylegan.w_dim)
    assert summary.flops["stylegan"] == count(lambda: net.stylegan.synthesis(w_plus))
    assert summary.flops["style_encoder"] == count(lambda: net.style_encoder(masked, known))
    assert summary.flops["encoder"] == count(lambda: net.encoder(masked, known))
    with torch.no_grad():
        feats = net.encoder(masked, known)
        f_s = net.stylegan.synthesis(w_plus)[1]
    assert summary.flops["generator"] == count(lambda: net.generator(feats, known, f_s))
    total = count(lambda: net(image, known))
    assert summary.total_flops == total


def test_summarize_batch_size_scales_flops(tiny_summary: tuple[ModelSummary, DualPathNet]) -> None:
    single, net = tiny_summary
    double = summarize(net.config, batch_size=2, model=net)
    assert double.batch_size == 2
    assert double.params == single.params
    for name in MODULES:
        assert double.flops[name] == 2 * single.flops[name], name


@pytest.mark.parametrize("paths", ["feedforward", "inversion"])
def test_summarize_ablations(paths: str) -> None:
    config = get_preset("tiny").replace(paths=paths)
    summary = summarize(config)
    expected = {"feedforward": {"encoder", "generator"}, "inversion": {"stylegan", "style_encoder"}}[paths]
    assert set(summary.params) == set(summary.flops) == expected
    assert all(v > 0 for v in summary.flops.values())
    assert summary.total_flops == sum(summary.flops.values())


# --------------------------------------------------------------------------------------------
# dpinpaint convert stylegan2 (in-process: the converter tests cover the formats)
# --------------------------------------------------------------------------------------------
def test_convert_stylegan2_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from support.convert_fixtures import build_nvidia_pytorch, write_nvidia_pytorch

    G, D = build_nvidia_pytorch()
    src = write_nvidia_pytorch(tmp_path / "net.pkl", G, D)
    code = main(["convert", "stylegan2", str(src), "--output", str(tmp_path / "out"), "--samples", "2", "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "nvidia-pytorch" and report["config"]["channels"] == [16, 16, 12, 6]
    assert report["config"]["mbstd_group"] == 8 and report["discriminator"] == "converted"
    assert report["parameters"]["generator"] > 0 and report["seeds"] == [0, 1]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "config.json",
        "samples.png",
        "stylegan2.safetensors",
    ]


def test_convert_stylegan2_text_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from dpinpaint import StyleGAN2Config
    from support.convert_fixtures import write_rosinality

    config = StyleGAN2Config(resolution=16, channels=(8, 8, 4), z_dim=8, w_dim=8, n_mlp=2)
    src, *_ = write_rosinality(tmp_path / "g.pt", config)
    argv = ["convert", "stylegan2", str(src), "-o", str(tmp_path / "out"), "--samples", "0", "--no-discriminator"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "resolution    16x16" in out and "widths        4:8, 8:8, 16:4" in out
    assert "discriminator not requested" in out and "samples" not in out.split("written")[-1]
    assert not (tmp_path / "out" / "samples.png").exists()


def test_convert_stylegan2_bad_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "weights.pkl"
    bad.write_bytes(b"not a checkpoint at all")
    assert main(["convert", "stylegan2", str(bad), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dpinpaint: error:") and "Accepted StyleGAN2 formats" in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit):
        main(["convert", "stylegan2", str(bad)])  # --output is required


def test_default_workers_use_only_cores_torch_leaves_free(monkeypatch: pytest.MonkeyPatch) -> None:
    from dpinpaint.cli import inpaint as cli_inpaint
    from dpinpaint.cli.inpaint import default_workers

    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    for cores, expected in ((2, 0), (1, 0), (3, 1), (8, 4), (None, 0)):
        monkeypatch.setattr(cli_inpaint.os, "cpu_count", lambda c=cores: c)
        assert default_workers() == expected


def test_start_up_and_early_errors_do_not_load_torch(tmp_path: Path) -> None:
    """`import dpinpaint`, `--version`, `list` and an unpublished `--model` need no torch (about 0.1 s, not 2-3 s)."""
    import textwrap

    script = textwrap.dedent(
        """
        import contextlib, io, sys
        import dpinpaint
        from dpinpaint.cli import main
        err = io.StringIO()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
            assert main(["list"]) == 0
            status = main(["inpaint", "a.png", "--mask", "m.png", "-o", "out", "--model", "ffhq-256"])
        assert status == 2 and "not published yet" in err.getvalue(), err.getvalue()
        assert "torch" not in sys.modules, "torch was imported"
        assert dpinpaint.__version__ and "torch" not in sys.modules
        """
    )
    run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["inpaint", "x.png", "-m", "y.png", "-o", "out/", "--model", "a" * 300],
        ["inpaint", "b" * 300 + ".png", "-m", "y.png", "-o", "out/"],
        ["inpaint", "x.png", "-m", "y.png", "-o", "out/", "--model", "~nouser-dpinpaint/x"],
    ],
)
def test_unusable_paths_are_an_error_line_not_a_traceback(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    from PIL import Image

    Image.new("RGB", (16, 16)).save("x.png")
    Image.new("L", (16, 16), 255).save("y.png")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dpinpaint: error: ") and "Traceback" not in err and len(err) < 400
    assert "does not exist" not in err  # the model or the input path itself is what is refused
