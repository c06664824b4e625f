"""Checks of command-line values that argparse cannot make: the database, output paths and workload files."""

from __future__ import annotations

import argparse
from pathlib import Path

from store import Store
from suites.errors import UsageError
from suites.registry import add_workload_files


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


def workload_files(args: argparse.Namespace) -> tuple[str, ...]:
    """Add the workloads of every --workload-file to this invocation (cell and parity processes included); their
    names, () without the option. UsageError/SpecError for a file that is missing, not .py or not a workload."""
    paths = getattr(args, "workload_file", None) or []
    return add_workload_files(paths) if paths else ()
