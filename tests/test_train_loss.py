"""The training losses as one object (dpinpaint.train.loss), and training unchanged by moving them there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from dpinpaint import get_preset
from dpinpaint.convert import save_stylegan2_checkpoint
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.trainer import Trainer

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("loss")
    torch.manual_seed(0)
    g = StyleGAN2Generator(TINY.stylegan)
    g.update_w_avg(num_samples=500)
    save_stylegan2_checkpoint(root / "stylegan2", g, StyleGAN2Discriminator(TINY.stylegan))
    (root / "data").mkdir()
    y, x = np.mgrid[0:80, 0:96]
    for i in range(6):
        img = np.stack([(x * 3 + i * 20) % 256, (y * 3) % 256, ((x + y) * 2 + i * 7) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(root / "data" / f"{i:03d}.png")
    return {"stylegan2": root / "stylegan2", "data": root / "data"}


# -- training is unchanged -------------------------------------------------------------------------
# The numbers below were recorded by running this very procedure (``_fingerprint``) on main's code
# (commit 7ac7643, before the losses moved into ``dpinpaint.train.loss`` and the trainer was split),
# on the CPU in float32. They are not computed by the code under test: they pin its behaviour to the
# trainer it replaced. "losses" are the logged values of every step; "changes" are, per trained
# sub-network, the sum of |w_end - w_start| and the sum of (w_end - w_start) * cos(k) over its flattened
# state (k = position), which moves when any update's sign pattern moves. The tolerances cover the
# float32 differences between thread counts (measured: up to 6e-8 on a loss, 5e-4 on a cosine sum).
RECORDED: dict[str, dict[str, Any]] = {
    "paper": {
        "config": {"stage1_steps": 2, "stage2_steps": 2},
        "losses": [
            {"stage": 1.0, "L_sp": -0.633830189704895, "L_sr": 0.9727403521537781, "L_inv": 18.82097625732422},
            {"stage": 1.0, "L_sp": -0.6340707540512085, "L_sr": 0.9559199810028076, "L_inv": 18.484329223632812},
            {"stage": 2.0, "L_r": 0.5246651768684387, "L_adv_G": 0.751738965511322, "L_ff": 11.245041847229004,
             "L_adv_D": 1.3839116096496582},
            {"stage": 2.0, "L_r": 0.5143332481384277, "L_adv_G": 0.7615334391593933, "L_ff": 11.048198699951172,
             "L_adv_D": 1.3642133474349976},
        ],
        "changes": {
            "model.style_encoder": (89.08669818298975, 0.0217730079673972),
            "model.encoder": (18.173439510227126, 0.042701595298375965),
            "model.generator": (57.840829881042254, 0.02085059604522168),
            "discriminator.block0": (4.713358955590593, -0.14844436696911964),
            "discriminator.blocks": (40.425822741380045, -0.5437948863479742),
            "discriminator.block1": (72.48697668325914, -0.8533216592731758),
            "discriminator.conv": (0.5422727923214552, 0.005237152136037405),
        },
    },
    "options": {
        "config": {"stage1_steps": 1, "stage2_steps": 2, "ema_kimg": 0.01, "hole_weight": 3.0, "lambda_ssim": 0.5,
                   "lambda_adv": 0.5, "finetune_style_encoder": True, "discriminator": "stylegan2"},
        "losses": [
            {"stage": 1.0, "L_sp": -0.633830189704895, "L_sr": 0.9727403521537781, "L_inv": 18.82097625732422},
            {"stage": 2.0, "L_r": 0.8659861087799072, "L_adv_G": 0.6816407442092896, "L_ssim": 0.36510735750198364,
             "L_ff": 17.843095779418945, "L_adv_D": 1.4850993156433105},
            {"stage": 2.0, "L_r": 0.8157545924186707, "L_adv_G": 0.684999942779541, "L_ssim": 0.43626219034194946,
             "L_ff": 16.87572479248047, "L_adv_D": 1.3985859155654907},
        ],
        "changes": {
            "model.style_encoder": (91.9165667248885, 0.022063084212062305),
            "model.encoder": (17.810739422935967, 0.017716211973361647),
            "model.generator": (51.891092114645716, 0.06896846613004518),
            "ema.style_encoder": (23.625125822804197, 0.01054861288810513),
            "ema.encoder": (10.483444032315958, 0.02760761455117681),
            "ema.generator": (24.81864084191706, 0.049922291961837985),
            "discriminator.convs": (31.179781483583866, -0.04745702795389345),
            "discriminator.final_conv": (5.980592096450437, 0.012348662670736317),
            "discriminator.final_linear": (10.891532411733806, 0.02348864906101202),
        },
    },
}  # fmt: skip


def _networks(trainer: Trainer) -> dict[str, torch.nn.Module]:
    nets = {"model": trainer.model, "ema": trainer.ema, "discriminator": trainer.d}
    return {name: net for name, net in nets.items() if net is not None}


def _fingerprint(trainer: Trainer, run: Path) -> dict[str, Any]:
    """Run ``trainer`` to the end; the logged losses and the weight changes of each trained sub-network."""
    start = {
        name: {k: v.detach().clone() for k, v in net.state_dict().items()} for name, net in _networks(trainer).items()
    }
    trainer.run()
    logs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [{k: v for k, v in r.items() if k.startswith("L_") or k == "stage"} for r in logs]
    changes: dict[str, tuple[float, float]] = {}
    for name, net in _networks(trainer).items():
        for key, value in net.state_dict().items():
            if not value.is_floating_point():
                continue
            delta = (value.double() - start[name][key].double()).flatten()
            group = f"{name}.{key.split('.')[0]}"
            total, weighted = changes.get(group, (0.0, 0.0))
            cos = torch.arange(delta.numel(), dtype=torch.float64).cos()
            changes[group] = (total + float(delta.abs().sum()), weighted + float((delta * cos).sum()))
    return {"losses": losses, "changes": {k: v for k, v in changes.items() if v[0] > 0}}


@pytest.mark.parametrize("case", sorted(RECORDED))
def test_training_matches_the_numbers_recorded_before_the_refactor(
    assets: dict[str, Path], tmp_path: Path, case: str
) -> None:
    recorded = RECORDED[case]
    config = TrainConfig(model=TINY, batch_size=2, workers=0, test_count=2, checkpoint_every=100, sample_every=100,
                         log_every=1, **recorded["config"])  # fmt: skip
    trainer = Trainer(config, tmp_path / case, assets["data"], assets["stylegan2"], progress=False)
    got = _fingerprint(trainer, tmp_path / case)
    assert [r.keys() for r in got["losses"]] == [r.keys() for r in recorded["losses"]]
    for mine, theirs in zip(got["losses"], recorded["losses"], strict=True):
        for key, value in theirs.items():
            assert mine[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert got["changes"].keys() == recorded["changes"].keys()
    for group, (total, weighted) in recorded["changes"].items():
        assert got["changes"][group][0] == pytest.approx(total, rel=1e-4), group
        assert got["changes"][group][1] == pytest.approx(weighted, abs=2e-3), group
