"""Training: both stages on the tiny preset, resume equivalence, torchrun, and the checks before training."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import signal_when
from PIL import Image

from dpinpaint import Inpainter, get_preset
from dpinpaint.checkpoint import load_tensors
from dpinpaint.convert import save_stylegan2_checkpoint
from dpinpaint.device import cpu_has_native_bf16
from dpinpaint.errors import CheckpointError, ConfigError, InvalidInputError
from dpinpaint.models import DualPathNet, PICNetDiscriminator
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from dpinpaint.train import trainer as trainer_module
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer
from support.train_assets import write_train_assets

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_train_assets(tmp_path_factory.mktemp("train"), images=12)


def _config(**kw: object) -> TrainConfig:
    base = {"stage1_steps": 6, "stage2_steps": 6, "batch_size": 4, "workers": 0, "test_count": 2,
            "checkpoint_every": 4, "sample_every": 6, "log_every": 1}  # fmt: skip
    base.update(kw)
    model = base.pop("model", TINY)
    return TrainConfig(model=model, **base)  # type: ignore[arg-type]


def _final_state(run: Path) -> dict[str, torch.Tensor]:
    return Inpainter.from_pretrained(run / "final").model.state_dict()


@pytest.mark.slow
def test_both_stages_learn_and_export(assets: dict[str, Path], tmp_path: Path) -> None:
    run = tmp_path / "run"
    final = Trainer(
        _config(stage1_steps=20, stage2_steps=20), run, assets["data"], assets["stylegan2"], progress=False
    ).run()
    assert final == run / "final"
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == list(range(1, 41))
    sr = [r["L_sr"] for r in logs if r["stage"] == 1]
    rec = [r["L_r"] for r in logs if r["stage"] == 2]
    assert np.mean(sr[-5:]) < np.mean(sr[:5]) and np.mean(rec[-5:]) < np.mean(rec[:5])
    assert all(r["images_per_s"] > 0 and r["lr"] == 1e-4 for r in logs)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == [
        "step-00000032",
        "step-00000036",
        "step-00000040",
    ]
    samples = sorted((run / "samples").iterdir())
    assert samples[-1].name == "step-00000040.png"
    with Image.open(samples[-1]) as grid:
        assert grid.size == (5 * 64, 2 * 64)  # masked | I_s | I_g | output | ground truth, one row per held-out image
    split = json.loads((run / "split.json").read_text())
    assert split["test"]["names"] == ["010.png", "011.png"] and split["train"]["count"] == 10
    inp = Inpainter.from_pretrained(final)
    image = np.asarray(Image.open(assets["data"] / "000.png"))
    mask = np.zeros(image.shape[:2], bool)
    mask[20:50, 30:60] = True
    out = inp.inpaint(image, mask)
    assert out.shape == image.shape and np.array_equal(out[~mask], image[~mask])
    # the frozen StyleGAN2 is exported unchanged
    g = Inpainter.from_pretrained(final).model.stylegan.state_dict()
    from dpinpaint.convert import load_stylegan2

    original, _, _ = load_stylegan2(assets["stylegan2"])
    assert all(torch.equal(v, original.state_dict()[k]) for k, v in g.items())


@pytest.mark.parametrize("ema_kimg", [0.0, 0.01])
@pytest.mark.slow
def test_resume_reaches_the_same_weights(assets: dict[str, Path], tmp_path: Path, ema_kimg: float) -> None:
    config = _config(ema_kimg=ema_kimg)
    Trainer(config, tmp_path / "a", assets["data"], assets["stylegan2"], progress=False).run()
    first = Trainer(config, tmp_path / "b", assets["data"], assets["stylegan2"], progress=False)
    assert first.run(until=7) is None  # interrupted after step 7; the last checkpoint is step 4
    resumed = Trainer(config, tmp_path / "b", assets["data"], assets["stylegan2"], resume=True, progress=False)
    assert resumed.step == 4
    resumed.run()
    a, b = _final_state(tmp_path / "a"), _final_state(tmp_path / "b")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    steps = [json.loads(line)["step"] for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, 13))  # the lines of the lost steps 5-7 were replaced, not duplicated


@pytest.mark.slow
def test_everything_is_checked_before_training(assets: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nothing to train"):
        _config(stage1_steps=0, stage2_steps=0)
    with pytest.raises(ConfigError, match="betas"):
        _config(betas=(0.5,))
    with pytest.raises(ConfigError, match="hole_weight must be a finite number >= 0"):
        _config(hole_weight=-1.0)
    with pytest.raises(ConfigError, match="lambda_ssim must be a finite number >= 0"):
        _config(lambda_ssim=-0.5)
    with pytest.raises(ConfigError, match="lambda_r must be a finite number"):
        _config(lambda_r=float("inf"))
    with pytest.raises(ConfigError, match="ema_kimg must be a finite number >= 0"):
        _config(ema_kimg=-1.0)
    with pytest.raises(ConfigError, match=r"color_probability must be in \[0, 1\]"):
        _config(color_probability=2.0)
    with pytest.raises(ConfigError, match=r"blur_probability must be in \[0, 1\]"):
        _config(blur_probability=-1.0)
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match=r"no images|empty"):
        Trainer(_config(), tmp_path / "r1", tmp_path / "empty", assets["stylegan2"], progress=False)
    (tmp_path / "small").mkdir()
    for i in range(4):
        Image.new("RGB", (40, 90)).save(tmp_path / "small" / f"{i}.png")
    with pytest.raises(InvalidInputError, match=r"smaller|resolution"):
        Trainer(_config(), tmp_path / "r2", tmp_path / "small", assets["stylegan2"], progress=False)
    other = StyleGAN2Generator(get_preset("ffhq-256").stylegan)
    save_stylegan2_checkpoint(tmp_path / "sg256", other, None)
    with pytest.raises(ConfigError, match="does not match"):
        Trainer(_config(), tmp_path / "r3", assets["data"], tmp_path / "sg256", progress=False)
    with pytest.raises(InvalidInputError, match="pretrained StyleGAN2"):
        Trainer(_config(), tmp_path / "r4", assets["data"], None, progress=False)
    assert not any((tmp_path / name).exists() for name in ("r1", "r2", "r3", "r4"))  # nothing started
    Trainer(_config(), tmp_path / "r5", assets["data"], assets["stylegan2"], progress=False)
    with pytest.raises(InvalidInputError, match="not empty"):
        Trainer(_config(), tmp_path / "r5", assets["data"], assets["stylegan2"], progress=False)
    with pytest.raises(ConfigError, match="differs"):
        Trainer(_config(seed=1), tmp_path / "r5", assets["data"], assets["stylegan2"], resume=True, progress=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
def test_torchrun_two_processes_one_checkpoint(assets: dict[str, Path], tmp_path: Path) -> None:
    config = _config(stage1_steps=3, stage2_steps=3, batch_size=2, checkpoint_every=3)
    config.to_json(tmp_path / "config.json")
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), "-m", "dpinpaint", "train", str(tmp_path / "config.json"),
           "--data", str(assets["data"]), "--stylegan2", str(assets["stylegan2"]), "--output", str(run), "-q"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step-00000003", "step-00000006"]
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in logs] == list(range(1, 7))  # rank 0 only
    assert Inpainter.from_pretrained(run / "final").config == TINY


@pytest.mark.slow
def test_sigkill_mid_run_then_resume(assets: dict[str, Path], tmp_path: Path) -> None:
    import signal

    config = _config(stage1_steps=10, stage2_steps=30, batch_size=2, checkpoint_every=5, sample_every=100)
    config.to_json(tmp_path / "config.json")
    run = tmp_path / "run"
    args = [sys.executable, "-m", "dpinpaint", "train", str(tmp_path / "config.json"), "--data", str(assets["data"]),
            "--stylegan2", str(assets["stylegan2"]), "--output", str(run), "-q"]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        finished = not signal_when(proc, lambda: (run / "checkpoints" / "step-00000015").is_dir(), signal.SIGKILL)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    if finished:
        pytest.skip("the run ended before it could be killed")
    from dpinpaint.train.state import latest_checkpoint

    last = latest_checkpoint(run)
    assert last is not None and int(last.name.split("-")[1]) >= 15
    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    Trainer(config, tmp_path / "straight", assets["data"], assets["stylegan2"], progress=False).run()
    a, b = _final_state(run), _final_state(tmp_path / "straight")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_fine_tuning_starts_from_a_trained_model(assets: dict[str, Path], tmp_path: Path) -> None:
    config = _config(stage1_steps=0, stage2_steps=2, spectral_norm=False)
    source = Inpainter.from_config(TINY, seed=5, w_avg_samples=16)
    source.save_pretrained(tmp_path / "pretrained")
    trainer = Trainer(config, tmp_path / "run", assets["data"], assets["stylegan2"], init=tmp_path / "pretrained",
                      progress=False)  # fmt: skip
    start = trainer.model.state_dict()
    assert all(torch.equal(start[k], v) for k, v in source.model.state_dict().items())
    with pytest.raises(ConfigError, match="differs"):
        Trainer(_config(model=TINY.replace(fusion="concat")), tmp_path / "r2", assets["data"], assets["stylegan2"],
                init=tmp_path / "pretrained", progress=False)  # fmt: skip


@pytest.mark.slow
def test_ema_averages_the_weights_and_is_exported(assets: dict[str, Path], tmp_path: Path) -> None:
    """With a half-life of one step (4 images), each step's average is the mean of the last average and the new weights."""
    model = TINY.replace(paths="feedforward")
    source = Inpainter.from_config(model, seed=5)
    source.save_pretrained(tmp_path / "pretrained")
    config = _config(
        model=model, stage1_steps=0, stage2_steps=2, checkpoint_every=1, ema_kimg=0.004, spectral_norm=False
    )  # fmt: skip (the stored weights are then the exported ones)
    final = Trainer(config, tmp_path / "run", assets["data"], None, init=tmp_path / "pretrained", progress=False).run()
    assert final is not None
    ckpt = [load_tensors(tmp_path / "run" / "checkpoints" / f"step-{i:08d}" / "weights.safetensors") for i in (1, 2)]
    averaged = previous = source.model.state_dict()
    moved = 0
    for weights in ckpt:
        trained = {k[len("model."):]: v for k, v in weights.items() if k.startswith("model.")}  # fmt: skip
        averaged = {k[len("ema."):]: v for k, v in weights.items() if k.startswith("ema.")}  # fmt: skip
        assert averaged.keys() == trained.keys()
        for key, value in averaged.items():
            if key.startswith(("encoder.", "generator.")) and value.is_floating_point() and "running" not in key:
                torch.testing.assert_close(value, (previous[key] + trained[key]) / 2, rtol=0, atol=1e-6)
                moved += not torch.equal(value, trained[key])
        previous = averaged
    assert moved > 10  # the average really differs from the trained weights
    exported = load_tensors(final / "model.safetensors")
    assert exported.keys() == averaged.keys() and all(torch.equal(exported[k], averaged[k]) for k in exported)


