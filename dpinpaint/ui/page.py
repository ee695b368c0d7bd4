"""The Gradio page of ``dpinpaint ui``: its layout and its events, each handed to :mod:`.session`.

Gradio is an optional dependency (``pip install "dpinpaint[ui]"``); importing this module
without it raises :class:`~dpinpaint.errors.BackendUnavailableError` saying so.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, DPInpaintError, InvalidInputError
from ..files import IMAGE_EXTENSIONS
from ..options import BLENDS, METHODS, STRATEGIES, InversionConfig
from .config import UIConfig
from .session import MAX_STEPS, ModelCatalog, Photo, combine_masks, inpaint_photo, mask_from_layers, open_photo
from .session import options_from_form as form_options

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: no calls home
try:
    import gradio as gr
except ImportError as exc:  # pragma: no cover - exercised where gradio is absent
    raise BackendUnavailableError(f'the web page needs Gradio ({exc}): pip install "dpinpaint[ui]"') from None
from gradio.components.base import server

__all__ = ["build_page", "serve", "PAGE_TITLE"]

logger = logging.getLogger(__name__)

PAGE_TITLE = "dpinpaint"
#: Only the fonts every system has: the page fetches nothing from elsewhere.
_SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "sans-serif")
_MONO_FONTS = ("ui-monospace", "monospace")
#: The brush paints the holes in a colour photos rarely have, half transparent.
_BRUSH_COLOUR = "#ff00ffb0"


#: The editor keeps the painted layers of at most this many runs not yet started, each of at most
#: this many layers (the page paints one): a client sending more cannot fill the server's memory.
_MAX_PENDING_RUNS = 8
_MAX_LAYERS = 4


def harden_editor(editor: gr.ImageEditor, max_pixels: int) -> gr.ImageEditor:
    """Harden Gradio's image editor against clients that are not the page; returns ``editor``.

    Gradio's editor receives its layers through a route of its own (``accept_blobs``) that keeps
    them in memory until a run uses them and allocates as many layer slots as the client's index
    says; the hardened one refuses layer indices past ``_MAX_LAYERS``, keeps only layers (not the
    background and composite, which the page does not use) and those of at most
    ``_MAX_PENDING_RUNS`` runs (the oldest go). A run decodes only the painted layers, each
    checked from its header to have at most ``max_pixels`` pixels.

    The methods are replaced on the instance: a subclass of a Gradio component makes Gradio write
    a ``.pyi`` file next to this module when it is imported.
    """
    editor.max_pixels = max_pixels  # type: ignore[attr-defined]
    editor.accept_blobs = types.MethodType(_accept_blobs, editor)  # type: ignore[method-assign]
    editor.preprocess = types.MethodType(_preprocess_layers, editor)  # type: ignore[method-assign]
    return editor


@server
def _accept_blobs(self: gr.ImageEditor, data: Any) -> None:
    kind, index = data.data.get("type"), str(data.data.get("index"))
    if kind != "layer" or index in ("None", "null", ""):
        return  # the background and the composite: the page paints over its own copy of the photo
    if not (index.isdigit() and int(index) < _MAX_LAYERS):
        raise InvalidInputError(f"a painted layer's index must be in 0..{_MAX_LAYERS - 1}, got {index[:20]!r}")
    while len(self.blob_storage) >= _MAX_PENDING_RUNS and data.data.get("id") not in self.blob_storage:
        self.blob_storage.pop(next(iter(self.blob_storage)))
    gr.ImageEditor.accept_blobs(self, data)


def _preprocess_layers(self: gr.ImageEditor, payload: Any) -> Any:
    source = None if payload is None else self.blob_storage.get(payload.id) if payload.id else payload
    if source is not None:
        if len(source.layers) > _MAX_LAYERS:
            raise InvalidInputError(f"at most {_MAX_LAYERS} painted layers, got {len(source.layers)}")
        for layer in source.layers:
            if layer is not None:
                _check_layer(layer, self.max_pixels)  # type: ignore[attr-defined]
        source.background = source.composite = None
    return gr.ImageEditor.preprocess(self, payload)


def _check_layer(layer: Any, max_pixels: int) -> None:
    """Refuse a painted layer (a file or its bytes) of more than ``max_pixels`` pixels, from its header."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(layer) if isinstance(layer, bytes) else layer.path) as im:
            pixels = im.width * im.height
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InvalidInputError(f"a painted layer is not an image the page can read ({type(exc).__name__})") from None
    if pixels > max_pixels:
        raise InvalidInputError(f"a painted layer has {pixels:,} pixels, more than this page's limit of {max_pixels:,}")


