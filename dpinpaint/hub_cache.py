"""What the local Hugging Face cache holds: the dpinpaint checkpoints that load offline.

``dpinpaint list --cached`` prints them and ``dpinpaint ui`` offers them in its model menu;
both read the cache through :func:`huggingface_hub.scan_cache_dir`, never the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .checkpoint import CONFIG_NAME

__all__ = ["CachedCheckpoint", "cached_checkpoints", "hub_cache_folder"]


@dataclass(frozen=True)
class CachedCheckpoint:
    """One revision of a Hub model repository in the cache that holds a dpinpaint checkpoint.

    ``model_id`` (``"org/name@<commit>"``) loads exactly this revision with
    ``Inpainter.from_pretrained(model_id, local_files_only=True)``.
    """

    repo_id: str
    commit: str
    size_bytes: int
    files: tuple[str, ...]

    @property
    def model_id(self) -> str:
        return f"{self.repo_id}@{self.commit}"


def hub_cache_folder(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """``cache_dir``, or the cache huggingface_hub uses now (``HF_HUB_CACHE``, ``HF_HOME``...)."""
    from huggingface_hub import constants

    return Path(cache_dir if cache_dir is not None else constants.HF_HUB_CACHE)


def cached_checkpoints(cache_dir: str | os.PathLike[str] | None = None) -> list[CachedCheckpoint]:
    """The cached revisions that hold a ``config.json`` and a ``.safetensors`` file, by repository id.

    An absent or unreadable cache holds none (an empty list), so callers need no special case.
    """
    from huggingface_hub import CacheNotFound, scan_cache_dir

    try:
        cache = scan_cache_dir(hub_cache_folder(cache_dir))
    except (CacheNotFound, OSError, ValueError):
        return []
    found = []
    for repo in sorted(cache.repos, key=lambda r: r.repo_id):
        if repo.repo_type != "model":
            continue
        for rev in sorted(repo.revisions, key=lambda r: r.commit_hash):
            names = tuple(sorted(f.file_name for f in rev.files))
            if CONFIG_NAME in names and any(n.endswith(".safetensors") for n in names):
                found.append(CachedCheckpoint(repo.repo_id, rev.commit_hash, rev.size_on_disk, names))
    return found