def test_the_average_shares_only_the_frozen_stylegan2(assets: dict[str, Path], tmp_path: Path) -> None:
    trainer = Trainer(_config(ema_kimg=0.01), tmp_path / "run", assets["data"], assets["stylegan2"], progress=False)
    assert trainer.ema is not None and trainer.ema.stylegan is trainer.model.stylegan
    frozen = {p.data_ptr() for p in trainer.model.stylegan.parameters()}
    shared = {p.data_ptr() for p in trainer.ema.parameters()} & {p.data_ptr() for p in trainer.model.parameters()}
    assert shared == frozen and len(frozen) > 10
    assert all(not p.requires_grad for p in trainer.ema.parameters())
    assert any(p.requires_grad for p in trainer.model.style_encoder.parameters())


@pytest.mark.parametrize("option", ["color_probability", "blur_probability"])
def test_augmentations_reach_the_training_samples(assets: dict[str, Path], tmp_path: Path, option: str) -> None:
    model = TINY.replace(paths="feedforward")
    plain = Trainer(_config(model=model, stage1_steps=0), tmp_path / "a", assets["data"], None, progress=False)
    changed = Trainer(_config(model=model, stage1_steps=0, **{option: 1.0}), tmp_path / "b", assets["data"], None,
                      progress=False)  # fmt: skip
    a, b = plain.dataset[0], changed.dataset[0]
    assert torch.equal(a["known"], b["known"]) and not torch.equal(a["image"], b["image"])


