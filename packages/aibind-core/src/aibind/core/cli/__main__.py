"""``python -m aibind.core.cli``: the same as the ``aibind`` command."""

from __future__ import annotations

import sys

from aibind.core.cli import main

sys.exit(main())
