"""The registry of named pretrained models: what each name is, where its weights live, whether they exist.

One table (:data:`PRETRAINED`), as timm's model registry: a name is either bundled (its weights
ship inside the package, in ``dpinpaint/pretrained/<name>/``) or stands for a Hugging Face Hub
repository, published or not yet. :mod:`dpinpaint.hub` resolves names through it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .errors import CheckpointError, ModelNotFoundError

__all__ = ["PretrainedModel", "PRETRAINED", "bundled_folder", "list_models", "require_published", "unpublished_message"]

#: Where bundled checkpoints live inside the installed package.
_BUNDLED_ROOT = Path(__file__).resolve().parent / "pretrained"


@dataclass(frozen=True)
class PretrainedModel:
    """A named pretrained model: its name, where it comes from and what it was trained on.

    ``repo_id`` is the Hub repository, or ``None`` for a model bundled with the package
    (``bundled`` is then True and the weights are in :func:`bundled_folder`). ``published``
    says whether its weights can be had today: a bundled model always can; a Hub model only
    once its repository holds trained weights. Loading an unpublished name fails at once
    with :class:`~dpinpaint.errors.ModelNotFoundError`, without touching the network.
    """

    name: str
    repo_id: str | None
    description: str
    published: bool = True

    @property
    def bundled(self) -> bool:
        return self.repo_id is None

    @property
    def location(self) -> str:
        return self.repo_id or "(bundled, offline)"

    @property
    def status(self) -> str:
        """``"bundled"``, ``"published"`` or ``"not published yet"``."""
        if self.bundled:
            return "bundled"
        return "published" if self.published else "not published yet"

    def __str__(self) -> str:
        return f"{self.name:<12} {self.location:<24} {self.status:<18} {self.description}"


PRETRAINED: dict[str, PretrainedModel] = {
    m.name: m
    for m in (
        PretrainedModel("demo", None, "128x128 feed-forward path only, trained on public photos (docs/demo.md)"),
        PretrainedModel("ffhq-256", "dpinpaint/ffhq-256", "faces, FFHQ 256x256 (paper section 4.1)", False),
        PretrainedModel("church-256", "dpinpaint/church-256", "LSUN church outdoor 256x256", False),
        PretrainedModel("cat-256", "dpinpaint/cat-256", "LSUN cat 256x256", False),
    )
}


def list_models() -> list[PretrainedModel]:
    """The pretrained models ``Inpainter.from_pretrained`` knows by name (``print`` each for one line)."""
    return list(PRETRAINED.values())


def bundled_folder(name: str) -> Path:
    """The folder of the bundled model ``name`` inside the installed package.

    Raises:
        ModelNotFoundError: ``name`` is not a bundled model.
        CheckpointError: its files are missing (a broken install).
    """
    model = PRETRAINED.get(name)
    if model is None or not model.bundled:
        bundled = [m.name for m in PRETRAINED.values() if m.bundled]
        raise ModelNotFoundError(f"{name!r} is not a bundled model; bundled: {', '.join(bundled)}")
    from .checkpoint import CONFIG_NAME, weights_name  # torch: only when a bundled folder is needed

    folder = _BUNDLED_ROOT / name
    missing = [f for f in (CONFIG_NAME, weights_name(None)) if not (folder / f).is_file()]
    if missing:
        raise CheckpointError(
            f"the bundled model {name!r} is incomplete: {', '.join(missing)} missing from {folder}; "
            "reinstall dpinpaint (pip install --force-reinstall dpinpaint)"
        )
    return folder


def unpublished_message(model: PretrainedModel) -> str:
    """What to do instead of loading ``model``, a name whose weights are not published yet."""
    available = ", ".join(m.name for m in PRETRAINED.values() if m.bundled or m.published)
    return (
        f"model {model.name!r} is not published yet: {model.repo_id} holds no trained weights. Train it "
        f"(docs/training.md: `dpinpaint train --preset {model.name} ...`) and pass its final/ folder, or pass "
        f"another checkpoint folder or a Hub id 'org/name'; available by name: {available}"
    )


def require_published(name: str) -> None:
    """Raise :class:`~dpinpaint.errors.ModelNotFoundError` if ``name`` is a known model whose weights are not published.

    Anything else (a bundled or published name, a folder, a Hub id) passes: it is resolved later.
    """
    model = PRETRAINED.get(name)
    if model is not None and not model.bundled and not model.published:
        raise ModelNotFoundError(unpublished_message(model))
