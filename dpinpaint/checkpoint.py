"""The checkpoint folder format: ``config.json`` + ``model.safetensors``.

A checkpoint is a folder (local, or a Hugging Face Hub repository) holding

- ``config.json``: the :class:`~dpinpaint.ModelConfig` as JSON (it carries
  ``format_version``);
- ``model.safetensors``: every inference weight of :class:`~dpinpaint.DualPathNet`, keys
  prefixed ``stylegan.``, ``style_encoder.``, ``encoder.``, ``generator.``;
- optionally ``model.fp16.safetensors``: the same tensors in float16 (``variant="fp16"``).

Loading is strict and never unpickles anything: safetensors is a JSON header plus raw
tensor bytes. A missing or unexpected key, or a shape mismatch, raises
:class:`~dpinpaint.errors.CheckpointError` naming the key; a truncated or corrupted file
raises the same error naming the file. The helpers :func:`save_tensors`,
:func:`load_tensors` and :func:`load_state_dict_strict` are shared with the StyleGAN2
converters (:mod:`dpinpaint.convert`).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .config import ModelConfig
from .errors import CheckpointError, ConfigError
from .files import atomic_write
from .version import __version__

if TYPE_CHECKING:
    from .models import DualPathNet

__all__ = [
    "CONFIG_NAME",
    "WEIGHTS_NAME",
    "VARIANTS",
    "weights_name",
    "read_shapes",
    "check_shapes",
    "is_checkpoint_folder",
    "save_tensors",
    "load_tensors",
    "load_state_dict_strict",
    "save_model",
    "load_model",
    "read_config",
]

logger = logging.getLogger(__name__)

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
#: Weight variants: the name maps to the stored dtype.
VARIANTS: dict[str, torch.dtype] = {"fp16": torch.float16}


def weights_name(variant: str | None = None) -> str:
    """``model.safetensors`` or, for a variant, ``model.<variant>.safetensors``."""
    if variant is None:
        return WEIGHTS_NAME
    if variant not in VARIANTS:
        raise CheckpointError(f"unknown weights variant {variant!r}; known variants: None, {', '.join(VARIANTS)}")
    return f"model.{variant}.safetensors"


def is_checkpoint_folder(path: str | os.PathLike[str]) -> bool:
    """True if ``path`` is a folder holding a ``config.json``."""
    return Path(path).is_dir() and (Path(path) / CONFIG_NAME).is_file()


def save_tensors(
    tensors: Mapping[str, torch.Tensor], path: str | os.PathLike[str], metadata: Mapping[str, str] | None = None
) -> None:
    """Write ``tensors`` to a safetensors file atomically (a killed write leaves no partial file).

    Tensors are copied to contiguous CPU memory; tensors that share storage are stored as
    separate entries (safetensors forbids aliasing).
    """
    from safetensors.torch import save_file

    data: dict[str, torch.Tensor] = {}
    seen: set[int] = set()
    for key, value in tensors.items():
        t = value.detach().to("cpu").contiguous()
        ptr = t.untyped_storage().data_ptr() if t.numel() else -1
        if ptr in seen:
            t = t.clone()
        elif ptr != -1:
            seen.add(ptr)
        data[key] = t
    meta = {"format": "pt", **(metadata or {})}
    atomic_write(Path(path), lambda tmp: save_file(data, tmp, metadata=meta))


def _existing_weights(path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"weights file {path} does not exist")
    if path.stat().st_size == 0:
        raise CheckpointError(
            f"weights file {path} is empty (an interrupted download or copy?); download it again "
            "(`dpinpaint download MODEL --force`) or copy it again"
        )
    return path


def _corrupt_message(path: Path, exc: Exception) -> str:
    return (
        f"weights file {path} is not a valid safetensors file ({exc}); it is truncated or corrupted: save it "
        "again, or for a Hub model download it anew (`dpinpaint download MODEL --force`, or "
        "from_pretrained(..., force_download=True))"
    )


def load_tensors(path: str | os.PathLike[str], device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Read every tensor of a safetensors file, with a clear error for a missing/truncated/corrupted file."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = _existing_weights(path)
    try:
        return load_file(str(path), device=str(device))
    except SafetensorError as exc:
        raise CheckpointError(_corrupt_message(path, exc)) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"could not read weights file {path}: {exc}") from exc


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], *, source: str) -> None:
    """Copy ``state`` into ``module``; every key must match by name and shape.

    Floating-point tensors are cast to the dtype of the parameter/buffer they replace.

    Raises:
        CheckpointError: naming the first missing / unexpected / mis-shaped keys and ``source``.
    """
    expected = module.state_dict()
    check_shapes(
        {k: tuple(v.shape) for k, v in expected.items()}, {k: tuple(v.shape) for k, v in state.items()}, source=source
    )
    for key, value in state.items():
        if value.is_floating_point() != expected[key].is_floating_point():
            raise CheckpointError(
                f"{source}: key {key!r} has dtype {value.dtype} but the model expects {expected[key].dtype}"
            )
    with torch.no_grad():
        module.load_state_dict(dict(state), strict=True)


def check_shapes(expected: Mapping[str, tuple[int, ...]], found: Mapping[str, tuple[int, ...]], *, source: str) -> None:
    """Raise :class:`CheckpointError` unless ``found`` has exactly ``expected``'s keys and shapes.

    The message names the first missing / unexpected / mis-shaped keys and ``source``.
    """
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    problems = []
    if missing:
        problems.append(f"missing key(s) {_some(missing)}")
    if unexpected:
        problems.append(f"unexpected key(s) {_some(unexpected)}")
    for key, shape in found.items():
        if key in expected and tuple(shape) != tuple(expected[key]):
            problems.append(
                f"key {key!r} has shape {tuple(shape)} in the checkpoint but {tuple(expected[key])} in the model"
            )
            break
    if problems:
        raise CheckpointError(
            f"{source} does not fit the model: " + "; ".join(problems) + ". Was it saved for another configuration?"
        )


def read_shapes(path: str | os.PathLike[str]) -> dict[str, tuple[int, ...]]:
    """The tensor shapes a safetensors file declares, read from its header only (nothing is allocated).

    Raises:
        CheckpointError: the file is missing, empty, truncated or not safetensors.
    """
    from safetensors import SafetensorError, safe_open

    path = _existing_weights(path)
    try:
        with safe_open(str(path), framework="pt") as fh:
            return {key: tuple(fh.get_slice(key).get_shape()) for key in fh.keys()}
    except SafetensorError as exc:
        raise CheckpointError(_corrupt_message(path, exc)) from exc
    except (OSError, RuntimeError, ValueError) as exc:
        raise CheckpointError(f"could not read weights file {path}: {exc}") from exc


def _some(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(k) for k in keys[:limit])
    return shown + (f" and {len(keys) - limit} more" if len(keys) > limit else "")


def read_config(folder: str | os.PathLike[str]) -> ModelConfig:
    """Read and validate ``folder/config.json``."""
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise CheckpointError(
            f"{folder} is not a dpinpaint checkpoint: it has no {CONFIG_NAME} "
            f"(a checkpoint folder holds {CONFIG_NAME} and {WEIGHTS_NAME})"
        )
    try:
        return ModelConfig.from_json(path)
    except (ConfigError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path} is not a valid dpinpaint model config: {exc}") from exc


def save_model(
    model: nn.Module, config: ModelConfig, folder: str | os.PathLike[str], variant: str | None = None
) -> Path:
    """Write ``config.json`` and the weights of ``model`` (a :class:`~dpinpaint.DualPathNet`) to ``folder``.

    Args:
        variant: None for float32 ``model.safetensors``, ``"fp16"`` for ``model.fp16.safetensors``.

    Returns:
        The weights file written.
    """
    from .models.spectral import folded_state_dict, has_spectral_norm

    folder = Path(folder)
    name = weights_name(variant)
    dtype = VARIANTS.get(variant or "", torch.float32)
    # A network trained with spectral norm is saved with it folded into plain weights (its eval-mode values).
    weights = folded_state_dict(model) if has_spectral_norm(model) else model.state_dict()
    state = {k: (v.to(dtype) if v.is_floating_point() else v) for k, v in weights.items()}
    save_tensors(state, folder / name, metadata={"dpinpaint_version": __version__, "model": config.name})
    atomic_write(folder / CONFIG_NAME, lambda tmp: config.to_json(tmp))
    logger.info("saved %s (%d tensors) to %s", name, len(state), folder)
    return folder / name


def load_model(
    folder: str | os.PathLike[str],
    *,
    variant: str | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> DualPathNet:
    """Build a :class:`~dpinpaint.DualPathNet` from a checkpoint folder, in eval mode.

    Raises:
        CheckpointError: the folder is not a checkpoint, the weights are missing, truncated,
            corrupted, or do not match ``config.json``.
    """
    from .models import DualPathNet  # here, not at the top: the models import this module

    folder = Path(folder)
    config = read_config(folder)
    path = folder / weights_name(variant)
    if not path.is_file():
        present = sorted(p.name for p in folder.glob("*.safetensors"))
        raise CheckpointError(
            f"{folder} has {CONFIG_NAME} but no {path.name}"
            + (f" (it has {', '.join(present)}; pass variant= to pick one)" if present else "")
        )
    # The shapes are compared on a network built on the meta device (no memory) before anything is
    # allocated, so a tiny weights file beside a config.json with huge numbers fails at once.
    with torch.device("meta"):
        skeleton = DualPathNet(config)
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    check_shapes(expected, read_shapes(path), source=str(path))
    state = load_tensors(path)
    model = DualPathNet(config)
    load_state_dict_strict(model, state, source=str(path))
    return model.to(device=device, dtype=dtype).eval()
