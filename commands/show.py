"""The reading commands: export, compare, report, history (stored records only; nothing is measured)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from rich.table import Table

from commands.nightly import judged
from commands.options import open_store, output_path
from reports.compare import compare_backends, compare_runs
from reports.compare_view import as_json, backend_markdown, backend_tables, runs_table
from reports.console import make_console
from reports.export import load_rows, write_rows
from reports.fairness import describe, mismatches, print_fairness
from reports.html import render_report
from reports.pytest_benchmark import to_pytest_benchmark
from reports.regressions import WINDOW
from reports.scaling import left_text, scaling_markdown, scaling_rows, scaling_table
from store import resolve_run
from suites.errors import UsageError


def cmd_export(args: argparse.Namespace) -> int:
    path = output_path(args.output, "--output") if args.output else None
    store = open_store(args)
    run_id = resolve_run(store, args.run)
    if args.format == "pytest-benchmark":
        text = json.dumps(to_pytest_benchmark(store.run(run_id) or {}, store.records(run_id)), indent=1)
        if path:
            path.write_text(text)
        else:
            sys.stdout.write(text + "\n")
        return 0
    rows = load_rows(store, run_id)
    if path:
        with path.open("w", newline="") as handle:
            write_rows(rows, args.format, handle)
    else:
        write_rows(rows, args.format, sys.stdout)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = open_store(args)
    run_id = resolve_run(store, args.run)
    records = store.records(run_id)
    con = make_console()
    if args.scaling:
        return _print_scaling(records, run_id, args.format, con)
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


def _print_scaling(records: list[dict[str, Any]], run_id: str, fmt: str, con: Any) -> int:
    """`compare --scaling`: the sweep rows as a table, markdown or JSON."""
    rows = scaling_rows(records)
    if not rows:
        raise UsageError(f"run {run_id} has no sweep cells; run one with `run_bench.py run --suite scaling`")
    if fmt == "json":
        sys.stdout.write(as_json(rows) + "\n")
    elif fmt == "markdown":
        sys.stdout.write(scaling_markdown(rows) + "\n")
    else:
        con.print(scaling_table(rows))
        left = left_text(rows)
        if left:
            con.print(f"left for bigger machines: {left}")
    return 0


def describe_all(records: list[dict[str, Any]]) -> list[str]:
    """Fairness mismatches of every workload's cells, one line each."""
    lines = []
    for workload in dict.fromkeys(r["cell"]["workload"] for r in records):
        lines += [f"{workload}: {line}" for line in describe(mismatches(
            [r for r in records if r["cell"]["workload"] == workload]))]
    return lines


def cmd_report(args: argparse.Namespace) -> int:
    path = output_path(args.html, "--html")
    store = open_store(args)
    run_id = resolve_run(store, args.run)
    info = store.run(run_id)
    records = store.records(run_id)
    found, series, earlier = judged(store, run_id, info or {}, records, WINDOW)
    if not earlier:  # no history: the report has no nightly section
        found, series = None, None
    path.write_text(render_report(info, records, store.latest_parity(), found, series))
    make_console().print(f"wrote {args.html} ({len(records)} cells of run {run_id})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """The stored runs, newest first; with --changes, the change points of the latest nightly run's history."""
    store = open_store(args)
    if getattr(args, "changes", False):
        from reports.changepoints import history_changes  # only this function of the module is this change's

        run_id = store.latest_keyed_run()
        if run_id is None:
            raise UsageError(f"no finished nightly run in {store.path}: --changes reads nightly histories; run "
                             "`run_bench.py nightly` first")
        runs = [*store.comparable_runs(run_id, 1_000_000), (store.run(run_id) or {}, store.records(run_id))]
        found = history_changes(runs)
        changes = Table(title=f"change points over {len(runs)} comparable nightly runs (E-divisive + t-test, "
                              "p < 0.001, beyond the metric's floor)")
        for header in ("cell", "metric", "run id", "commit", "before → after", "change", "p"):
            changes.add_column(header, justify="right" if header in ("change", "p") else "left")
        for c in found:
            changes.add_row(c["key"], c["metric"], c["run_id"] or "?", (c["commit"] or "?")[:12],
                            f"{c['before']:,.4g} → {c['after']:,.4g}", f"{c['change_rel']:+.1%}", f"{c['p_value']:.2g}")
        make_console().print(changes if found else f"no change points over {len(runs)} comparable nightly runs")
        return 0
    table = Table(title=f"runs in {store.path}")
    for header in ("run id", "suite", "started", "finished", "machine", "cells"):
        table.add_column(header)
    for run in store.runs():
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run["cells"].items()))
        table.add_row(run["run_id"], run["suite"], run["started_at"], run["finished_at"] or "(unfinished)",
                      run["machine_key"] or "", counts)
    make_console().print(table)
    return 0
