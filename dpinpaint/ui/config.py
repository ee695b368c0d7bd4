"""The settings ``dpinpaint ui`` starts with (torch-free, so that the CLI reads its defaults cheaply)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import InvalidInputError

__all__ = ["UIConfig", "DEFAULT_MAX_UPLOAD_MB", "DEFAULT_MAX_PIXELS", "LOOPBACK"]

#: The page listens here unless told otherwise: this machine only.
LOOPBACK = "127.0.0.1"

#: Uploads larger than this many megabytes are refused by the server before they are stored.
DEFAULT_MAX_UPLOAD_MB = 50.0
#: Photos with more pixels are refused with a message (a 48-megapixel phone photo fits).
DEFAULT_MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class UIConfig:
    """The settings ``dpinpaint ui`` starts with (each is a command-line option of the same name).

    Attributes:
        models: extra models offered beside the bundled ones: names, ``org/name[@revision]``
            Hub ids or checkpoint folders; the first is selected at start.
        include_cached: also offer every dpinpaint checkpoint in the Hugging Face cache.
        device / dtype: where and in which precision the models run (``"auto"``: as
            :class:`~dpinpaint.Inpainter`).
        host / port: where the page listens (127.0.0.1: this machine only; port None: the
            first free port from 7860).
        share: ask Gradio for a public ``*.gradio.live`` link (off unless asked).
        max_upload_mb / max_pixels: the largest upload and photo the page accepts.
        workdir: where results are written for download (default: a new temporary folder).
    """

    models: tuple[str, ...] = ()
    include_cached: bool = True
    device: str = "auto"
    dtype: str = "auto"
    host: str = LOOPBACK
    port: int | None = None
    share: bool = False
    max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB
    max_pixels: int = DEFAULT_MAX_PIXELS
    workdir: Path | None = None

    def __post_init__(self) -> None:
        if self.port is not None and not (isinstance(self.port, int) and 0 < self.port < 65536):
            raise InvalidInputError(f"port must be in 1..65535, got {self.port!r}")
        if not (isinstance(self.max_upload_mb, int | float) and self.max_upload_mb > 0):
            raise InvalidInputError(f"max_upload_mb must be > 0, got {self.max_upload_mb!r}")
        if not (isinstance(self.max_pixels, int) and self.max_pixels > 0):
            raise InvalidInputError(f"max_pixels must be a whole number > 0, got {self.max_pixels!r}")
        if not isinstance(self.host, str) or not self.host:
            raise InvalidInputError(f"host must be an address such as 127.0.0.1, got {self.host!r}")
