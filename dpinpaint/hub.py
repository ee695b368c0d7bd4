"""Finding checkpoints: local folders, model names and Hugging Face Hub repositories.

A model name is either bundled (the ``demo`` model ships inside the package, in
``dpinpaint/pretrained/<name>/``, and never touches the network) or stands for a Hub repository.

Downloads go through :func:`huggingface_hub.hf_hub_download`, so its cache (``HF_HOME``,
``HF_HUB_CACHE`` or ``cache_dir=``), offline mode (``HF_HUB_OFFLINE=1`` or
``local_files_only=True``), endpoint (``HF_ENDPOINT``) and token handling apply unchanged.
``config.json`` is fetched first and the weights are then fetched at the very commit it
came from, so a push in between cannot pair one commit's config with another's weights.
Every failure is turned into a :mod:`dpinpaint.errors` exception that names the model, what
was tried and what to do. The deadline of a whole download and the reachability check are
:mod:`dpinpaint.hub_network`'s.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from pathlib import Path
from typing import Any

from .checkpoint import CONFIG_NAME, is_checkpoint_folder, weights_name
from .errors import (
    CheckpointError,
    DPInpaintError,
    HubConnectionError,
    InvalidInputError,
    ModelAccessError,
    ModelNotCachedError,
    ModelNotFoundError,
)
from .hub_network import (
    DEADLINE_VARIABLE,
    DEFAULT_DEADLINE,
    call_with_deadline,
    endpoint_reachable,
    hub_deadline,
    is_hub_failure,
)
from .registry import PRETRAINED, PretrainedModel, bundled_folder, list_models, require_published, unpublished_message

__all__ = [  # the registry's names too, for code that imports them from here
    "PretrainedModel",
    "PRETRAINED",
    "DEADLINE_VARIABLE",
    "DEFAULT_DEADLINE",
    "bundled_folder",
    "call_with_deadline",
    "check_file_metadata",
    "check_revision",
    "endpoint_reachable",
    "hub_deadline",
    "list_models",
    "unpublished_message",
    "parse_model_id",
    "require_published",
    "resolve_checkpoint",
    "snapshot_commit",
    "upload_folder",
    "verify_cached_file",
]

logger = logging.getLogger(__name__)

_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_REVISION = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._/-]*")


def _resolve_bundled(name: str, revision: str | None, variant: str | None) -> Path:
    if revision is not None:
        raise ModelNotFoundError(
            f"model {name!r} is bundled with dpinpaint and has no revisions (got revision={revision!r}); "
            "its version is the package's"
        )
    if variant is not None:
        raise CheckpointError(f"model {name!r} is bundled in float32 only; drop variant={variant!r}")
    return bundled_folder(name)


def parse_model_id(model_id: str) -> tuple[str, str | None]:
    """``"org/repo"`` -> ``("org/repo", None)``; ``"org/repo@rev"`` -> ``("org/repo", "rev")``.

    The repository id is checked by huggingface_hub's own rules and the revision by
    :func:`check_revision`, before anything touches the network or the cache.
    """
    repo_id, sep, revision = model_id.partition("@")
    problem = _repo_id_problem(repo_id) if _REPO_ID.match(repo_id) else "not of the form 'org/name'"
    if problem is not None or (sep and not revision):
        raise ModelNotFoundError(
            f"{model_id!r} is neither a local checkpoint folder, nor a model name "
            f"({', '.join(PRETRAINED)}), nor a Hub repository id like 'org/name' or 'org/name@revision'"
            + (f" ({problem})" if problem else "")
        )
    if revision:
        check_revision(revision)
    return repo_id, (revision or None)


def _repo_id_problem(repo_id: str) -> str | None:
    """Why huggingface_hub would refuse ``repo_id`` (too long, ``--``, ``..``, ``.git``...), or None."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return str(exc).rstrip(".")
    return None


def check_revision(revision: str) -> None:
    """Refuse a revision that is no branch, tag or commit name a Hub repository can have.

    huggingface_hub stores ``refs/<revision>`` inside the cache, so ``..``, absolute paths and
    other path tricks would write outside it; names are also kept to what git allows in refs.

    Raises:
        InvalidInputError: naming the rule that was broken.
    """
    ok = (
        isinstance(revision, str)
        and 0 < len(revision) <= 255
        and _REVISION.fullmatch(revision) is not None
        and ".." not in revision
        and "//" not in revision
        and "/." not in revision
        and not revision.endswith(("/", ".", ".lock"))
    )
    if not ok:
        raise InvalidInputError(
            f"revision {revision!r} is not a branch, tag or commit id: use up to 255 letters, digits, '.', '_', "
            "'-' and '/' (e.g. main, v1.0, refs/pr/1 or a 40-character commit hash), without '..'"
        )


