"""The reading commands of run_bench.py: export and history (stored records only)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from rich.table import Table

from store import Store
from reports.compare import compare_backends, compare_runs
from reports.compare_view import as_json, backend_markdown, backend_tables, runs_table
from reports.console import make_console
from reports.export import load_rows, write_rows
from reports.fairness import describe, mismatches, print_fairness
from reports.pytest_benchmark import to_pytest_benchmark
from reports.regressions import history_series, verdicts
from suites.errors import UsageError


def resolve_run(store: Store, run: str | None) -> str:
    """A run id from 'latest', an id or None; UsageError when the database has no such run."""
    run_id = store.latest_run_id() if run in (None, "latest") else run
    if run_id is None or store.run(run_id) is None:
        raise UsageError(f"no run {run!r} in {store.path}; run `run_bench.py run` first or see `run_bench.py history`")
    return run_id


def cmd_export(args: argparse.Namespace) -> int:
    store = Store(args.db)
    run_id = resolve_run(store, args.run)
    if args.format == "pytest-benchmark":
        text = json.dumps(to_pytest_benchmark(store.run(run_id) or {}, store.records(run_id)), indent=1)
        if args.output:
            Path(args.output).write_text(text)
        else:
            sys.stdout.write(text + "\n")
        return 0
    rows = load_rows(store, run_id)
    if args.output:
        with open(args.output, "w", newline="") as handle:
            write_rows(rows, args.format, handle)
    else:
        write_rows(rows, args.format, sys.stdout)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = Store(args.db)
    run_id = resolve_run(store, args.run)
    records = store.records(run_id)
    con = make_console()
    if args.against:
        previous = resolve_run(store, args.against)
        rows = compare_runs(records, store.records(previous))
        if args.format == "json":
            sys.stdout.write(as_json(rows) + "\n")
        else:
            con.print(runs_table(rows, run_id, previous))
        return 0
    backends = {r["cell"]["backend"] for r in records}
    if args.baseline not in backends:
        raise UsageError(f"baseline backend {args.baseline!r} is not in run {run_id} "
                         f"(it has {', '.join(sorted(backends))}); pass --baseline")
    rows = compare_backends(records, args.baseline)
    if args.format == "json":
        sys.stdout.write(as_json(rows) + "\n")
        return 0
    if args.format == "markdown":
        sys.stdout.write(backend_markdown(rows, args.baseline) + "\n")
        for line in describe_all(records):
            sys.stdout.write(f"- {line}\n")
        return 0
    for table in backend_tables(rows, args.baseline):
        con.print(table)
    print_fairness(records, con)
    return 0


def describe_all(records: list[dict]) -> list[str]:
    """Fairness mismatches of every workload's cells, one line each."""
    lines = []
    for workload in dict.fromkeys(r["cell"]["workload"] for r in records):
        lines += [f"{workload}: {line}" for line in describe(mismatches(
            [r for r in records if r["cell"]["workload"] == workload]))]
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    from reports.html import render_report

    store = Store(args.db)
    run_id = resolve_run(store, args.run)
    info = store.run(run_id)
    records = store.records(run_id)
    found, series = None, None
    if info and info.get("config_key"):
        past_ids = store.history(info["machine_key"], info["config_key"], before=run_id)[-10:]
        past = [(store.run(rid), store.records(rid)) for rid in past_ids]
        found = verdicts(records, [recs for _, recs in past]) if past else None
        series = history_series([*past, (info, records)]) if past else None
    with open(args.html, "w") as handle:
        handle.write(render_report(info, records, store.latest_parity(), found, series))
    make_console().print(f"wrote {args.html} ({len(records)} cells of run {run_id})")
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
