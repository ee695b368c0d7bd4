"""The training objective as one object over the (DDP-wrapped) networks, as NVlabs
stylegan2-ada-pytorch's ``training/loss.py`` does.

:class:`DualPathLoss` runs the networks of a training step and back-propagates the paper's losses
(:mod:`dpinpaint.train.losses`, eq. 8-14) one update at a time; the trainer clears the gradients
before each update and steps that update's optimiser after it:

- stage 1: ``"inversion"`` (eq. 10 on ``E_s``, optimiser ``style_encoder``);
- stage 2: ``"discriminator"`` (eq. 12 on ``D``, optimiser ``discriminator``), then
  ``"feedforward"`` (eq. 14 on ``E``, ``G``, the fusions and, when fine-tuned, ``E_s``; optimiser
  ``generator``). Both updates use the same ``I_g``, computed once per :class:`Batch` before
  ``D``'s update; the generator's update scores it with the updated ``D``.

Under ``torchrun`` the trained sub-networks are wrapped in ``DistributedDataParallel`` one by one
(a DDP wrapper of the whole :class:`~dpinpaint.DualPathNet` would not see which parts an
update uses), so :meth:`DualPathLoss.invert` and :meth:`DualPathLoss.feedforward` are
:meth:`DualPathNet.invert <dpinpaint.DualPathNet.invert>` and
:meth:`DualPathNet.feedforward <dpinpaint.DualPathNet.feedforward>` through those wrappers.

Every update returns its logged values as detached 0-dim tensors: nothing is read back to the host
during a step, so on an accelerator a step does not wait for the device; the trainer turns them
into floats when it writes a log line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from ..models import DualPathNet
from .losses import LossWeights, discriminator_loss, feedforward_terms, inversion_terms

__all__ = ["UPDATES", "STAGE_UPDATES", "LOG_NAMES", "Batch", "DualPathLoss"]

#: The updates of a step and the optimiser each one steps (a key of the trainer's optimisers and checkpoints).
UPDATES = {"inversion": "style_encoder", "discriminator": "discriminator", "feedforward": "generator"}
#: The updates of a step of each stage, in order.
STAGE_UPDATES = {1: ("inversion",), 2: ("discriminator", "feedforward")}
#: The logged losses, in the order a ``metrics.jsonl`` line lists them.
LOG_NAMES = ("L_sp", "L_sr", "L_inv", "L_r", "L_adv_G", "L_ssim", "L_ff", "L_adv_D")


@dataclass
class Batch:
    """One training batch: ``image`` ``(B, 3, R, R)`` in [-1, 1], ``known`` ``(B, 1, R, R)`` (1 = observed).

    ``generated`` is ``I_g`` ``(B, 3, R, R)`` of the feed-forward path once a stage-2 update ran
    (with its graph), so that ``D``'s update and the generator's use the same one.
    """

    image: torch.Tensor
    known: torch.Tensor
    generated: torch.Tensor | None = None

    @property
    def masked(self) -> torch.Tensor:
        """``I_m = I_gt * M``: the input of both paths."""
        return self.image * self.known


class DualPathLoss:
    """The paper's training losses over the networks of :class:`~dpinpaint.train.trainer.Trainer`.

    Args:
        model: the trained network (its frozen ``G_s`` synthesises; its sub-networks are the
            ones ``networks`` wraps).
        networks: the trained sub-networks as the step calls them (``"style_encoder"``,
            ``"encoder"``, ``"generator"``, ``"discriminator"``; DDP-wrapped under ``torchrun``).
        discriminator: ``D`` itself (not its DDP wrapper): the generator's update scores ``I_g``
            with it, its weights frozen; None without stage 2.
        style_discriminator: the frozen pretrained ``D_s`` of stage 1, or None.
        weights: the loss weights (:attr:`weights` may be replaced between steps: the phases of a schedule).
        scaler: back-propagates ``scaler.scale(loss)`` (float16's loss scaling; a no-op when disabled).
        finetune_style_encoder: stage 2 back-propagates into ``E_s`` too.
    """

    def __init__(
        self,
        model: DualPathNet,
        networks: Mapping[str, nn.Module],
        *,
        discriminator: nn.Module | None,
        style_discriminator: nn.Module | None,
        weights: LossWeights,
        scaler: torch.amp.GradScaler,
        finetune_style_encoder: bool = False,
    ) -> None:
        self.model = model
        self.networks = dict(networks)
        self.discriminator = discriminator
        self.style_discriminator = style_discriminator
        self.weights = weights
        self.scaler = scaler
        self.finetune_style_encoder = finetune_style_encoder

    # -- the two paths through the (wrapped) sub-networks ---------------------------------------
    def invert(self, masked: torch.Tensor, known: torch.Tensor) -> torch.Tensor:
        """:meth:`DualPathNet.invert`: ``E_s(I_m, M) + w_avg`` -> W+ ``(B, n_latent, w_dim)``."""
        return self.networks["style_encoder"](masked, known) + self.model.stylegan.w_avg

    def feedforward(
        self, masked: torch.Tensor, known: torch.Tensor, features: dict[int, torch.Tensor] | None = None
    ) -> torch.Tensor:
        """:meth:`DualPathNet.feedforward`'s ``I_g = G(E(I_m, M), F_s)`` ``(B, 3, R, R)``."""
        generated, _, _ = self.networks["generator"](self.networks["encoder"](masked, known), known, features)
        return generated

    def generate(self, batch: Batch) -> torch.Tensor:
        """``I_g`` of ``batch`` (computed on first use, then reused): ``E_s``'s features (with gradients
        only when fine-tuned) feed the fusions of ``G``."""
        if batch.generated is None:
            masked, known = batch.masked, batch.known
            features = None
            if self.model.config.uses_inversion:
                with torch.set_grad_enabled(self.finetune_style_encoder):
                    _, features = self.model.synthesize(self.invert(masked, known))
            batch.generated = self.feedforward(masked, known, features)
        return batch.generated

    # -- the updates ----------------------------------------------------------------------------
    def accumulate_gradients(self, update: str, batch: Batch) -> dict[str, torch.Tensor]:
        """Back-propagate ``update``'s loss on ``batch``; returns the logged values (detached 0-dim tensors).

        Gradients add up in the ``.grad`` of the update's parameters (clear them before, step after).

        Raises:
            ValueError: an unknown update, or one whose networks this run does not train.
        """
        if update == "inversion":
            terms = self._inversion(batch)
        elif update == "discriminator":
            terms = self._discriminator(batch)
        elif update == "feedforward":
            terms = self._feedforward(batch)
        else:
            raise ValueError(f"unknown update {update!r}; the updates are {', '.join(UPDATES)}")
        return {name: value.detach() for name, value in terms.items()}

    def _backward(self, loss: torch.Tensor) -> None:
        self.scaler.scale(loss).backward()

    def _inversion(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Eq. 10 on ``E_s``: the photo-realism of ``I_s`` under ``D_s`` plus ``lambda_sr`` x its L1 to the ground truth."""
        if self.style_discriminator is None:
            raise ValueError("the inversion update needs the pretrained discriminator D_s")
        inversion, _ = self.model.synthesize(self.invert(batch.masked, batch.known))
        terms = inversion_terms(self.style_discriminator(inversion), batch.image, inversion, self.weights)
        self._backward(terms["L_inv"])
        return terms

    def _discriminator(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Eq. 12 on ``D``: real images against ``I_g`` (detached: no gradient reaches the generator)."""
        generated = self.generate(batch)
        d = self.networks["discriminator"]
        loss = discriminator_loss(d(batch.image), d(generated.detach()))
        self._backward(loss)
        return {"L_adv_D": loss}

    def _feedforward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Eq. 14 on the generator side, through ``D`` itself (not its DDP wrapper) with its weights frozen."""
        if self.discriminator is None:
            raise ValueError("the feed-forward update needs the discriminator D")
        generated = self.generate(batch)
        self.discriminator.requires_grad_(False)
        try:
            terms = feedforward_terms(self.discriminator(generated), batch.image, generated, self.weights, batch.known)
            self._backward(terms["L_ff"])
        finally:
            self.discriminator.requires_grad_(True)
        return terms