def _looks_local(text: str) -> bool:
    return text.startswith((".", "/", "~", "\\")) or "\\" in text or bool(re.match(r"^\w:", text))


def resolve_checkpoint(
    name_or_path: str | os.PathLike[str],
    *,
    revision: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    local_files_only: bool = False,
    token: str | bool | None = None,
    force_download: bool = False,
    variant: str | None = None,
) -> Path:
    """The local folder holding ``config.json`` and the weights of ``name_or_path``.

    ``name_or_path`` is a local folder, a model name of :func:`list_models`, ``"org/repo"`` or
    ``"org/repo@revision"`` (``revision=`` wins over ``@``). A bundled model (``"demo"``)
    resolves to its folder inside the package: no network, no cache, whatever the Hub settings.

    Raises:
        CheckpointError: a local folder that is not a checkpoint, or a repository without
            ``config.json``.
        ModelNotFoundError / ModelNotCachedError / ModelAccessError / HubConnectionError.
    """
    text = os.fspath(name_or_path)
    if not isinstance(text, str) or not text.strip():
        raise ModelNotFoundError(
            "the model name is empty; give a model name (dpinpaint list), org/name[@revision] or a checkpoint folder"
        )
    try:
        path = Path(text).expanduser()
        is_dir, is_file = path.is_dir(), path.is_file()
    except RuntimeError as exc:  # "~user/..." of a user that does not exist
        raise ModelNotFoundError(f"{text!r}: {exc} (no such user?)") from None
    except (OSError, ValueError) as exc:  # a name too long for the file system, a NUL byte, ...
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise ModelNotFoundError(f"{text[:80]!r}: not a usable model name or path ({why})") from None
    known_name = isinstance(name_or_path, str) and text in PRETRAINED
    # A model name wins over a file or a non-checkpoint folder that happens to share it (``./demo``).
    if is_dir and is_checkpoint_folder(path):
        return path
    if is_dir and not known_name:
        raise CheckpointError(
            f"folder {path} is not a dpinpaint checkpoint: it has no {CONFIG_NAME} "
            f"(a checkpoint holds {CONFIG_NAME} and {weights_name(variant)}; write one with save_pretrained)"
        )
    if is_file and not known_name:
        raise CheckpointError(
            f"{path} is a file; pass the checkpoint folder that holds {CONFIG_NAME} and {weights_name(variant)}"
        )
    if isinstance(name_or_path, os.PathLike) or _looks_local(text):
        raise ModelNotFoundError(f"no checkpoint folder at {path} (it does not exist)")
    if known_name:
        model = PRETRAINED[text]
        if model.repo_id is None:
            return _resolve_bundled(text, revision, variant)
        require_published(text)
        repo_id, pinned = model.repo_id, None
    else:
        repo_id, pinned = parse_model_id(text)
    if revision is not None:
        check_revision(revision)
    revision = revision or pinned
    kwargs: dict[str, Any] = {
        "cache_dir": cache_dir,
        "local_files_only": local_files_only,
        "token": token,
        "force_download": force_download,
    }
    config_path = Path(_download(text, repo_id, CONFIG_NAME, revision, kwargs))
    pinned_revision = snapshot_commit(config_path.parent) or revision
    weights = Path(_download(text, repo_id, weights_name(variant), pinned_revision, kwargs))
    if weights.parent != config_path.parent:  # a local_dir-style layout: keep both next to each other
        raise CheckpointError(f"{text}: config and weights were fetched into different folders ({config_path.parent})")
    for path in (config_path, weights):
        verify_cached_file(path, text)
    return config_path.parent


def snapshot_commit(folder: Path) -> str | None:
    """The commit of a Hub cache snapshot folder (``<cache>/models--org--name/snapshots/<commit>``), else None."""
    return folder.name if re.fullmatch(r"[0-9a-f]{40}", folder.name) else None


