"""The networks of a training run besides the model: ``D`` by the config, the pretrained ``G_s``/``D_s``,
and the weights of ``--init``."""

from __future__ import annotations

import logging
import os

import torch
from torch import nn

from ..checkpoint import load_model, load_state_dict_strict, read_config
from ..errors import ConfigError, InvalidInputError
from ..models import DualPathNet, PICNetDiscriminator
from ..models.spectral import spectral_norms
from ..models.stylegan2 import StyleGAN2Discriminator
from .config import TrainConfig

__all__ = ["make_discriminator", "load_pretrained_stylegan2", "load_init_weights", "warn_if_renormalised"]

logger = logging.getLogger(__name__)


def make_discriminator(config: TrainConfig) -> nn.Module:
    """``D`` of the feed-forward path (``config.discriminator``), freshly initialised (draws from the global RNG)."""
    model = config.model
    if config.discriminator == "stylegan2":
        return StyleGAN2Discriminator(model.stylegan)
    return PICNetDiscriminator(model.resolution, negative_slope=model.feedforward.negative_slope)


def load_pretrained_stylegan2(
    model: DualPathNet, stylegan2: str | os.PathLike[str] | None, device: torch.device, *, need_discriminator: bool
) -> nn.Module | None:
    """Load a pretrained StyleGAN2 (any format :func:`dpinpaint.convert.load_stylegan2` reads) into
    ``model.stylegan``; returns its discriminator ``D_s``, frozen on ``device``, or None when the file has none.

    Raises:
        InvalidInputError: no file, or no ``D_s`` in it while ``need_discriminator`` (stage 1).
        ConfigError: its architecture differs from the model's.
    """
    from ..convert import load_stylegan2

    if stylegan2 is None:
        raise InvalidInputError(
            "the inversion path needs a pretrained StyleGAN2: pass --stylegan2 (see docs/convert.md)"
        )
    g, d, info = load_stylegan2(stylegan2, device=device)
    wanted = model.config.stylegan
    if info.config != wanted:
        raise ConfigError(
            f"the StyleGAN2 in {stylegan2} ({info.config.resolution}x{info.config.resolution}, widths "
            f"{info.config.channels}) does not match the model's ({wanted.resolution}x{wanted.resolution}, widths "
            f"{wanted.channels}); use config.model.replace(stylegan=...) with the converted configuration"
        )
    load_state_dict_strict(model.stylegan, g.state_dict(), source=str(stylegan2))
    if need_discriminator and d is None:
        raise InvalidInputError(f"stage 1 needs the pretrained discriminator D_s, but {stylegan2} has none")
    return None if d is None else d.to(device).eval().requires_grad_(False)


def load_init_weights(model: DualPathNet, init: str | os.PathLike[str]) -> None:
    """Start from the weights of an ``Inpainter`` checkpoint folder (fine-tuning on another domain).

    Raises:
        ConfigError: its config differs from ``model``'s.
    """
    if read_config(init) != model.config:
        raise ConfigError(f"--init {init}: its config.json differs from the training config's model")
    model.load_state_dict(load_model(init).state_dict())


def warn_if_renormalised(model: DualPathNet, init: str | os.PathLike[str]) -> None:
    """Spectral norm maps each weight to ``W / sigma(W)``: say so when ``--init`` weights are far from that."""
    sigmas = spectral_norms(model)
    off = {name: s for name, s in sigmas.items() if abs(s - 1.0) > 0.05}
    if off:
        worst = max(off, key=lambda n: abs(off[n] - 1.0))
        logger.warning(
            "--init %s: %d of %d convolutions of E/G have spectral norms far from 1 (%s: %.3g); spectral "
            "normalisation rescales them, so training starts from a different network. A model trained "
            "without spectral norm is fine-tuned as it is with spectral_norm=False (--no-spectral-norm)",
            init, len(off), len(sigmas), worst, off[worst],
        )  # fmt: skip