def _message(exc: BaseException) -> str:
    """What the page says about a failed step."""
    if isinstance(exc, DPInpaintError):
        return f"**Could not do that:** {exc}"
    logger.exception("the page's request failed")
    return f"**Internal error** ({type(exc).__name__}: {exc}). The server keeps running; see its log."


def _guarded(handler: Callable[..., tuple[Any, ...]], failure: Callable[[str], tuple[Any, ...]]) -> Callable[..., Any]:
    """``handler``, with every exception turned into ``failure(message)`` (the page shows it)."""

    def run(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        try:
            return handler(*args, **kwargs)
        except Exception as exc:  # a page must answer every request
            return failure(_message(exc))

    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


def build_page(config: UIConfig, out_dir: Path, catalog: ModelCatalog | None = None) -> gr.Blocks:
    """The page: a photo, a brush over it, the model and its settings, before/after and a download.

    Results are written under ``out_dir`` (one new folder per run).
    """
    catalog = catalog or ModelCatalog.discover(config)
    defaults = InversionConfig()

    # Gradio's copies of uploads and results older than a day are deleted, checked hourly.
    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False, delete_cache=(3600, 86400)) as page:
        photo_state = gr.State(None)
        gr.Markdown(
            "## dpinpaint\nOpen a photo, paint over what should go (or upload a mask: white = fill), "
            "then **Inpaint**. The download has the photo's size and format; every pixel outside the holes "
            "is the photo's."
        )
        with gr.Row():
            with gr.Column(scale=3):
                photo = gr.File(
                    label="Photo", file_types=sorted(IMAGE_EXTENSIONS), type="filepath", elem_id="photo", height=120
                )
                editor = gr.ImageEditor(
                    label="Paint the holes",
                    sources=[],
                    type="numpy",
                    image_mode="RGBA",
                    format="png",
                    transforms=[],
                    layers=False,
                    brush=gr.Brush(default_size=24, colors=[_BRUSH_COLOUR], color_mode="fixed"),
                    eraser=gr.Eraser(default_size=24),
                    elem_id="editor",
                    height=560,
                )
                harden_editor(editor, config.max_pixels)
                mask_file = gr.File(
                    label="Mask (optional; white = fill)",
                    file_types=sorted(IMAGE_EXTENSIONS),
                    type="filepath",
                    elem_id="mask",
                    height=150,
                )
            with gr.Column(scale=1):
                model = gr.Dropdown(catalog.labels, value=catalog.labels[0], label="Model", elem_id="model")
                strategy = gr.Dropdown(list(STRATEGIES), value="auto", label="Strategy", elem_id="strategy")
                blend = gr.Dropdown(
                    list(BLENDS), value=BLENDS[0], label="Blend the fill into the photo", elem_id="blend"
                )
                with gr.Group(visible=False) as inversion_box:
                    inversion = gr.Radio(list(METHODS), value=defaults.method, label="Inversion (dual-path models)")
                    steps = gr.Slider(0, MAX_STEPS, value=defaults.steps, step=10, label="Optimisation steps")
                run = gr.Button("Inpaint", variant="primary", elem_id="run")
                status = gr.Markdown("Open a photo to start.", elem_id="status")
        with gr.Row():
            before = gr.Image(label="Before", interactive=False, elem_id="before", format="png")
            after = gr.Image(label="After", interactive=False, elem_id="after", format="png")
        with gr.Row():
            download = gr.File(label="Download the result", interactive=False, elem_id="download")
            mask_download = gr.File(label="The mask used (white = filled)", interactive=False, elem_id="mask-download")
        figure = gr.Image(label="What each path did", interactive=False, visible=False, elem_id="figure")

        def on_photo(path: str | None) -> tuple[Any, ...]:
            if path is None:
                return None, None, "Open a photo to start."
            opened = open_photo(path, config.max_pixels)
            h, w = opened.size
            value = {"background": opened.display, "layers": [], "composite": opened.display}
            return opened, value, f"Opened **{opened.name}** ({w}x{h}, {opened.format}). Paint over what should go."

        photo.change(_guarded(on_photo, lambda m: (None, None, m)), inputs=photo, outputs=[photo_state, editor, status])

        def on_model(label: str) -> tuple[Any, ...]:
            inp = catalog.load(label)
            kind = "dual-path (StyleGAN2 inversion)" if inp.config.uses_inversion else "feed-forward path only"
            return gr.update(visible=inp.config.uses_inversion), f"Model **{label}**: {kind}."

        model.change(_guarded(on_model, lambda m: (gr.update(), m)), inputs=model, outputs=[inversion_box, status])

        def on_run(
            opened: Photo | None,
            painted: dict[str, Any] | None,
            mask_path: str | None,
            label: str,
            strategy_name: str,
            blend_name: str,
            method: str,
            step_count: float,
            progress: gr.Progress = gr.Progress(),  # noqa: B008 - Gradio's way of asking for a progress bar
        ) -> tuple[Any, ...]:
            if opened is None:
                return None, None, None, None, gr.update(visible=False), "Open a photo first."
            layers = (painted or {}).get("layers") or []
            hole = combine_masks(mask_from_layers(layers, opened.size), mask_path, opened.size)
            progress(0.0, desc="loading the model")
            inp = catalog.load(label)
            options = form_options(
                {"strategy": strategy_name, "blend": blend_name, "inversion": method, "steps": step_count},
                inp.config.uses_inversion,
            )
            result = inpaint_photo(
                inp,
                opened,
                hole,
                options,
                out_dir,
                explain=inp.config.uses_inversion,
                progress=lambda done, total: progress((done, total), desc="inpainting windows", unit="window"),
            )
            h, w = opened.size
            notes = "".join(f"\n- {n}" for n in result.notes)
            text = (
                f"Done: **{result.download.name}** ({w}x{h}), {100.0 * hole.mean():.1f}% filled in "
                f"{result.seconds:.1f} s.{notes}"
            )
            shown = gr.update(value=result.figure, visible=result.figure is not None)
            return result.before, result.after, str(result.download), str(result.mask), shown, text

        run.click(
            _guarded(on_run, lambda m: (None, None, None, None, gr.update(visible=False), m)),
            inputs=[photo_state, editor, mask_file, model, strategy, blend, inversion, steps],
            outputs=[before, after, download, mask_download, figure, status],
        )
        page.load(_guarded(on_model, lambda m: (gr.update(), m)), inputs=model, outputs=[inversion_box, status])
    return page