def verify_cached_file(path: Path, model: str) -> None:
    """Check a file of the Hugging Face cache against the hash the Hub gave for it.

    The cache names each blob by the Hub's ETag: the sha256 of an LFS file (the weights), the
    git blob id (sha1) of a small one (``config.json``). A file whose content does not match
    (a corrupted download or disk) is deleted from the cache, blob and snapshot entry, so that
    the next load downloads it anew. Files that are not cache symlinks (a cache without symlink
    support, a ``local_dir``) carry no hash to check and are left alone.

    Raises:
        CheckpointError: the content did not match; says it was deleted and what to do.
    """
    if not path.is_symlink():
        return
    blob = Path(os.path.realpath(path))
    name = blob.name
    if re.fullmatch(r"[0-9a-f]{64}", name):
        digest = hashlib.sha256()
    elif re.fullmatch(r"[0-9a-f]{40}", name):
        digest = hashlib.sha1(b"blob %d\0" % blob.stat().st_size)
    else:
        return
    with open(blob, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    if digest.hexdigest() == name:
        return
    blob.unlink(missing_ok=True)
    path.unlink(missing_ok=True)
    raise CheckpointError(
        f"model {model!r}: the cached {path.name} does not match the hash the Hub gave for it ({name[:12]}...): "
        "a corrupted download or disk. It was deleted from the cache; load the model again to download it anew"
    )


def _download(model: str, repo_id: str, filename: str, revision: str | None, kwargs: dict[str, Any]) -> str:
    import huggingface_hub
    from huggingface_hub import constants
    from huggingface_hub import utils as hf_errors  # the error classes, exported here since 0.24

    where = f"{repo_id}" + (f"@{revision}" if revision else "") + f" on {constants.ENDPOINT}"
    offline = kwargs["local_files_only"] or constants.HF_HUB_OFFLINE
    cache = kwargs["cache_dir"] or constants.HF_HUB_CACHE
    if not offline and not endpoint_reachable(constants.ENDPOINT):
        # No network: take the cached copy, or fail now rather than after huggingface_hub's
        # five retries (about 30 s of "Retrying in 8s" lines).
        kwargs = {**kwargs, "local_files_only": True}
    deadline = hub_deadline()

    def fetch() -> str:
        if not (offline or kwargs["local_files_only"]):
            check_file_metadata(model, repo_id, filename, revision, kwargs)
        return str(huggingface_hub.hf_hub_download(repo_id, filename, revision=revision, **kwargs))

    try:
        return call_with_deadline(fetch, deadline)
    except DPInpaintError:  # check_file_metadata's refusal
        raise
    except TimeoutError as exc:
        raise HubConnectionError(
            f"model {model!r}: fetching {filename} of {where} did not finish within {deadline:g} s (a server that "
            f"answers too slowly, or asks to retry much later); try again later, or set {DEADLINE_VARIABLE} "
            "(seconds) for a slow connection"
        ) from exc
    except hf_errors.GatedRepoError as exc:
        raise ModelAccessError(
            f"model {model!r}: {where} is gated; accept its conditions on the Hub, then log in "
            f"(`hf auth login`) or pass token=..."
        ) from exc
    except hf_errors.RepositoryNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {model!r}: repository {repo_id} was not found on {constants.ENDPOINT} (or it is private); "
            "check the name, or pass token=... for a private repository"
        ) from exc
    except hf_errors.RevisionNotFoundError as exc:
        raise ModelNotFoundError(
            f"model {model!r}: revision {revision!r} does not exist in {repo_id}; use a branch, tag or commit id"
        ) from exc
    except hf_errors.LocalEntryNotFoundError as exc:
        if offline:
            raise ModelNotCachedError(
                f"model {model!r}: {filename} of {where} is not in the cache at {cache} and offline mode is on "
                f"({'local_files_only=True' if kwargs['local_files_only'] else 'HF_HUB_OFFLINE=1'}); "
                "load it once while online (e.g. `dpinpaint download`), or copy the checkpoint folder and pass its path"
            ) from exc
        raise HubConnectionError(
            f"model {model!r}: could not reach {constants.ENDPOINT} to fetch {filename} of {where}, and it is not "
            f"in the cache at {cache}; check the network (or HF_ENDPOINT), or pass a local folder"
        ) from exc
    except hf_errors.EntryNotFoundError as exc:
        hint = (
            " (a dpinpaint checkpoint holds config.json and model.safetensors)"
            if filename == CONFIG_NAME
            else "; pick another variant= or save it with save_pretrained(variant=...)"
        )
        raise CheckpointError(f"model {model!r}: {where} has no file {filename}{hint}") from exc
    except hf_errors.OfflineModeIsEnabled as exc:
        raise ModelNotCachedError(f"model {model!r}: offline mode is on and {where} is not cached: {exc}") from exc
    except Exception as exc:
        if not is_hub_failure(exc):
            raise
        raise HubConnectionError(
            f"model {model!r}: downloading {filename} of {where} failed ({type(exc).__name__}: {exc}); "
            "the partial download was discarded: try again, or check the network / HF_ENDPOINT"
        ) from exc


