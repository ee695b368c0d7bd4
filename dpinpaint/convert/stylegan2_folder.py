"""The converted StyleGAN2 checkpoint folder (``dpinpaint convert``'s output) and :class:`ConversionInfo`.

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
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import load_state_dict_strict, load_tensors, save_tensors
from ..config import StyleGAN2Config, load_json_text
from ..errors import CheckpointError, ConfigError
from ..models.stylegan2 import StyleGAN2Discriminator, StyleGAN2Generator
from ..version import __version__

__all__ = [
    "STYLEGAN2_CONFIG_NAME",
    "STYLEGAN2_WEIGHTS_NAME",
    "STYLEGAN2_FORMAT_VERSION",
    "ConversionInfo",
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


def is_stylegan2_checkpoint(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder whose ``config.json`` says ``"kind": "stylegan2"``."""
    cfg = Path(path) / STYLEGAN2_CONFIG_NAME
    if not cfg.is_file():
        return False
    try:
        meta = load_json_text(cfg.read_text(encoding="utf-8"), str(cfg))
    except (OSError, ValueError):  # ConfigError is a ValueError
        return False
    return isinstance(meta, dict) and meta.get("kind") == "stylegan2"


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
        meta = load_json_text(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        raise CheckpointError(
            f"{folder} is not a StyleGAN2 checkpoint folder: it has no {STYLEGAN2_CONFIG_NAME}"
        ) from None
    except ConfigError as exc:
        raise CheckpointError(str(exc)) from exc
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
    found = meta.get("source")
    source: dict[str, Any] = found if isinstance(found, dict) else {}
    notes = source.get("notes")
    info = ConversionInfo(
        format="dpinpaint",
        file=folder.name,
        sha256="",
        config=config,
        network=f"converted from {source.get('format', '?')} ({source.get('file', '?')}, {source.get('network', '?')})",
        w_avg_source="checkpoint",
        discriminator="converted" if discriminator is not None else ("not loaded" if disc_state else "absent"),
        notes=[str(n) for n in notes] if isinstance(notes, list) else [],
    )
    return generator.to(device).eval(), discriminator, info
