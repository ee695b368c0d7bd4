"""``python -m dpinpaint.cli``: the ``dpinpaint`` command."""

import sys

from .main import main

sys.exit(main())