#: What an ETag (quotes removed) or a commit id from the Hub may look like: huggingface_hub names the
#: cached blob after the ETag and the snapshot folder after the commit, so anything else could name a
#: path outside the cache ("../../../x").
_SAFE_HUB_TOKEN = re.compile(r"[A-Za-z0-9_.-]{1,128}")


def check_file_metadata(model: str, repo_id: str, filename: str, revision: str | None, kwargs: dict[str, Any]) -> None:
    """Refuse a Hub answer whose ETag or commit id is not a plain token, before huggingface_hub writes anything.

    One HEAD request (the one ``hf_hub_download`` makes too); none when ``revision`` is a commit id
    whose file is already cached (``hf_hub_download`` then makes none either). A request that fails is
    left to ``hf_hub_download``, which repeats it and reports (or falls back to the cache) as usual.

    Raises:
        HubConnectionError: the ETag or commit id holds ``/``, ``\\``, ``..``, a NUL or other
            characters, or is longer than 128 characters; names the endpoint.
    """
    import huggingface_hub
    from huggingface_hub import constants

    if revision is not None and re.fullmatch(r"[0-9a-f]{40}", revision) and not kwargs["force_download"]:
        cached = huggingface_hub.try_to_load_from_cache(
            repo_id, filename, cache_dir=kwargs["cache_dir"], revision=revision
        )
        if isinstance(cached, str):
            return
    url = huggingface_hub.hf_hub_url(repo_id, filename, revision=revision)
    try:
        meta = huggingface_hub.get_hf_file_metadata(url, token=kwargs["token"], timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except Exception as exc:
        if is_hub_failure(exc):
            return
        raise
    for what, value in (("ETag", meta.etag), ("commit id", meta.commit_hash)):
        if value is not None and (not _SAFE_HUB_TOKEN.fullmatch(value) or ".." in value):
            raise HubConnectionError(
                f"model {model!r}: {constants.ENDPOINT} answered for {filename} of {repo_id} with the {what} "
                f"{value[:140]!r}, which is not a plain hash or name (letters, digits, '.', '_', '-'; no '..'; at "
                "most 128 characters): refused before anything was written. HF_ENDPOINT may point at a broken or "
                "hostile server; check it"
            )


def upload_folder(
    folder: str | os.PathLike[str],
    repo_id: str,
    *,
    token: str | None = None,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str = "Upload dpinpaint checkpoint",
) -> str:
    """Create ``repo_id`` if needed and upload a checkpoint folder (config, weights, README.md); returns the commit URL."""
    from huggingface_hub import HfApi
    from huggingface_hub import utils as hf_errors  # the error classes, exported here since 0.24

    problem = _repo_id_problem(repo_id) if _REPO_ID.match(repo_id) else "not of the form 'org/name'"
    if problem is not None:
        raise ModelNotFoundError(f"{repo_id!r} is not a Hub repository id like 'org/name' ({problem})")
    if revision is not None:
        check_revision(revision)
    api = HfApi(token=token)
    try:
        api.create_repo(repo_id, private=private, exist_ok=True)
        info = api.upload_folder(
            folder_path=str(folder),
            repo_id=repo_id,
            revision=revision,
            commit_message=commit_message,
            allow_patterns=[CONFIG_NAME, "*.safetensors", "README.md"],
        )
    except hf_errors.HfHubHTTPError as exc:
        raise HubConnectionError(f"pushing to {repo_id} failed: {exc}") from exc
    logger.info("pushed %s to %s", folder, repo_id)
    return str(getattr(info, "commit_url", info))
