"""The reading commands of run_bench.py: export and history (stored records only)."""

from __future__ import annotations

import argparse
import sys

from rich.table import Table

from harness.store import Store
from reports.console import make_console
from reports.export import load_rows, write_rows
from suites.errors import UsageError


def resolve_run(store: Store, run: str | None) -> str:
    """A run id from 'latest', an id or None; UsageError when the database has no such run."""
    run_id = store.latest_run_id() if run in (None, "latest") else run
    if run_id is None or store.run(run_id) is None:
        raise UsageError(f"no run {run!r} in {store.path}; run `run_bench.py run` first or see `run_bench.py history`")
    return run_id


def cmd_export(args: argparse.Namespace) -> int:
    store = Store(args.db)
    rows = load_rows(store, resolve_run(store, args.run))
    if args.output:
        with open(args.output, "w", newline="") as handle:
            write_rows(rows, args.format, handle)
    else:
        write_rows(rows, args.format, sys.stdout)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    store = Store(args.db)
    table = Table(title=f"runs in {store.path}")
    for header in ("run id", "suite", "started", "finished", "machine", "cells"):
        table.add_column(header)
    for run in store.runs():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run["cells"].items()))
        table.add_row(run["run_id"], run["suite"], run["started_at"], run["finished_at"] or "(unfinished)",
                      run["machine_key"] or "", counts)
    make_console().print(table)
    return 0
