"""The ``dpinpaint`` command line (:func:`main`, :func:`build_parser`).

One module per command group: :mod:`~dpinpaint.cli.inpaint` (``inpaint``, ``explain``),
:mod:`~dpinpaint.cli.evaluate`, :mod:`~dpinpaint.cli.train` and :mod:`~dpinpaint.cli.models`
(``info``, ``presets``, ``convert``, ``download``, ``list``, ``env``); what they share is in
:mod:`~dpinpaint.cli.common`. Parsing needs no torch: the commands import the library lazily.
"""

from __future__ import annotations

from .main import build_parser, main

__all__ = ["main", "build_parser"]
