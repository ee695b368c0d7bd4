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

import copy
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
from ..errors import ConfigError, InvalidInputError
from ..files import atomic_write
from ..models import DualPathNet, PICNetDiscriminator, apply_spectral_norm, fold_spectral_norm
from ..models.spectral import has_spectral_norm, spectral_norms
from ..models.stylegan2 import StyleGAN2Discriminator
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
from .loss import LOG_NAMES, STAGE_UPDATES, UPDATES, Batch, DualPathLoss
from .losses import LossWeights
from .schedule import PhaseSettings, base_settings, phase_at
from .state import latest_checkpoint, load_training_state, prune_checkpoints, save_training_state

__all__ = ["Trainer"]

logger = logging.getLogger(__name__)


def _distributed(device_type: str) -> tuple[int, int]:
    """``(rank, world_size)``; initialises the process group under ``torchrun`` (NCCL for CUDA, else Gloo)."""
    if "WORLD_SIZE" not in os.environ or int(os.environ["WORLD_SIZE"]) == 1:
        return 0, 1
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return dist.get_rank(), dist.get_world_size()


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
        self.rank, self.world = _distributed(self.device.type)
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
            self._wrap_ddp(),
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
        """The loss weights in force (the current phase's)."""
        return self.loss.weights

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
        self.d_s: StyleGAN2Discriminator | None = None
        if config.model.uses_inversion:
            self._load_stylegan2(stylegan2)
        if init is not None:
            self._load_init(init)
        if config.spectral_norm and config.stage2_steps:  # after --init, whose weights are plain
            self._warn_if_renormalised(init)
            apply_spectral_norm(self.model)
        # The averaged weights start from the initial ones (a resumed run overwrites them).
        self.ema = self._average_copy() if config.ema_kimg else None
        # The averaged and trained parameters the average follows (fixed: loading weights copies in place).
        pairs = [] if self.ema is None else zip(self.ema.parameters(), self.model.parameters(), strict=True)
        pairs = [(a, p) for a, p in pairs if p.requires_grad]
        self._ema_params: list[torch.Tensor] = [a for a, _ in pairs]
        self._trained_params: list[torch.Tensor] = [p for _, p in pairs]
        self.d = self._make_discriminator().to(self.device) if config.stage2_steps else None

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

    def _average_copy(self) -> DualPathNet:
        """A copy of the model to hold the averaged weights.

        The frozen StyleGAN2 is never trained, so the copy shares it with the model instead of
        duplicating it (115 MB of float32 weights for the 256x256 presets).
        """
        frozen = self.model.stylegan if self.config.model.uses_inversion else None
        memo: dict[int, Any] = {} if frozen is None else {id(frozen): frozen}
        return copy.deepcopy(self.model, memo).eval().requires_grad_(False)

    def _warn_if_renormalised(self, init: Any) -> None:
        """Spectral norm maps each weight to ``W / sigma(W)``: say so when ``--init`` weights are far from that."""
        if init is None:
            return
        sigmas = spectral_norms(self.model)
        off = {name: s for name, s in sigmas.items() if abs(s - 1.0) > 0.05}
        if off:
            worst = max(off, key=lambda n: abs(off[n] - 1.0))
            logger.warning(
                "--init %s: %d of %d convolutions of E/G have spectral norms far from 1 (%s: %.3g); spectral "
                "normalisation rescales them, so training starts from a different network. A model trained "
                "without spectral norm is fine-tuned as it is with spectral_norm=False (--no-spectral-norm)",
                init, len(off), len(sigmas), worst, off[worst],
            )  # fmt: skip

    def _make_discriminator(self) -> nn.Module:
        """``D`` of the feed-forward path (``config.discriminator``)."""
        model = self.config.model
        if self.config.discriminator == "stylegan2":
            return StyleGAN2Discriminator(model.stylegan)
        return PICNetDiscriminator(model.resolution, negative_slope=model.feedforward.negative_slope)

    def export_model(self) -> DualPathNet:
        """The network ``final/`` holds: the averaged (else trained) weights, spectral norm folded.

        A new network when spectral norm is on (the training network keeps its parametrisation).
        """
        net = self.ema if self.ema is not None else self.model
        return fold_spectral_norm(net) if has_spectral_norm(net) else net

    def _load_stylegan2(self, stylegan2: Any) -> None:
        from ..checkpoint import load_state_dict_strict
        from ..convert import load_stylegan2

        if stylegan2 is None:
            raise InvalidInputError(
                "the inversion path needs a pretrained StyleGAN2: pass --stylegan2 (see docs/convert.md)"
            )
        g, d, info = load_stylegan2(stylegan2, device=self.device)
        if info.config != self.config.model.stylegan:
            raise ConfigError(
                f"the StyleGAN2 in {stylegan2} ({info.config.resolution}x{info.config.resolution}, widths "
                f"{info.config.channels}) does not match the model's ({self.config.model.stylegan.resolution}x"
                f"{self.config.model.stylegan.resolution}, widths {self.config.model.stylegan.channels}); use "
                "config.model.replace(stylegan=...) with the converted configuration"
            )
        load_state_dict_strict(self.model.stylegan, g.state_dict(), source=str(stylegan2))
        if self.config.stage1_steps and d is None:
            raise InvalidInputError(f"stage 1 needs the pretrained discriminator D_s, but {stylegan2} has none")
        if d is not None:
            self.d_s = d.to(self.device).eval().requires_grad_(False)

    def _load_init(self, init: str | os.PathLike[str]) -> None:
        from ..checkpoint import load_model, read_config

        if read_config(init) != self.config.model:
            raise ConfigError(f"--init {init}: its config.json differs from the training config's model")
        self.model.load_state_dict(load_model(init).state_dict())

    def _start_run(self, data: Any, stylegan2: Any) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.config.to_json(self.run_dir / "config.json")
        run = {"data": str(data), "stylegan2": None if stylegan2 is None else str(stylegan2)}
        (self.run_dir / "run.json").write_text(json.dumps(run, indent=1), encoding="utf-8")
        write_split(self.run_dir, self.source, self.train_idx, self.test_idx)

    def _resume(self) -> None:
        read_split(self.run_dir, self.source, self.train_idx, self.test_idx)
        folder = latest_checkpoint(self.run_dir)
        if folder is None:
            logger.info("no checkpoint in %s yet: starting from step 0", self.run_dir)
            return
        state = load_training_state(folder, self._networks(), self.optimizers)
        self.step = state["step"]
        self.sampler.load_state_dict(state["extra"]["sampler"])
        self._truncate_metrics()
        logger.info("resumed %s at step %d", self.run_dir, self.step)

    def _networks(self) -> dict[str, nn.Module]:
        nets: dict[str, nn.Module] = {"model": self.model}
        if self.ema is not None:
            nets["ema"] = self.ema
        if self.d is not None:
            nets["discriminator"] = self.d
        return nets

    def _wrap_ddp(self) -> dict[str, nn.Module]:
        """The trained sub-networks, wrapped in DistributedDataParallel under ``torchrun``."""
        modules: dict[str, nn.Module] = {}
        if self.config.model.uses_inversion:
            modules["style_encoder"] = self.model.style_encoder
        if self.config.model.uses_feedforward:
            modules["encoder"] = self.model.encoder
            modules["generator"] = self.model.generator
        if self.d is not None:
            modules["discriminator"] = self.d
        if self.world == 1:
            return modules
        from torch.nn.parallel import DistributedDataParallel as DDP

        return {name: DDP(m, find_unused_parameters=False) for name, m in modules.items()}

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
            self._update_ema(image.shape[0] * self.world)
            self.step += 1
            images += image.shape[0] * self.world
            bar.update(1)
            if self.rank == 0:
                if self.step % self.config.log_every == 0 or self.step == total:
                    # The only host sync of a step: the losses become numbers when a line is written.
                    logs = {"stage": float(stage), **{k: float(v) for k, v in losses.items()}}
                    bar.set_postfix({k: f"{v:.3f}" for k, v in logs.items() if k.startswith("L_")}, refresh=False)
                    rate = images / max(time.perf_counter() - start, 1e-9)
                    record = {"step": self.step, **logs, "lr": self.settings.lr, "images_per_s": round(rate, 3)}
                    self._log({**record, "phase": self.settings.index} if self.config.phases else record)
                if self.step % self.config.sample_every == 0 or self.step == total:
                    self._samples()
                if self.step % self.config.checkpoint_every == 0 or self.step == total:
                    self._checkpoint()
            self._barrier()
        bar.close()
        if self.step < total:
            return None
        final = self.run_dir / "final"
        if self.rank == 0:
            save_model(self.export_model(), self.config.model, final)
        self._barrier()
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
        self.loss.weights = dataclasses.replace(
            self.loss.weights,
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

    def _barrier(self) -> None:
        if self.world > 1:
            import torch.distributed as dist

            dist.barrier()

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

    @torch.no_grad()
    def _update_ema(self, images: int) -> None:
        """Move the averaged weights towards the trained ones: half the way every ``ema_kimg`` thousand images."""
        if self.ema is None:
            return
        beta = 0.5 ** (images / (self.config.ema_kimg * 1000))
        if self._ema_params:
            torch._foreach_lerp_(self._ema_params, self._trained_params, 1.0 - beta)
        for a, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
            a.copy_(b)

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
