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
from reports.fleet import compare_machines, find_machine, machines
from reports.fleet_view import fleet_markdown, fleet_tables
from reports.html import render_report
from reports.machines import machine_counts, machine_labels
from reports.pytest_benchmark import to_pytest_benchmark
from reports.regressions import WINDOW
from reports.scaling import left_text, scaling_markdown, scaling_rows, scaling_table
from store import Store, resolve_run
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


def fleet(store: Store, runs: list[str], baseline: str | None) -> dict[str, Any]:
    """The fleet view of the runs' records; UsageError with fewer than two machines or an unknown --baseline-machine."""
    found = [(store.run(run_id) or {}, store.records(run_id)) for run_id in dict.fromkeys(
        resolve_run(store, run) for run in runs)]
    hosts = machines(found)
    if len(hosts) < 2:
        names = ", ".join(m["label"] for m in hosts) or "none"
        raise UsageError(f"--by machine needs records from at least two machines; run(s) {', '.join(runs)} have "
                         f"cells from {len(hosts)} ({names}): pass runs from other machines too")
    base = find_machine(hosts, baseline) if baseline else hosts[0]
    if base is None:
        raise UsageError(f"--baseline-machine {baseline!r} is not among the machines: "
                         f"{', '.join(m['label'] for m in hosts)}")
    return compare_machines(found, base["key"])


def _print_fleet(args: argparse.Namespace, store: Store, con: Any) -> int:
    """`compare --by machine`: the same cells on each machine, as tables, markdown or JSON."""
    view = fleet(store, args.run, args.baseline_machine)
    if args.format == "json":
        sys.stdout.write(json.dumps(view, indent=1) + "\n")
    elif args.format == "markdown":
        sys.stdout.write(fleet_markdown(view) + "\n")
    else:
        for table in fleet_tables(view):
            con.print(table)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    store = open_store(args)
    con = make_console()
    if args.by == "machine":
        if args.against or args.scaling:
            raise UsageError("--by machine compares machines; it does not go with --against or --scaling")
        return _print_fleet(args, store, con)
    if args.baseline_machine:
        raise UsageError("--baseline-machine goes with --by machine")
    if len(args.run) > 1:
        raise UsageError(f"{len(args.run)} runs given: several runs go with --by machine (one run otherwise)")
    run_id = resolve_run(store, args.run[0] if args.run else None)
    records = store.records(run_id)
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
    runs = args.run or ["latest"]
    if len(runs) > 1 and args.by != "machine":
        raise UsageError(f"{len(runs)} --run given: several runs go with --by machine (one run otherwise)")
    run_id = resolve_run(store, runs[0])
    view = fleet(store, runs, None) if args.by == "machine" else None
    info = store.run(run_id)
    records = store.records(run_id)
    found, series, earlier = judged(store, run_id, info or {}, records, WINDOW)
    if not earlier:  # no history: the report has no nightly section
        found, series = None, None
    page = render_report(info, records, store.latest_parity(), found, series, machines=view)
    path.write_text(page)
    where = f", machines {', '.join(m['label'] for m in view['machines'])}" if view else ""
    make_console().print(f"wrote {args.html} ({len(records)} cells of run {run_id}{where})")
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    """The stored runs, newest first; with --changes, the change points of the latest nightly run's history."""
    store = open_store(args)
    if getattr(args, "changes", False):
        from reports.changepoints import history_changes  # only this function of the module is this change's

        run_id = store.latest_keyed_run()
        if run_id is None:
            raise UsageError(f"no finished nightly run in {store.where}: --changes reads nightly histories; run "
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
    table = Table(title=f"runs in {store.where}")
    for header in ("run id", "suite", "started", "finished", "machine", "machines (cells)", "cells"):
        table.add_column(header)
    runs = store.runs()
    pairs = {run["run_id"]: [(record, run) for record in store.records(run["run_id"])] for run in runs}
    labels = machine_labels(pair for found in pairs.values() for pair in found)
    for run in runs:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(run["cells"].items()))
        hosts = ", ".join(f"{label} {n}" for label, n in machine_counts(pairs[run["run_id"]], labels))
        table.add_row(run["run_id"], run["suite"], run["started_at"], run["finished_at"] or "(unfinished)",
                      run["machine_key"] or "", hosts, counts)
    make_console().print(table)
    return 0
