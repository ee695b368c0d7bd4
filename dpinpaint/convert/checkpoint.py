"""The converted StyleGAN2 checkpoint folder, and what every converter returns.

A converted checkpoint is a folder holding

- ``config.json``: ``{"kind": "stylegan2", "format_version": 1, "stylegan": <StyleGAN2Config>,
  "has_discriminator": bool, "source": {"format", "file", "sha256", "network", "notes", ...},
  "dpinpaint_version": ...}``;
- ``stylegan2.safetensors``: ``generator.<key>`` for every key of
  :class:`~dpinpaint.models.stylegan2.StyleGAN2Generator` (rosinality's names plus
  ``generator.w_avg``) and, when a discriminator was converted, ``discriminator.<key>``.

Loading is strict (every key, every shape) and never unpickles anything.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..checkpoint import load_state_dict_strict, load_tensors, save_tensors
from ..config import StyleGAN2Config
from ..errors import CheckpointError, ConfigError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator

__all__ = [
    "STYLEGAN2_CONFIG_NAME",
    "STYLEGAN2_WEIGHTS_NAME",
    "STYLEGAN2_FORMAT_VERSION",
    "ConversionInfo",
    "ConvertedWeights",
    "save_stylegan2_checkpoint",
    "load_stylegan2_checkpoint",
    "is_stylegan2_checkpoint",
]

logger = logging.getLogger(__name__)

STYLEGAN2_CONFIG_NAME = "config.json"
STYLEGAN2_WEIGHTS_NAME = "stylegan2.safetensors"
STYLEGAN2_FORMAT_VERSION = 1


@dataclass
class ConversionInfo:
    """Where a StyleGAN2 came from and what was inferred.

    Attributes:
        format: ``"rosinality"``, ``"nvidia-pytorch"``, ``"nvidia-tf"`` or ``"dpinpaint"``.
        file: the source file (or folder) name.
        sha256: hex digest of the source file ("" for a folder).
        config: the inferred architecture.
        network: which network of the file became the generator (``"g_ema"``, ``"G_ema"``, ``"Gs"``...).
        w_avg_source: where ``w_avg`` came from (``"latent_avg"``, ``"mapping.w_avg"``,
            ``"dlatent_avg"``, ``"estimated from 10000 samples"``, ``"checkpoint"``).
        discriminator: ``"converted"``, ``"absent"`` or why it was skipped.
        notes: things dropped or assumed (e.g. ``conv_clamp``, fp16 resolutions).
        parameters: parameter counts ``{"generator": n, "discriminator": n}``.
    """

    format: str
    file: str
    sha256: str
    config: StyleGAN2Config
    network: str
    w_avg_source: str
    discriminator: str
    notes: list[str] = field(default_factory=list)
    parameters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["config"] = self.config.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ConversionInfo:
        kwargs = {f.name: data[f.name] for f in dataclasses.fields(cls) if f.name in data}
        kwargs["config"] = StyleGAN2Config.from_dict(data["config"])
        return cls(**kwargs)


@dataclass
class ConvertedWeights:
    """What a format converter returns: rosinality-keyed tensors and the inferred config.

    ``generator`` has every key of :class:`StyleGAN2Generator` except ``w_avg``
    (given separately, None when the file has none); ``discriminator`` every key of
    :class:`StyleGAN2Discriminator`, or None (``discriminator_status`` says why).
    """

    config: StyleGAN2Config
    generator: dict[str, torch.Tensor]
    w_avg: torch.Tensor | None
    w_avg_source: str
    discriminator: dict[str, torch.Tensor] | None
    discriminator_status: str
    network: str
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------
# helpers shared by the converters
# --------------------------------------------------------------------------------------------
def as_float_tensor(value: Any, what: str) -> torch.Tensor:
    """A float32 CPU tensor from a tensor or numpy array (``what`` names it in errors)."""
    if isinstance(value, torch.Tensor):
        t = value.detach()
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "fiu":
            raise CheckpointError(f"{what} has non-numeric dtype {value.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(value))
    elif isinstance(value, (float, int, np.floating)):
        t = torch.tensor(float(value))
    else:
        raise CheckpointError(f"{what} is a {type(value).__name__}, not an array")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise CheckpointError(f"{what} has dtype {t.dtype}, expected a floating-point tensor")
    return t.to(torch.float32).contiguous()


def blur_taps_from_filter(kernel: torch.Tensor, what: str) -> tuple[int, ...]:
    """Integer taps ``t`` whose normalised outer product is ``kernel`` (2-D) or ``t/sum`` is ``kernel`` (1-D).

    Raises:
        CheckpointError: the kernel is not separable with (small) integer taps.
    """
    k = kernel.detach().double()
    row = k.sum(dim=0) if k.dim() == 2 else k
    if k.dim() not in (1, 2) or row.numel() < 2 or row.abs().min() <= 0:
        raise CheckpointError(f"{what}: unsupported resampling filter of shape {tuple(k.shape)}")
    taps = tuple(round(v) for v in (row / row.abs().min()).tolist())
    t = torch.tensor(taps, dtype=torch.float64)
    rebuilt = torch.outer(t, t) if k.dim() == 2 else t
    rebuilt = rebuilt / rebuilt.sum() * k.sum()
    if not torch.allclose(rebuilt, k, rtol=1e-4, atol=1e-6):
        raise CheckpointError(f"{what}: the resampling filter is not a separable integer FIR (got {k.tolist()})")
    return taps


def fold_gain(weight: torch.Tensor, stored_gain: Any, our_gain: float) -> torch.Tensor:
    """Rescale ``weight`` so that ``weight' * our_gain == weight * stored_gain`` (no-op when equal)."""
    if stored_gain is None:
        return weight
    factor = float(stored_gain) / our_gain
    if not math.isfinite(factor) or factor == 0:
        raise CheckpointError(f"invalid stored gain {stored_gain!r}")
    return weight if abs(factor - 1.0) < 1e-9 else weight * factor