@pytest.mark.slow
def test_feedforward_only_needs_no_stylegan2(assets: dict[str, Path], tmp_path: Path) -> None:
    config = _config(model=TINY.replace(paths="feedforward"), stage1_steps=0, stage2_steps=2, lambda_ssim=50.0)
    final = Trainer(config, tmp_path / "run", assets["data"], None, progress=False).run()
    assert final is not None and Inpainter.from_pretrained(final).config.paths == "feedforward"
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert logs and all(0 < r["L_ssim"] < 2 and r["L_ff"] > 50 * r["L_ssim"] for r in logs)
    with pytest.raises(ConfigError, match="inversion path"):
        _config(model=TINY.replace(paths="feedforward"), stage1_steps=2, stage2_steps=2)


def test_cpu_precision(assets: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fp16 is refused on the CPU; bf16 needs native bf16 there and then trains like fp32."""
    with pytest.raises(ConfigError, match="accelerators"):
        Trainer(_config(precision="fp16"), tmp_path / "r", assets["data"], assets["stylegan2"], progress=False)
    config = _config(model=TINY.replace(paths="feedforward"), stage1_steps=0, stage2_steps=2, precision="bf16")
    with monkeypatch.context() as m:
        m.setattr(trainer_module, "cpu_has_native_bf16", lambda: False)
        with pytest.raises(ConfigError, match="native bfloat16"):
            Trainer(config, tmp_path / "r", assets["data"], None, progress=False)
    if not cpu_has_native_bf16():
        pytest.skip("this CPU has no native bfloat16")
    final = Trainer(config, tmp_path / "bf16", assets["data"], None, progress=False).run()
    assert final is not None
    weights = load_tensors(final / "model.safetensors")
    assert all(t.dtype == torch.float32 and bool(torch.isfinite(t).all()) for t in weights.values())
    logs = [json.loads(line) for line in (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()]
    assert logs and all(np.isfinite(r["L_r"]) for r in logs)


# -- PICNet's training of the feed-forward path: spectral norm and its discriminator ----------------
@pytest.mark.parametrize("discriminator", ["picnet", "stylegan2"])
def test_tiny_learns_with_each_discriminator(assets: dict[str, Path], tmp_path: Path, discriminator: str) -> None:
    config = _config(stage1_steps=0, stage2_steps=16, discriminator=discriminator, sample_every=100)
    trainer = Trainer(config, tmp_path / "run", assets["data"], assets["stylegan2"], progress=False)
    assert isinstance(trainer.d, PICNetDiscriminator if discriminator == "picnet" else StyleGAN2Discriminator)
    assert trainer.run() is not None
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert all(np.isfinite([r["L_r"], r["L_adv_G"], r["L_adv_D"], r["L_ff"]]).all() for r in logs)
    rec = [r["L_r"] for r in logs]
    assert np.mean(rec[-4:]) < np.mean(rec[:4])


def test_spectral_norm_trains_and_folds_into_the_export(assets: dict[str, Path], tmp_path: Path) -> None:
    config = _config(stage1_steps=0, stage2_steps=2, checkpoint_every=1, ema_kimg=0.004)
    trainer = Trainer(config, tmp_path / "run", assets["data"], assets["stylegan2"], progress=False)
    conv = trainer.model.encoder.blocks[1].conv1
    original, u = conv.parametrizations.weight.original.detach().clone(), conv.parametrizations.weight[0].u.clone()
    final = trainer.run()
    assert final is not None
    # One step moved the trained weights and the power-iteration estimate; the checkpoints hold both.
    assert not torch.equal(conv.parametrizations.weight.original, original)
    assert not torch.equal(conv.parametrizations.weight[0].u, u)
    ckpt = load_tensors(tmp_path / "run" / "checkpoints" / "step-00000002" / "weights.safetensors")
    assert "model.encoder.blocks.1.conv1.parametrizations.weight.original" in ckpt
    assert "discriminator.block0.conv1.parametrizations.weight.0.u" in ckpt
    # final/ holds plain weights only, and equals the (averaged) training network in eval mode.
    exported = load_tensors(final / "model.safetensors")
    assert not [k for k in exported if "parametrizations" in k or k.endswith(("_u", "_v", "_orig", ".u", ".v"))]
    assert exported.keys() == DualPathNet(TINY).state_dict().keys()
    image = torch.rand(2, 3, 64, 64) * 2 - 1
    known = (torch.rand(2, 1, 64, 64) > 0.5).float()
    assert trainer.ema is not None
    with torch.no_grad():
        expected = trainer.ema.eval()(image, known).generated
        got = Inpainter.from_pretrained(final).model(image, known).generated
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_runs_of_the_previous_version_resume_as_they_were(tmp_path: Path) -> None:
    data = _config().to_dict()
    for key in ("spectral_norm", "discriminator"):
        del data[key]
    del data["model"]["feedforward"]["layout"]
    old = TrainConfig.from_dict(data)
    assert (old.spectral_norm, old.discriminator, old.model.feedforward.layout) == (False, "stylegan2", "legacy")
    new = TrainConfig.from_preset("tiny")
    assert (new.spectral_norm, new.discriminator, new.model.feedforward.layout) == (True, "picnet", "picnet")
    with pytest.raises(ConfigError, match="discriminator must be"):
        _config(discriminator="patch")


def test_init_from_a_model_without_spectral_norm_warns(
    assets: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    model = TINY.replace(paths="feedforward")
    source = Inpainter.from_config(model, seed=5)
    with torch.no_grad():
        source.model.encoder.blocks[1].conv1.weight.mul_(4.0)
    source.save_pretrained(tmp_path / "pretrained")
    with caplog.at_level("WARNING"):
        Trainer(_config(model=model, stage1_steps=0, stage2_steps=1), tmp_path / "run", assets["data"], None,
                init=tmp_path / "pretrained", progress=False)  # fmt: skip
    assert "spectral norms far from 1" in caplog.text and "--no-spectral-norm" in caplog.text


# -- dpinpaint train --preset NAME --stylegan2 FILE: G_s's architecture comes from the file -----------
def test_preset_takes_the_stylegan2_architecture_of_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from dpinpaint.cli.train import model_for_stylegan2
    from dpinpaint.config import PAPER256_STYLEGAN

    torch.manual_seed(0)
    save_stylegan2_checkpoint(tmp_path / "paper256", StyleGAN2Generator(PAPER256_STYLEGAN))
    model = model_for_stylegan2(get_preset("ffhq-256"), str(tmp_path / "paper256"), quiet=False)
    assert model.stylegan == PAPER256_STYLEGAN == get_preset("ffhq-256-paper256").stylegan
    assert model == get_preset("ffhq-256-paper256").replace(name="ffhq-256")
    err = capsys.readouterr().err
    assert "64: 256, 128: 128, 256: 64" in err and "fusion widths of G follow it" in err
    assert model_for_stylegan2(get_preset("church-256"), str(tmp_path / "paper256"), quiet=True).stylegan == (
        PAPER256_STYLEGAN
    )
    with pytest.raises(InvalidInputError, match="64x64"):
        model_for_stylegan2(get_preset("tiny"), str(tmp_path / "paper256"), quiet=True)


def test_cli_train_preset_with_another_stylegan2(assets: dict[str, Path], tmp_path: Path) -> None:
    from dpinpaint.cli import main

    other = TINY.stylegan.__class__(resolution=64, channels=(64, 64, 32, 32, 8), z_dim=64, w_dim=64, n_mlp=2)
    torch.manual_seed(0)
    g = StyleGAN2Generator(other)
    g.update_w_avg(num_samples=100)
    save_stylegan2_checkpoint(tmp_path / "sg", g, StyleGAN2Discriminator(other))
    args = ["train", "--preset", "tiny", "--stylegan2", str(tmp_path / "sg"), "--data", str(assets["data"]),
            "--output", str(tmp_path / "run"), "--stage1-steps", "1", "--stage2-steps", "1", "--batch-size", "2",
            "--workers", "0", "--test-count", "2", "--discriminator", "stylegan2", "--no-spectral-norm", "-q"]  # fmt: skip
    assert main(args) == 0
    saved = TrainConfig.from_json(tmp_path / "run" / "config.json")
    assert saved.model.stylegan == other and saved.model.name == "tiny"
    assert (saved.discriminator, saved.spectral_norm) == ("stylegan2", False)
    net = Inpainter.from_pretrained(tmp_path / "run" / "final").model
    assert net.generator.fusions["32"].f_s_channels == 32 and net.generator.fusions["64"].f_s_channels == 8


def test_thin_damage_masks_reach_the_training_samples(assets: dict[str, Path], tmp_path: Path) -> None:
    from dpinpaint.strategies import hole_thickness

    model = TINY.replace(paths="feedforward")
    plain = Trainer(_config(model=model, stage1_steps=0), tmp_path / "a", assets["data"], None, progress=False)
    off = Trainer(_config(model=model, stage1_steps=0, thin_probability=0.0), tmp_path / "b", assets["data"], None,
                  progress=False)  # fmt: skip
    thin = Trainer(_config(model=model, stage1_steps=0, thin_probability=1.0), tmp_path / "c", assets["data"], None,
                   progress=False)  # fmt: skip
    for i in range(4):  # 0 draws nothing extra: the samples are those of a config without the option
        assert torch.equal(plain.dataset[i]["known"], off.dataset[i]["known"])
        hole = (thin.dataset[i]["known"][0] == 0).numpy()
        assert 0.005 <= hole.mean() < 0.2 and hole_thickness(hole) <= 8, (hole.mean(), hole_thickness(hole))


def test_snapshots_export_loadable_models_during_the_run(assets: dict[str, Path], tmp_path: Path) -> None:
    config = _config(model=TINY.replace(paths="feedforward"), stage1_steps=0, stage2_steps=4, snapshot_every=2,
                     ema_kimg=0.01)  # fmt: skip
    trainer = Trainer(config, tmp_path / "run", assets["data"], None, progress=False)
    final = trainer.run()
    snapshots = sorted(p.name for p in (tmp_path / "run" / "snapshots").iterdir())
    assert snapshots == ["step-00000002", "step-00000004"]
    last = Inpainter.from_pretrained(tmp_path / "run" / "snapshots" / "step-00000004").model.state_dict()
    assert final is not None
    assert all(torch.equal(v, _final_state(tmp_path / "run")[k]) for k, v in last.items())  # the end is final/
    with pytest.raises(ConfigError, match="snapshot_every must be an integer >= 0"):
        _config(snapshot_every=-1)


def test_a_damaged_newest_checkpoint_falls_back_to_the_one_before(assets: dict[str, Path], tmp_path: Path) -> None:
    model = TINY.replace(paths="feedforward")
    config = _config(model=model, stage1_steps=0, stage2_steps=8, checkpoint_every=4, keep_checkpoints=3)
    Trainer(config.replace(stage2_steps=8), tmp_path / "run", assets["data"], None, progress=False).run()
    newest = tmp_path / "run" / "checkpoints" / "step-00000008"
    weights = newest / "weights.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])  # a full disk, a bad copy
    resumed = Trainer(config, tmp_path / "run", assets["data"], None, progress=False, resume=True)
    assert resumed.step == 4  # the checkpoint before
    # state.json with missing keys or a wrong-size RNG state: a CheckpointError naming it, never a raw KeyError
    for name in ("step-00000004", "step-00000008"):
        (tmp_path / "run" / "checkpoints" / name / "state.json").write_text('{"step": 4}')
    with pytest.raises(CheckpointError, match=r"no checkpoint of .* can be resumed from: .*state.json is damaged"):
        Trainer(config, tmp_path / "run", assets["data"], None, progress=False, resume=True)
