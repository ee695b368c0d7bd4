"""The two-stage training of the paper (section 3.3), on one process or many (``torchrun``).

Stage 1 trains the style encoder ``E_s`` (the learned GAN inversion) against the frozen
pretrained StyleGAN2 ``G_s`` and its frozen discriminator ``D_s`` with eq. 10. Stage 2 trains
the feed-forward encoder ``E``, decoder ``G`` and the fusion modules against a discriminator
``D`` trained alongside (eq. 12-14); ``E_s`` stays frozen unless ``finetune_style_encoder``.

The run folder holds ``config.json`` (the :class:`TrainConfig`), ``run.json`` (data and
StyleGAN2 paths), ``split.json``, ``metrics.jsonl``, ``samples/step-*.png``,
``checkpoints/step-*/`` (see :mod:`dpinpaint.train.state`) and, at the end, ``final/``: an
``Inpainter`` checkpoint folder. With ``ema_kimg > 0`` an exponential moving average of the
weights (``ema`` in the checkpoints) is kept beside them, and samples and ``final/`` use it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..checkpoint import save_model
from ..device import cpu_has_native_bf16
from ..errors import CheckpointError, ConfigError, InvalidInputError
from ..files import atomic_write
from ..models import DualPathNet, apply_spectral_norm, fold_spectral_norm
from ..models.spectral import has_spectral_norm
from .config import TrainConfig
from .data import (
    ImageSource,
    InpaintingDataset,
    ResumableSampler,
    make_loader,
    read_split,
    split_indices,
    validate_source,
    write_split,
)
from .distributed import barrier, init_distributed, wrap_ddp
from .ema import WeightAverage
from .loss import LOG_NAMES, STAGE_UPDATES, UPDATES, Batch, DualPathLoss
from .losses import LossWeights
from .networks import load_init_weights, load_pretrained_stylegan2, make_discriminator, warn_if_renormalised
from .schedule import PhaseSettings, base_settings, phase_at
from .state import checkpoints, load_training_state, prune_checkpoints, save_training_state

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)


class Trainer:
    """Train a :class:`~dpinpaint.DualPathNet`.

    Args:
        config: the hyper-parameters.
        run_dir: the run folder (created; with ``resume`` it must hold a run of the same config).
        data: an image folder or zip archive.
        stylegan2: a pretrained StyleGAN2 in any format :func:`dpinpaint.convert.load_stylegan2`
            reads (required when stage 1 trains or the model uses the inversion path).
        resume: continue from the newest checkpoint of ``run_dir``.
        progress: show a tqdm bar (rank 0 only).
        init: start from the weights of an ``Inpainter`` checkpoint folder (fine-tuning a trained
            model on another domain); its config must equal ``config.model``.
    """

    def __init__(
        self,
        config: TrainConfig,
        run_dir: str | os.PathLike[str],
        data: str | os.PathLike[str],
        stylegan2: str | os.PathLike[str] | None = None,
        *,
        resume: bool = False,
        progress: bool = True,
        device: str | torch.device = "cpu",
        init: str | os.PathLike[str] | None = None,
    ) -> None:
        self.config, self.run_dir, self.progress = config, Path(run_dir), progress
        self.device = torch.device(device)
        self.rank, self.world = init_distributed(self.device.type)
        if self.device.type == "cuda" and self.world > 1:  # one GPU per process under torchrun
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        # Everything that can be wrong is checked before any training starts.
        self._check_precision()
        self._open_data(data)
        self._check_run_dir(resume)
        # The order of the steps below is the order the global RNG draws initial weights in.
        self._build_networks(stylegan2, init=None if resume else init)
        self._build_optimizers()
        self._build_loader()
        self.step = 0
        if resume:
            self._resume()
        elif self.rank == 0:
            self._start_run(data, stylegan2)
        self.loss = DualPathLoss(
            self.model,
            wrap_ddp(self._trained_networks(), self.world),
            discriminator=self.d,
            style_discriminator=self.d_s,
            weights=LossWeights(
                config.lambda_sr, config.lambda_r, config.hole_weight, config.lambda_ssim, config.lambda_adv
            ),
            scaler=self.scaler,
            finetune_style_encoder=config.finetune_style_encoder,
        )

    @property
    def weights(self) -> LossWeights:
        """The loss weights in force (the current phase's); :attr:`loss` holds them."""
        return self.loss.weights

    @weights.setter
    def weights(self, weights: LossWeights) -> None:
        self.loss.weights = weights

    # -- building ----------------------------------------------------------------------------
    def _check_precision(self) -> None:
        precision = self.config.precision
        if self.device.type == "cpu" and precision == "fp16":
            raise ConfigError("precision='fp16' is for accelerators; train on the CPU with 'fp32' (or 'bf16')")
        if self.device.type == "cpu" and precision == "bf16" and not cpu_has_native_bf16():
            raise ConfigError(
                "precision='bf16' on the CPU needs native bfloat16 (AVX512-BF16 or AMX), which this CPU lacks "
                "(emulated bf16 is slower than float32); use 'fp32'"
            )
        self.autocast_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=precision == "fp16")

    def _open_data(self, data: str | os.PathLike[str]) -> None:
        """The images (every one checked) and their train/test split."""
        self.source = ImageSource(data)
        validate_source(self.source, self.config.model.resolution)
        self.train_idx, self.test_idx = split_indices(len(self.source), self.config.test_count)

    def _build_networks(self, stylegan2: Any, init: str | os.PathLike[str] | None) -> None:
        """The model (with the pretrained ``G_s``/``D_s`` and ``--init`` weights), its average and ``D``."""
        config = self.config
        torch.manual_seed(config.seed)
        self.model = DualPathNet(config.model).to(self.device)
        self.d_s: nn.Module | None = None
        if config.model.uses_inversion:
            self.d_s = load_pretrained_stylegan2(
                self.model, stylegan2, self.device, need_discriminator=bool(config.stage1_steps)
            )
        if init is not None:
            load_init_weights(self.model, init)
        if config.spectral_norm and config.stage2_steps:  # after --init, whose weights are plain
            if init is not None:
                warn_if_renormalised(self.model, init)
            apply_spectral_norm(self.model)
        # The averaged weights start from the initial ones (a resumed run overwrites them).
        self.average = WeightAverage(self.model, config.ema_kimg) if config.ema_kimg else None
        self.ema = None if self.average is None else self.average.net
        self.d = make_discriminator(config).to(self.device) if config.stage2_steps else None

    def _build_optimizers(self) -> None:
        """One Adam per phase's networks (:data:`dpinpaint.train.loss.PHASES` names them)."""
        config = self.config
        self.settings = base_settings(config)  # what the optimisers start with; run() enters each phase
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        if config.stage1_steps:
            self.optimizers["style_encoder"] = torch.optim.Adam(
                self.model.style_encoder.parameters(), lr=config.lr, betas=config.betas
            )
        if self.d is not None:
            params = [*self.model.encoder.parameters(), *self.model.generator.parameters()]
            if config.finetune_style_encoder and config.model.uses_inversion:
                params += list(self.model.style_encoder.parameters())
            self.optimizers["generator"] = torch.optim.Adam(params, lr=config.lr, betas=config.betas)
            self.optimizers["discriminator"] = torch.optim.Adam(self.d.parameters(), lr=config.lr, betas=config.betas)

    def _build_loader(self) -> None:
        """The training samples, their resumable order and one loader for the whole run (its workers persist)."""
        config = self.config
        self.dataset = InpaintingDataset(
            self.source,
            self.train_idx,
            config.model.resolution,
            seed=config.seed,
            regular_probability=config.regular_probability,
            hole_ratio=config.hole_ratio,
            color_probability=config.color_probability,
            blur_probability=config.blur_probability,
            thin_probability=config.thin_probability,
        )
        self.sampler = ResumableSampler(
            len(self.dataset), seed=config.seed, batch_size=config.batch_size, rank=self.rank, world_size=self.world
        )
        # Each pass over the loader starts at the sampler's epoch and position.
        self.loader = make_loader(self.dataset, self.sampler, config.batch_size, config.workers)

    def _check_run_dir(self, resume: bool) -> None:
        config_path = self.run_dir / "config.json"
        if resume:
            if not config_path.is_file():
                raise InvalidInputError(f"--resume: {self.run_dir} is not a training run (no config.json)")
            saved = TrainConfig.from_json(config_path)
            if saved.to_dict() != self.config.to_dict():
                raise ConfigError(
                    f"--resume: the configuration differs from the one {self.run_dir} was started with; "
                    "resume with the run's own config.json"
                )
        elif self.run_dir.exists() and any(self.run_dir.iterdir()):
            raise InvalidInputError(
                f"{self.run_dir} is not empty: pass --resume to continue it, or choose a new folder"
            )

    def export_model(self) -> DualPathNet:
        """The network ``final/`` holds: the averaged (else trained) weights, spectral norm folded.

        A new network when spectral norm is on (the training network keeps its parametrisation).
        """
        net = self.ema if self.ema is not None else self.model
        return fold_spectral_norm(net) if has_spectral_norm(net) else net

    def _start_run(self, data: Any, stylegan2: Any) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.to_json(self.run_dir / "config.json")
        run = {"data": str(data), "stylegan2": None if stylegan2 is None else str(stylegan2)}
        (self.run_dir / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
        write_split(self.run_dir, self.source, self.train_idx, self.test_idx)

    def _resume(self) -> None:
        read_split(self.run_dir, self.source, self.train_idx, self.test_idx)
        found = checkpoints(self.run_dir)
        if not found:
            logger.info("no checkpoint in %s yet: starting from step 0", self.run_dir)
            return
        problems = []
        for folder in found:  # newest first; a damaged one (a full disk, a bad copy) falls back to the one before
            try:
                state = load_training_state(folder, self._networks(), self.optimizers)
                self.sampler.load_state_dict(state["extra"]["sampler"])
            except (CheckpointError, KeyError, TypeError, ValueError) as exc:
                problems.append(f"{folder.name}: {exc}")
                logger.warning("checkpoint %s cannot be resumed from (%s); trying the one before", folder, exc)
                continue
            self.step = state["step"]
            self._truncate_metrics()
            logger.info("resumed %s at step %d", self.run_dir, self.step)
            return
        raise CheckpointError(
            f"no checkpoint of {self.run_dir} can be resumed from: "
            + "; ".join(problems)
            + " (start a new run with another --output, or remove the damaged checkpoints folder)"
        )

    def _networks(self) -> dict[str, nn.Module]:
        nets: dict[str, nn.Module] = {"model": self.model}
        if self.ema is not None:
            nets["ema"] = self.ema
        if self.d is not None:
            nets["discriminator"] = self.d
        return nets

    def _trained_networks(self) -> dict[str, nn.Module]:
        """The sub-networks a step trains, by the names :class:`~dpinpaint.train.loss.DualPathLoss` calls them."""
        names = ["style_encoder"] if self.config.model.uses_inversion else []
        names += ["encoder", "generator"] if self.config.model.uses_feedforward else []
        nets = {name: getattr(self.model, name) for name in names}
        return nets if self.d is None else {**nets, "discriminator": self.d}

    # -- the loop ---------------------------------------------------------------------------
    def _batches(self) -> Iterator[dict[str, torch.Tensor]]:
        while True:
            yield from self.loader
            self.sampler.next_epoch()

    def total_steps(self) -> int:
        return self.config.stage1_steps + self.config.stage2_steps

    def run(self, until: int | None = None) -> Path | None:
        """Train until the configured number of steps and export ``final/``; returns its folder.

        ``until`` stops early after that global step (without an extra checkpoint, like an
        interruption; returns None); a later ``resume`` continues from the last checkpoint.
        """
        from tqdm.auto import tqdm

        total = self.total_steps()
        stop = total if until is None else min(until, total)
        bar = tqdm(total=total, initial=self.step, disable=not self.progress or self.rank != 0, unit="step")
        batches = self._batches()
        start, images = time.perf_counter(), 0
        while self.step < stop:
            if self.enter_phase(phase_at(self.config, self.step)):
                batches = self._batches()  # the loader was rebuilt with the phase's holes
            batch = next(batches)
            image = batch["image"].to(self.device)
            known = batch["known"].to(self.device)
            stage = 1 if self.step < self.config.stage1_steps else 2
            with torch.autocast(self.device.type, dtype=self.autocast_dtype, enabled=self.autocast_dtype is not None):
                losses = self.train_step(Batch(image, known), stage)
            self.sampler.advance(image.shape[0] * self.world)
            if self.average is not None:
                self.average.update(image.shape[0] * self.world)
            self.step += 1
            images += image.shape[0] * self.world
            bar.update(1)
            if self.rank == 0:
                if self.step % self.config.log_every == 0 or self.step == total:
                    # The losses are read back from the device only here, when a line is written.
                    logs = {"stage": float(stage), **{k: float(v) for k, v in losses.items()}}
                    bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k.startswith("L_")}, refresh=False)
                    rate = images / max(time.perf_counter() - start, 1e-9)
                    record = {"step": self.step, **logs, "lr": self.settings.lr, "images_per_s": round(rate, 3)}
                    self._log({**record, "phase": self.settings.index} if self.config.phases else record)
                if self.step % self.config.sample_every == 0 or self.step == total:
                    self._samples()
                if self.step % self.config.checkpoint_every == 0 or self.step == total:
                    self._checkpoint()
                if self.config.snapshot_every and self.step % self.config.snapshot_every == 0:
                    save_model(self.export_model(), self.config.model, self.snapshot_folder(self.step))
            barrier(self.world)
        bar.close()
        if self.step < total:
            return None
        final = self.run_dir / "final"
        if self.rank == 0:
            save_model(self.export_model(), self.config.model, final)
        barrier(self.world)
        return final

    def enter_phase(self, settings: PhaseSettings) -> bool:
        """Put ``settings`` (a phase of ``config.phases``) in force; True if the data loader was rebuilt.

        The learning rate of the stage-2 optimisers and the loss weights change in place (Adam's
        moments and ``D`` carry on); new hole ratios need a new loader, whose workers hold a copy of
        the dataset. It continues at the sampler's position, so the data order is unchanged.
        """
        if settings == self.settings:
            return False
        changed = self.settings.hole_ratio != settings.hole_ratio
        self.settings = settings
        self.weights = dataclasses.replace(
            self.weights,
            lambda_r=settings.lambda_r,
            lambda_adv=settings.lambda_adv,
            lambda_ssim=settings.lambda_ssim,
            hole_weight=settings.hole_weight,
        )
        for name in ("generator", "discriminator"):
            if name in self.optimizers:
                for group in self.optimizers[name].param_groups:
                    group["lr"] = settings.lr
        if changed:
            self.dataset.hole_ratio = settings.hole_ratio
            self.loader = make_loader(self.dataset, self.sampler, self.config.batch_size, self.config.workers)
        if self.rank == 0:
            logger.info("step %d: phase %d (%s)", self.step, settings.index, settings)
        return changed

    def train_step(self, batch: Batch, stage: int) -> dict[str, torch.Tensor]:
        """One step of ``stage`` (1 or 2): each update of :data:`~dpinpaint.train.loss.STAGE_UPDATES`
        clears its optimiser's gradients, back-propagates its loss and steps the optimiser.

        Returns the losses as detached 0-dim tensors (no host sync), in ``metrics.jsonl``'s order.
        """
        self.model.train()
        losses: dict[str, torch.Tensor] = {}
        for update in STAGE_UPDATES[stage]:
            opt = self.optimizers[UPDATES[update]]
            opt.zero_grad(set_to_none=True)
            losses.update(self.loss.accumulate_gradients(update, batch))
            self.scaler.step(opt)  # through the gradient scaler under fp16
            self.scaler.update()
        return {name: losses[name] for name in LOG_NAMES if name in losses}

    # -- outputs ----------------------------------------------------------------------------
    def _log(self, record: dict[str, Any]) -> None:
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")

    def _truncate_metrics(self) -> None:
        """Drop log lines written after the checkpoint a resumed run restarts from."""
        path = self.run_dir / "metrics.jsonl"
        if self.rank != 0 or not path.is_file():
            return
        kept = [line for line in path.read_text(encoding="utf-8").splitlines() if json.loads(line)["step"] <= self.step]
        text = "".join(line + "\n" for line in kept)
        atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))

    def snapshot_folder(self, step: int) -> Path:
        """Where the model exported at ``step`` goes (``config.snapshot_every``)."""
        return self.run_dir / "snapshots" / f"step-{step:08d}"

    def _checkpoint(self) -> None:
        save_training_state(
            self.run_dir, self.step, self._networks(), self.optimizers, {"sampler": self.sampler.state_dict()}
        )
        prune_checkpoints(self.run_dir, self.config.keep_checkpoints)

    @torch.no_grad()
    def _samples(self, count: int = 4) -> None:
        """A grid, one row per held-out image: masked input | I_s | I_g | output | ground truth."""
        indices = (self.test_idx or self.train_idx)[:count]
        fixed = InpaintingDataset(
            self.source, indices, self.config.model.resolution, seed=self.config.seed + 1, flip=False,
            regular_probability=self.config.regular_probability, hole_ratio=self.config.hole_ratio,
        )  # fmt: skip
        items = [fixed[i] for i in range(len(indices))]
        image = torch.stack([it["image"] for it in items]).to(self.device)
        known = torch.stack([it["known"] for it in items]).to(self.device)
        net = self.ema if self.ema is not None else self.model
        was_training = net.training
        net.eval()
        out = net(image, known)
        net.train(was_training)
        blank = torch.zeros_like(image)
        cols = [image * known, out.inversion if out.inversion is not None else blank]
        cols += [out.generated if out.generated is not None else blank, out.output, image]
        grid = torch.cat([torch.cat(list(c), dim=1) for c in cols], dim=2)  # rows: images; columns: panels
        pixels = ((grid.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        path = self.run_dir / "samples" / f"step-{self.step:08d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: Image.fromarray(np.ascontiguousarray(pixels)).save(tmp, format="PNG"))
