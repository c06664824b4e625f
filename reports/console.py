"""The one rich Console the commands print through (wide when output is not a terminal)."""

from __future__ import annotations

import sys

from rich.console import Console


def make_console(quiet: bool = False) -> Console:
    """A console for stdout; 160 columns when piped so tables are not folded."""
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, width=width, quiet=quiet)
