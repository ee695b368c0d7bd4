"""Loading and saving of :class:`~dpinpaint.Inpainter` (a mixin, apart from inference, as diffusers does).

:class:`PretrainedMixin` gives a class built as ``cls(model, device=..., dtype=..., name=...,
revision=...)`` the ways in and out of a checkpoint: :meth:`~PretrainedMixin.from_pretrained`
(a model name, a Hub repository or a folder), :meth:`~PretrainedMixin.from_config` (random
weights), :meth:`~PretrainedMixin.save_pretrained` and :meth:`~PretrainedMixin.push_to_hub`
(with a model card, :func:`model_card`).
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import torch

from .checkpoint import load_model, read_config, save_model
from .config import ModelConfig, get_preset, list_presets
from .device import resolve_device, resolve_dtype
from .errors import InvalidInputError
from .hub import PretrainedModel, resolve_checkpoint, snapshot_commit, upload_folder
from .hub import list_models as hub_list_models
from .models import DualPathNet

__all__ = ["PretrainedMixin", "model_card"]

logger = logging.getLogger(__name__)

T = TypeVar("T", bound="PretrainedMixin")


def model_card(config: ModelConfig, repo_id: str) -> str:
    """The ``README.md`` a Hub repository of ``config``'s weights gets (front matter, what it is, how to use it)."""
    c = config
    return (
        "---\nlibrary_name: dpinpaint\ntags:\n- image-inpainting\n- dpinpaint\n---\n\n"
        f"# {repo_id}\n\n"
        f"A dpinpaint checkpoint (`{c.name}`, {c.resolution}x{c.resolution}, paths={c.paths}, "
        f"fusion={c.fusion}) of *Dual-path Image Inpainting with Auxiliary GAN Inversion* (CVPR 2022).\n\n"
        "```python\nfrom dpinpaint import Inpainter\n"
        f'inp = Inpainter.from_pretrained("{repo_id}")\n'
        'out = inp.inpaint("photo.png", "mask.png")  # white = fill\n```\n'
    )


class PretrainedMixin:
    """Checkpoint loading and saving for a class holding a :class:`DualPathNet` as ``self.model``."""

    model: DualPathNet

    if TYPE_CHECKING:

        def __init__(
            self,
            model: DualPathNet,
            *,
            device: str | torch.device = "auto",
            dtype: str | torch.dtype = "auto",
            name: str | None = None,
            revision: str | None = None,
        ) -> None: ...

    @classmethod
    def from_pretrained(
        cls: type[T],
        name_or_path: str | os.PathLike[str],
        *,
        revision: str | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        local_files_only: bool = False,
        token: str | bool | None = None,
        force_download: bool = False,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        variant: str | None = None,
    ) -> T:
        """Load a checkpoint: a model name (see :meth:`list_models`), ``"org/repo"``,
        ``"org/repo@revision"`` or a local folder written by :meth:`save_pretrained`.

        Hub downloads use ``huggingface_hub``'s cache; ``local_files_only=True`` (or
        ``HF_HUB_OFFLINE=1``) never touches the network. ``variant="fp16"`` loads
        ``model.fp16.safetensors`` (half the download; weights are cast to ``dtype``).

        Raises:
            CheckpointError, ModelNotFoundError, ModelNotCachedError, ModelAccessError,
            HubConnectionError: each with what was tried and what to do.
        """
        folder = resolve_checkpoint(
            name_or_path,
            revision=revision,
            cache_dir=cache_dir,
            local_files_only=local_files_only,
            token=token,
            force_download=force_download,
            variant=variant,
        )
        dev = resolve_device(device)
        dt = resolve_dtype(dtype, dev)
        model = load_model(folder, variant=variant, device=dev, dtype=dt)
        logger.info("loaded %s from %s", read_config(folder).name, folder)
        return cls(model, device=dev, dtype=dt, name=os.fspath(name_or_path), revision=snapshot_commit(folder))

    @classmethod
    def from_config(
        cls: type[T],
        config: ModelConfig | str,
        seed: int = 0,
        *,
        device: str | torch.device = "auto",
        dtype: str | torch.dtype = "auto",
        w_avg_samples: int = 10_000,
    ) -> T:
        """A model with random weights drawn from ``seed`` (for tests, or as training's start).

        ``config`` is a :class:`ModelConfig` or a preset name (``list_presets()``). The global
        torch RNG is left untouched. ``w_avg`` is set from ``w_avg_samples`` mapped latents.
        """
        if isinstance(config, str):
            config = get_preset(config)
        if not isinstance(config, ModelConfig):
            raise InvalidInputError(f"config must be a ModelConfig or a preset name, got {type(config).__name__}")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = DualPathNet(config)
        if config.uses_inversion:
            model.stylegan.update_w_avg(num_samples=w_avg_samples, seed=seed)
        return cls(model, device=device, dtype=dtype)

    @staticmethod
    def list_models() -> list[PretrainedModel]:
        """The pretrained models known by name (``print`` each for one line)."""
        return hub_list_models()

    @staticmethod
    def list_presets() -> dict[str, str]:
        """The architecture presets :meth:`from_config` accepts by name."""
        return list_presets()

    def save_pretrained(self, folder: str | os.PathLike[str], *, variant: str | None = None) -> Path:
        """Write ``config.json`` and ``model.safetensors`` (``model.fp16.safetensors`` for
        ``variant="fp16"``) to ``folder``; :meth:`from_pretrained` reads it back exactly."""
        save_model(self.model, self.model.config, folder, variant=variant)
        return Path(folder)

    def push_to_hub(
        self,
        repo_id: str,
        *,
        token: str | None = None,
        private: bool | None = None,
        revision: str | None = None,
        commit_message: str | None = None,
        variant: str | None = None,
    ) -> str:
        """Save to a temporary folder (with a model card) and upload it to ``repo_id``; returns the commit URL."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save_pretrained(tmp, variant=variant)
            (Path(tmp) / "README.md").write_text(model_card(self.model.config, repo_id), encoding="utf-8")
            return upload_folder(
                tmp,
                repo_id,
                token=token,
                private=private,
                revision=revision,
                commit_message=commit_message or f"Upload {self.model.config.name} (dpinpaint)",
            )