# --------------------------------------------------------------------------------------------
# the folder format
# --------------------------------------------------------------------------------------------
def is_stylegan2_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder whose ``config.json`` says ``"kind": "stylegan2"``."""
    cfg = Path(path) / STYLEGAN2_CONFIG_NAME
    if not cfg.is_file():
        return False
    try:
        return json.loads(cfg.read_text(encoding="utf-8")).get("kind") == "stylegan2"
    except (OSError, ValueError, AttributeError):
        return False


def save_stylegan2_checkpoint(
    folder: str | os.PathLike[str],
    generator: StyleGAN2Generator,
    discriminator: StyleGAN2Discriminator | None = None,
    *,
    info: ConversionInfo | None = None,
) -> Path:
    """Write ``config.json`` and ``stylegan2.safetensors`` (float32) to ``folder``; returns the folder.

    The weights file is written atomically; ``config.json`` after it.
    """
    from ..version import __version__

    folder = Path(folder)
    config = generator.config
    if discriminator is not None and discriminator.config != config:
        raise ConfigError("the generator and the discriminator must share one StyleGAN2Config")
    tensors = {f"generator.{k}": v.float() for k, v in generator.state_dict().items()}
    if discriminator is not None:
        tensors.update({f"discriminator.{k}": v.float() for k, v in discriminator.state_dict().items()})
    source = info.to_dict() if info is not None else {}
    source.pop("config", None)
    meta = {
        "kind": "stylegan2",
        "format_version": STYLEGAN2_FORMAT_VERSION,
        "stylegan": config.to_dict(),
        "has_discriminator": discriminator is not None,
        "source": source,
        "dpinpaint_version": __version__,
    }
    save_tensors(tensors, folder / STYLEGAN2_WEIGHTS_NAME, metadata={"kind": "stylegan2"})
    tmp = folder / f".{STYLEGAN2_CONFIG_NAME}.tmp"
    tmp.write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, folder / STYLEGAN2_CONFIG_NAME)
    logger.info("saved StyleGAN2 checkpoint (%d tensors) to %s", len(tensors), folder)
    return folder


def read_stylegan2_config(folder: str | os.PathLike[str]) -> tuple[StyleGAN2Config, dict[str, Any]]:
    """``(config, whole config.json)`` of a converted checkpoint folder."""
    path = Path(folder) / STYLEGAN2_CONFIG_NAME
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(
            f"{folder} is not a StyleGAN2 checkpoint folder: it has no {STYLEGAN2_CONFIG_NAME}"
        ) from None
    except (OSError, ValueError) as exc:
        raise CheckpointError(f"{path} is not valid JSON ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("kind") != "stylegan2":
        raise CheckpointError(
            f'{folder} is not a StyleGAN2 checkpoint folder ({STYLEGAN2_CONFIG_NAME} has no "kind": "stylegan2"; '
            "a DualPathNet checkpoint is loaded with dpinpaint.checkpoint.load_model)"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or version > STYLEGAN2_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has format_version {version!r}; this dpinpaint reads up to {STYLEGAN2_FORMAT_VERSION}: upgrade it"
        )
    try:
        config = StyleGAN2Config.from_dict(meta.get("stylegan") or {})
    except ConfigError as exc:
        raise CheckpointError(f"{path}: invalid StyleGAN2 config: {exc}") from exc
    return config, meta


def load_stylegan2_checkpoint(
    folder: str | os.PathLike[str], *, device: str | torch.device = "cpu", with_discriminator: bool = True
) -> tuple[StyleGAN2Generator, StyleGAN2Discriminator | None, ConversionInfo]:
    """Build the generator (and discriminator, if saved) of a converted folder, in eval mode.

    Raises:
        CheckpointError: not such a folder; weights missing, truncated, or not matching the config.
    """
    folder = Path(folder)
    config, meta = read_stylegan2_config(folder)
    tensors = load_tensors(folder / STYLEGAN2_WEIGHTS_NAME)
    gen_state = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    disc_state = {k[len("discriminator.") :]: v for k, v in tensors.items() if k.startswith("discriminator.")}
    other = [k for k in tensors if not k.startswith(("generator.", "discriminator."))]
    if other:
        raise CheckpointError(f"{folder / STYLEGAN2_WEIGHTS_NAME}: unexpected key(s) {other[:5]}")
    generator = StyleGAN2Generator(config)
    load_state_dict_strict(generator, gen_state, source=f"{folder / STYLEGAN2_WEIGHTS_NAME} (generator)")
    discriminator = None
    if disc_state and with_discriminator:
        discriminator = StyleGAN2Discriminator(config)
        load_state_dict_strict(discriminator, disc_state, source=f"{folder / STYLEGAN2_WEIGHTS_NAME} (discriminator)")
        discriminator = discriminator.to(device).eval()
    source = dict(meta.get("source") or {})
    info = ConversionInfo(
        format="dpinpaint",
        file=folder.name,
        sha256="",
        config=config,
        network=f"converted from {source.get('format', '?')} ({source.get('file', '?')}, {source.get('network', '?')})",
        w_avg_source="checkpoint",
        discriminator="converted" if discriminator is not None else ("not loaded" if disc_state else "absent"),
        notes=list(source.get("notes") or []),
    )
    return generator.to(device).eval(), discriminator, info
