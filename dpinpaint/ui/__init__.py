"""``dpinpaint ui``: a local web page to open a photo, paint the holes and download the result.

:mod:`.config` holds its settings (:class:`UIConfig`), :mod:`.session` what the page does (no
Gradio there) and :mod:`.page` the page itself, made with Gradio, an optional dependency
(``pip install "dpinpaint[ui]"``). See docs/ui.md.
"""

from __future__ import annotations

from .config import UIConfig

__all__ = ["UIConfig"]
