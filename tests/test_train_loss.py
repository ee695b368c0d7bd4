"""The training losses as one object (dpinpaint.train.loss), and training unchanged by moving them there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from dpinpaint import DualPathNet, get_preset
from dpinpaint.models import PICNetDiscriminator
from dpinpaint.models.stylegan2 import StyleGAN2Discriminator
from dpinpaint.train.config import TrainConfig
from dpinpaint.train.loss import STAGE_UPDATES, UPDATES, Batch, DualPathLoss
from dpinpaint.train.losses import LossWeights, l1_loss, photo_realism_loss, ssim_loss
from dpinpaint.train.trainer import Trainer
from support.train_assets import write_train_assets

TINY = get_preset("tiny")


@pytest.fixture(scope="module")
def assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_train_assets(tmp_path_factory.mktemp("loss"), images=6)


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
    assert [list(r) for r in got["losses"]] == [list(r) for r in recorded["losses"]]  # metrics.jsonl's order
    for mine, theirs in zip(got["losses"], recorded["losses"], strict=True):
        for key, value in theirs.items():
            assert mine[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key
    assert got["changes"].keys() == recorded["changes"].keys()
    for group, (total, weighted) in recorded["changes"].items():
        assert got["changes"][group][0] == pytest.approx(total, rel=1e-4), group
        assert got["changes"][group][1] == pytest.approx(weighted, abs=2e-3), group


# -- the loss object against the equations written out ----------------------------------------------
class _ScalarReads(TorchDispatchMode):
    """Counts reads of a tensor's value by the host (``.item()``, ``float(t)``, ``bool(t)``: a sync on a GPU)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        if func is torch.ops.aten._local_scalar_dense.default:
            self.count += 1
        return func(*args, **(kwargs or {}))


def _parts(finetune: bool = False, weights: LossWeights | None = None) -> tuple[DualPathNet, nn.Module, DualPathLoss]:
    model = DualPathNet(TINY)
    model.stylegan.update_w_avg(num_samples=50)
    d = PICNetDiscriminator(TINY.resolution, negative_slope=TINY.feedforward.negative_slope)
    d_s = StyleGAN2Discriminator(TINY.stylegan).requires_grad_(False)
    nets = {"style_encoder": model.style_encoder, "encoder": model.encoder, "generator": model.generator,
            "discriminator": d}  # fmt: skip
    loss = DualPathLoss(model, nets, discriminator=d, style_discriminator=d_s, scaler=torch.amp.GradScaler("cpu", enabled=False),
                        weights=weights or LossWeights(hole_weight=2.0, lambda_ssim=0.5), finetune_style_encoder=finetune)  # fmt: skip
    return model, d, loss


def _batch(seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    image = torch.rand(2, 3, 64, 64, generator=g) * 2 - 1
    known = torch.ones(2, 1, 64, 64)
    known[:, :, 16:40, 20:50] = 0
    return Batch(image, known)


def _grads(module: nn.Module) -> list[torch.Tensor | None]:
    return [None if p.grad is None else p.grad.clone() for p in module.parameters()]


def _assert_grads(got: list[torch.Tensor | None], module: nn.Module, loss: torch.Tensor) -> None:
    params = [p for p in module.parameters() if p.requires_grad]
    expected = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        if e is None:
            assert g is None or not g.any()
        else:
            assert g is not None
            torch.testing.assert_close(g, e)


def test_the_inversion_update_is_eq_10_on_the_style_encoder() -> None:
    model, _, loss = _parts()
    batch = _batch()
    with _ScalarReads() as reads:
        logs = loss.accumulate_gradients("inversion", batch)
    assert reads.count == 0  # nothing is read back to the host during the update
    got = _grads(model.style_encoder)
    assert list(logs) == ["L_sp", "L_sr", "L_inv"] and all(v.ndim == 0 and not v.requires_grad for v in logs.values())
    inversion, _ = model.synthesize(model.invert(batch.image * batch.known, batch.known))
    assert loss.style_discriminator is not None
    sp = photo_realism_loss(loss.style_discriminator(inversion))
    sr = l1_loss(batch.image, inversion)
    torch.testing.assert_close(logs["L_sp"], sp.detach())
    torch.testing.assert_close(logs["L_sr"], sr.detach())
    _assert_grads(got, model.style_encoder, sp + 20.0 * sr)
    assert all(p.grad is None for p in model.encoder.parameters())


@pytest.mark.parametrize("finetune", [False, True])
def test_the_stage_2_updates_share_one_generated_image(finetune: bool) -> None:
    model, d, loss = _parts(finetune)
    d.eval()  # PICNet's D is spectrally normalised: in training mode every call would refine its estimate of sigma
    batch = _batch(1)
    calls: list[int] = []
    model.generator.register_forward_hook(lambda *_: calls.append(1))
    with _ScalarReads() as reads:
        d_logs = loss.accumulate_gradients("discriminator", batch)
        d_grads = _grads(d)
        for p in d.parameters():
            p.grad = None
        g_logs = loss.accumulate_gradients("feedforward", batch)
    assert reads.count == 0
    assert len(calls) == 1 and batch.generated is not None  # computed once, used by both updates
    assert list(d_logs) == ["L_adv_D"] and list(g_logs) == ["L_r", "L_adv_G", "L_ssim", "L_ff"]
    assert all(p.requires_grad for p in d.parameters())  # D is frozen for the generator's update only
    assert all(p.grad is None for p in d.parameters())  # ... which adds nothing to D's gradients
    # The equations, written out on the same weights.
    masked, known, image = batch.image * batch.known, batch.known, batch.image
    with torch.set_grad_enabled(finetune):
        _, features = model.synthesize(model.invert(masked, known))
    generated, _, _ = model.feedforward(masked, known, features)
    torch.testing.assert_close(batch.generated, generated)
    d_loss = F.softplus(-d(image)).mean() + F.softplus(d(generated.detach())).mean()  # eq. 12
    torch.testing.assert_close(d_logs["L_adv_D"], d_loss.detach())
    _assert_grads(d_grads, d, d_loss)
    r = ((image - generated).abs() * (known + 2.0 * (1 - known))).mean()  # hole_weight 2
    adv = F.softplus(-d(generated)).mean()  # eq. 13
    s = ssim_loss(image, generated, known)
    total = 20.0 * r + 1.0 * adv + 0.5 * s  # eq. 14 with lambda_ssim 0.5
    for name, value in {"L_r": r, "L_adv_G": adv, "L_ssim": s, "L_ff": total}.items():
        torch.testing.assert_close(g_logs[name], value.detach())
    _assert_grads(_grads(model.encoder), model.encoder, total)
    _assert_grads(_grads(model.generator), model.generator, total)
    if finetune:
        _assert_grads(_grads(model.style_encoder), model.style_encoder, total)
    else:
        assert all(p.grad is None for p in model.style_encoder.parameters())


def test_an_unknown_update_or_a_missing_network_is_refused() -> None:
    _, _, loss = _parts()
    with pytest.raises(ValueError, match="unknown update 'generator'"):
        loss.accumulate_gradients("generator", _batch())
    loss.style_discriminator = None
    with pytest.raises(ValueError, match="needs the pretrained discriminator"):
        loss.accumulate_gradients("inversion", _batch())
    assert set(UPDATES) == {u for updates in STAGE_UPDATES.values() for u in updates}
