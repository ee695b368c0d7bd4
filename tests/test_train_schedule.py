"""A schedule of stage-2 phases in one run (dpinpaint.train.schedule) and lambda_adv."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dpinpaint import get_preset
from dpinpaint.errors import ConfigError
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.losses import LossWeights, feedforward_loss
from dpinpaint.train.schedule import Phase, base_settings, phase_at
from dpinpaint.train.trainer import Trainer

FF = get_preset("tiny").replace(paths="feedforward")


def _config(**kw: object) -> TrainConfig:
    base = {"stage1_steps": 0, "stage2_steps": 6, "batch_size": 2, "workers": 0, "test_count": 2,
            "checkpoint_every": 2, "sample_every": 100, "log_every": 1}  # fmt: skip
    base.update(kw)
    return TrainConfig(model=FF, **base)  # type: ignore[arg-type]


PHASES = [{"steps": 2}, {"steps": 2, "lr": 5e-5, "lambda_adv": 0.25}, {"steps": 2, "hole_ratio": [0.3, 0.5]}]


def test_phases_round_trip_through_json(tmp_path: Path) -> None:
    config = _config(phases=PHASES, lambda_adv=0.5)
    assert config.phases == (Phase(2), Phase(2, lr=5e-5, lambda_adv=0.25), Phase(2, hole_ratio=(0.3, 0.5)))
    config.to_json(tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["phases"] == PHASES
    assert TrainConfig.from_json(tmp_path / "c.json") == config


def test_each_step_gets_its_phase_and_fields_left_out_take_the_config_value() -> None:
    config = _config(phases=PHASES, stage1_steps=0, lambda_adv=0.5, lr=2e-4)
    got = [phase_at(config, step) for step in range(7)]
    assert [s.index for s in got] == [0, 0, 1, 1, 2, 2, 2]  # past the end: the last phase
    assert got[0] == base_settings(config)
    assert (got[2].lr, got[2].lambda_adv, got[2].hole_ratio) == (5e-5, 0.25, config.hole_ratio)
    assert (got[4].lr, got[4].lambda_adv, got[4].hole_ratio) == (2e-4, 0.5, (0.3, 0.5))  # not the previous phase's
    no_phases = _config()
    assert {phase_at(no_phases, s) for s in range(7)} == {base_settings(no_phases)}


@pytest.mark.parametrize(
    ("phases", "message"),
    [
        ([{"steps": 2}, {"steps": 2}], "add up to 4, but stage2_steps is 6"),
        ([{"steps": 6, "lr": 2.0}], "lr must be in"),
        ([{"steps": 6, "momentum": 0.9}], "unknown phase field"),
        ([{"lr": 1e-4}], "needs its number of steps"),
        ([{"steps": 0}, {"steps": 6}], "steps must be an integer >= 1"),
        ([{"steps": 6, "hole_ratio": [0.5, 0.2]}], "hole_ratio"),
        ([{"steps": 6, "lambda_adv": -1}], "lambda_adv must be"),
        ({"steps": 6}, "phases must be a list"),
    ],
)
def test_bad_phases_are_refused(phases: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _config(phases=phases)


def test_lambda_adv_weighs_the_adversarial_term_alone() -> None:
    g = torch.Generator().manual_seed(0)
    gt, out = torch.rand(2, 3, 16, 16, generator=g), torch.rand(2, 3, 16, 16, generator=g)
    logits = torch.randn(2, 1, generator=g)
    full, parts = feedforward_loss(logits, gt, out, LossWeights(lambda_r=20.0))
    light, _ = feedforward_loss(logits, gt, out, LossWeights(lambda_r=20.0, lambda_adv=0.25))
    assert torch.isclose(full - light, torch.tensor(0.75 * parts["L_adv_G"]))
    with pytest.raises(ConfigError, match="lambda_adv"):
        _config(lambda_adv=float("nan"))


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("schedule")
    y, x = np.mgrid[0:72, 0:80]
    for i in range(8):
        img = np.stack([(x * 3 + i * 20) % 256, (y * 3) % 256, ((x + y) * 2 + i * 7) % 256], -1).astype(np.uint8)
        Image.fromarray(img).save(root / f"{i:03d}.png")
    return root


def test_one_run_changes_lr_weights_and_holes_and_keeps_the_optimisers(data: Path, tmp_path: Path) -> None:
    config = _config(phases=PHASES)
    trainer = Trainer(config, tmp_path / "run", data, None, progress=False)
    adam = trainer.optimizers["generator"]
    assert trainer.run(until=3) is None
    assert trainer.settings.index == 1 and trainer.weights.lambda_adv == 0.25
    assert all(group["lr"] == 5e-5 for name in ("generator", "discriminator")
               for group in trainer.optimizers[name].param_groups)  # fmt: skip
    assert trainer.optimizers["generator"] is adam and adam.state  # Adam's moments carry on
    assert trainer.run() is not None
    assert trainer.dataset.hole_ratio == (0.3, 0.5)
    logs = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["phase"], r["lr"]) for r in logs] == [(0, 1e-4), (0, 1e-4), (1, 5e-5), (1, 5e-5), (2, 1e-4), (2, 1e-4)]
    holes = [1 - float(trainer.dataset[i]["known"].mean()) for i in range(4)]
    assert all(0.25 <= h <= 0.55 for h in holes), holes


def test_a_resumed_run_re_enters_its_phase(data: Path, tmp_path: Path) -> None:
    config = _config(phases=PHASES)
    Trainer(config, tmp_path / "a", data, None, progress=False).run()
    first = Trainer(config, tmp_path / "b", data, None, progress=False)
    first.run(until=5)  # the last checkpoint is step 4, in phase 2
    resumed = Trainer(config, tmp_path / "b", data, None, resume=True, progress=False)
    assert resumed.step == 4
    resumed.run()
    a = Trainer(config, tmp_path / "a", data, None, resume=True, progress=False).model.state_dict()
    b = resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
