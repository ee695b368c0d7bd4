"""The training configuration: every hyper-parameter of a run, as data (``config.json`` of a run).

Defaults are the paper's (section 4.1): Adam with learning rate 1e-4 and betas (0.001, 0.99),
batch 8, ``lambda_sr = lambda_r = 20``; masks are the free-form and rectangular holes of
:mod:`dpinpaint.masks` with hole ratios up to 60% (Table 1's range).
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass, field
from typing import Any

from ..config import ModelConfig, dump_json, get_preset, load_json_text
from ..errors import ConfigError
from .schedule import Phase, parse_phases

__all__ = ["TrainConfig", "TRAIN_CONFIG_VERSION", "DISCRIMINATORS"]

TRAIN_CONFIG_VERSION = 1
#: The discriminators ``D`` of the feed-forward path.
DISCRIMINATORS = ("picnet", "stylegan2")
#: Values of fields that a config.json of dpinpaint 0.1.0 lacks (its behaviour).
_ABSENT_DEFAULTS: dict[str, Any] = {"spectral_norm": False, "discriminator": "stylegan2"}


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run needs besides its data and StyleGAN2 paths.

    Attributes:
        model: the network's :class:`~dpinpaint.ModelConfig`.
        stage1_steps: steps training ``E_s`` (inversion path, eq. 10); 0 skips the stage.
        stage2_steps: steps training ``E``, ``G`` and the fusion modules with ``D`` (eq. 14).
        batch_size: images per step and per process (the effective batch is this times the
            number of processes under ``torchrun``).
        lr, betas: Adam's, for every network.
        lambda_sr, lambda_r: the loss weights of eq. 10 and eq. 14.
        lambda_adv: weight of the adversarial term ``L_adv^G`` in eq. 14 (1 in the paper).
        hole_weight: how many times a hole pixel counts in eq. 11's L1 (1 = the paper's plain
            mean; see :mod:`dpinpaint.train.losses`).
        lambda_ssim: weight of an SSIM term on the composited output (0 = the paper's eq. 14;
            see :mod:`dpinpaint.train.losses`).
        ema_kimg: half-life, in thousands of images, of an exponential moving average of the
            weights (StyleGAN2-ADA's ``G_ema``, which uses 10); samples and ``final/`` then use
            the averaged weights. 0 (the paper) exports the weights of the last step.
        finetune_style_encoder: also train ``E_s`` in stage 2 (the paper freezes it).
        seed: seeds the initial weights, the data order and the masks.
        workers: DataLoader worker processes.
        test_count: images held out at the end of the file order (FFHQ: the last 5,000).
        regular_probability: share of rectangular holes among the training masks.
        color_probability: share of training images whose colours are changed at random (hue
            turned, saturation and brightness scaled; see
            :func:`dpinpaint.train.data.random_color_change`). 0 (the paper) never changes them.
        blur_probability: share of training images given a Gaussian blur of random strength
            (:func:`dpinpaint.train.data.random_blur`). 0 (the paper) never blurs them.
        thin_probability: share of training masks that are thin damage (thin strokes, 0.5-12% of
            the image: :func:`dpinpaint.mask_generation.thin_mask`) instead of Table 1's kinds.
            0 (the paper) never draws them.
        hole_ratio: range of hole fractions of the training masks.
        checkpoint_every, sample_every, log_every: periods in steps.
        snapshot_every: every this many steps (0: never) also export the model as ``final/``
            will be (averaged weights, spectral norm folded) to ``snapshots/step-<8 digits>/``, a
            folder :meth:`Inpainter.from_pretrained` loads, to choose among on validation data.
        keep_checkpoints: how many checkpoints to keep (the newest).
        precision: ``"fp32"``, or mixed precision: ``"bf16"`` (autocast; on the CPU only with
            native bfloat16) or ``"fp16"`` (autocast with a gradient scaler; accelerators only).
            Weights and optimiser states stay float32.
        phases: a schedule of stage-2 phases (:mod:`dpinpaint.train.schedule`), each changing
            ``lr``, the loss weights or ``hole_ratio`` for its ``steps``, in one run that keeps the
            optimisers and ``D``; their steps add up to ``stage2_steps``. Empty: one phase.
        spectral_norm: train the convolutions of ``E`` and ``G`` spectral-normalised, as PICNet
            does (:mod:`dpinpaint.models.spectral`); ``final/`` holds the folded, plain weights.
        discriminator: ``D`` of the feed-forward path: ``"picnet"`` (PICNet's spectral-normalised
            residual discriminator, :class:`~dpinpaint.models.PICNetDiscriminator`) or
            ``"stylegan2"`` (a StyleGAN2 discriminator sized by ``model.stylegan``). Both are
            trained with the paper's eq. 12-13.

    A config.json without ``spectral_norm`` / ``discriminator`` was written by dpinpaint 0.1.0,
    which trained without spectral norm against the StyleGAN2 ``D``: it reads as
    ``spectral_norm=False, discriminator="stylegan2"``, so such runs resume unchanged.
    """

    model: ModelConfig
    stage1_steps: int = 100_000
    stage2_steps: int = 300_000
    batch_size: int = 8
    lr: float = 1e-4
    betas: tuple[float, float] = (0.001, 0.99)
    lambda_sr: float = 20.0
    lambda_r: float = 20.0
    lambda_adv: float = 1.0
    hole_weight: float = 1.0
    lambda_ssim: float = 0.0
    ema_kimg: float = 0.0
    finetune_style_encoder: bool = False
    seed: int = 0
    workers: int = 2
    test_count: int = 5000
    regular_probability: float = 0.5
    color_probability: float = 0.0
    blur_probability: float = 0.0
    thin_probability: float = 0.0
    hole_ratio: tuple[float, float] = (0.0, 0.6)
    checkpoint_every: int = 1000
    sample_every: int = 1000
    log_every: int = 10
    keep_checkpoints: int = 3
    snapshot_every: int = 0
    precision: str = "fp32"
    spectral_norm: bool = True
    discriminator: str = "picnet"
    phases: tuple[Phase, ...] = ()
    format_version: int = field(default=TRAIN_CONFIG_VERSION)

    def __post_init__(self) -> None:
        def positive(name: str, allow_zero: bool = False) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
                raise ConfigError(f"{name} must be an integer >= {0 if allow_zero else 1}, got {value!r}")

        for name in ("batch_size", "checkpoint_every", "sample_every", "log_every", "keep_checkpoints"):
            positive(name)
        for name in ("stage1_steps", "stage2_steps", "workers", "test_count", "snapshot_every"):
            positive(name, allow_zero=True)
        if self.stage1_steps + self.stage2_steps == 0:
            raise ConfigError("stage1_steps and stage2_steps are both 0: nothing to train")
        if self.stage1_steps and not self.model.uses_inversion:
            raise ConfigError(
                f"stage1_steps > 0 trains the inversion path, but the model has paths={self.model.paths!r}"
            )
        if self.stage2_steps and not self.model.uses_feedforward:
            raise ConfigError(
                f"stage2_steps > 0 trains the feed-forward path, but the model has paths={self.model.paths!r}"
            )
        if not (isinstance(self.lr, int | float) and 0 < self.lr < 1):
            raise ConfigError(f"lr must be in (0, 1), got {self.lr!r}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas!r}")
        object.__setattr__(self, "phases", parse_phases(self.phases))
        if self.phases and sum(p.steps for p in self.phases) != self.stage2_steps:
            raise ConfigError(
                f"the phases' steps add up to {sum(p.steps for p in self.phases)}, but stage2_steps is "
                f"{self.stage2_steps}: make them equal"
            )
        for name in ("lambda_sr", "lambda_r", "lambda_adv", "hole_weight", "lambda_ssim", "ema_kimg"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < math.inf:
                raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("regular_probability", "color_probability", "blur_probability", "thin_probability"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ConfigError(f"{name} must be in [0, 1], got {value!r}")
        lo, hi = self.hole_ratio
        if not 0 <= lo < hi <= 1:
            raise ConfigError(f"hole_ratio must be (lo, hi) with 0 <= lo < hi <= 1, got {self.hole_ratio!r}")
        if self.precision not in ("fp32", "bf16", "fp16"):
            raise ConfigError(f"precision must be 'fp32', 'bf16' or 'fp16', got {self.precision!r}")
        if not isinstance(self.spectral_norm, bool):
            raise ConfigError(f"spectral_norm must be true or false, got {self.spectral_norm!r}")
        if self.discriminator not in DISCRIMINATORS:
            raise ConfigError(f"discriminator must be one of {DISCRIMINATORS}, got {self.discriminator!r}")
        if self.format_version != TRAIN_CONFIG_VERSION:
            raise ConfigError(f"training config format_version {self.format_version} is not supported")

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> TrainConfig:
        """The paper's recipe for a model preset, with ``overrides``."""
        return cls(model=get_preset(name), **overrides)

    def replace(self, **changes: Any) -> TrainConfig:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["model"] = self.model.to_dict()
        data["phases"] = [p.to_dict() for p in self.phases]
        return data

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """The config as JSON text; also written to ``path`` when given."""
        return dump_json(self.to_dict(), path)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        if not isinstance(data, dict) or "model" not in data:
            raise ConfigError("a training config is a JSON object with a 'model' field (a ModelConfig)")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        if unknown:
            raise ConfigError(f"unknown training config field(s) {unknown}; known fields: {sorted(names)}")
        kwargs: dict[str, Any] = {k: v for k, v in _ABSENT_DEFAULTS.items() if k not in data}
        kwargs.update({k: tuple(v) if isinstance(v, list) else v for k, v in data.items() if k != "model"})
        model = data["model"]
        model = get_preset(model) if isinstance(model, str) else ModelConfig.from_dict(model)
        try:
            return cls(model=model, **kwargs)
        except TypeError as exc:
            raise ConfigError(f"invalid training config: {exc}") from exc

    @classmethod
    def from_json(cls, path: str | os.PathLike[str]) -> TrainConfig:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read training config {path}: {exc}") from exc
        return cls.from_dict(load_json_text(text, f"training config {path}"))