def theme() -> Any:
    """Gradio's default look with system fonts only (its own theme would load web fonts)."""
    return gr.themes.Default(font=_SYSTEM_FONTS, font_mono=_MONO_FONTS)


def serve(config: UIConfig, catalog: ModelCatalog | None = None, *, block: bool = True) -> Any:
    """Build the page and serve it at ``config.host``/``config.port`` (see :class:`UIConfig`).

    Returns Gradio's ``(app, local_url, share_url)``; with ``block`` it serves until interrupted
    and then deletes the results folder it made (not a ``config.workdir``).
    """
    out_dir = Path(config.workdir) if config.workdir is not None else Path(tempfile.mkdtemp(prefix="dpinpaint-ui-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    page = build_page(config, out_dir, catalog)
    page.queue(default_concurrency_limit=1)  # one inpainting at a time: the model is shared
    try:
        return _launch(page, config, block)
    finally:
        if block and config.workdir is None:
            shutil.rmtree(out_dir, ignore_errors=True)


def _launch(page: gr.Blocks, config: UIConfig, block: bool) -> Any:
    return page.launch(
        server_name=config.host,
        server_port=config.port,
        share=config.share,
        max_file_size=int(config.max_upload_mb * 1024 * 1024),
        ssr_mode=False,
        pwa=False,
        mcp_server=False,
        theme=theme(),
        footer_links=[],
        quiet=True,
        prevent_thread_lock=not block,
        show_error=False,
    )
