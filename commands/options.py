"""Checks of command-line values that argparse cannot make: the database and output paths."""

from __future__ import annotations

import argparse
from pathlib import Path

from store import Store
from suites.errors import UsageError


def open_store(args: argparse.Namespace) -> Store:
    """The database named by --db (or $BENCH_DB, or the default); UsageError when it is not a results database."""
    return Store(getattr(args, "db", None))


def output_path(text: str, option: str) -> Path:
    """A file path to write; UsageError when its folder does not exist or it names a folder."""
    path = Path(text)
    if path.is_dir():
        raise UsageError(f"{option} {text!r} is a folder; give a file name, e.g. {Path(text) / 'report.html'}")
    if not path.parent.is_dir():
        raise UsageError(f"{option} {text!r}: folder {str(path.parent)!r} does not exist; create it first")
    return path
