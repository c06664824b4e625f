"""The measuring commands of run_bench.py: list, run, parity."""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from backends.registry import BACKENDS
from harness import parity as parity_check
from harness import status
from harness.calibrate import cpu_peak
from harness.cell import Cell
from harness.env import git_state, provenance
from harness.plan import Overrides, plan_cells
from harness.session import execute
from store import Store
from reports.console import make_console
from reports.fairness import print_fairness
from reports.flat import flatten
from reports.regressions import history_series, verdicts
from reports.table import print_table, print_verdicts
from suites.errors import UsageError
from suites.registry import OFFLINE_WORKLOADS, get_workload, workload_names
from suites.spec import canonical_json
from suites.suite import Suite, load_suite, suite_names


def _console(args: argparse.Namespace) -> Console:
    return make_console()


def cmd_list(args: argparse.Namespace) -> int:
    con = _console(args)
    con.print("[bold]suites[/bold]")
    for name in suite_names():
        suite = load_suite(name)
        con.print(f"  {name:<12} budget={suite.budget:<9} {suite.description}")
    con.print("[bold]workloads[/bold]")
    for name in workload_names():
        w = get_workload(name)
        online = "" if name in OFFLINE_WORKLOADS else "  (needs the network once)"
        con.print(f"  {name:<18} {w.task.dataset:<22} {w.description}{online}")
    con.print("[bold]backends[/bold]")
    for info in BACKENDS.values():
        state = "installed" if info.installed else f"not installed (missing {', '.join(info.missing())})"
        con.print(f"  {info.name:<11} modes: {', '.join(info.modes):<20} default: {info.default_mode:<6} {state}")
    return 0


@contextmanager
def progress_reporter(con: Console, quiet: bool, total: int) -> Iterator[Any]:
    """A callback for each cell start/end: a rich progress bar on a terminal, one line per finished cell always."""
    done = [0]
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=con, transient=True, disable=quiet or not con.is_terminal)
    task = bar.add_task("cells", total=total)

    def report(cell: Cell, record: dict[str, Any] | None) -> None:
        if record is None:
            bar.update(task, description=cell.key)
            return
        done[0] += 1
        bar.advance(task)
        if quiet:
            return
        err = record.get("error") or {}
        extra = f"  {err.get('type')}: {str(err.get('message'))[:100]}" if record["status"] != status.OK else ""
        bar.console.print(f"[{done[0]}/{total}] {cell.key:<45} {record['status']:<8} "
                          f"{record.get('wall_s', 0):6.1f} s{extra}", markup=False)

    with bar:
        yield report


def _config_key(suite: Suite, cells: list[Cell]) -> str:
    """What makes two nightly runs comparable: the suite, its budget and the exact cells (not the code version)."""
    payload = canonical_json({"suite": suite.name, "budget": suite.budget, "cells": [c.to_dict() for c in cells]})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _run_suite(args: argparse.Namespace, con: Console, config_key_wanted: bool = False
               ) -> tuple[Store, str, Suite, list[dict[str, Any]]]:
    """Plan, create (or resume) a run, execute its missing cells, print the table; the store, run id and records."""
    store = Store(args.db)
    resume = getattr(args, "resume", None)
    if resume:
        run_id = store.latest_run_id() if args.resume == "latest" else args.resume
        info = store.run(run_id) if run_id else None
        if info is None:
            raise UsageError(f"no run {args.resume!r} to resume in {store.path}; see `run_bench.py history`")
        config = info["config"]
        suite = load_suite(config["suite_path"])
        over = Overrides(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["overrides"].items()})
        timeout = args.timeout or config["timeout_s"]
        isolation = args.isolation or config.get("isolation", "fork")
    else:
        suite = load_suite(args.suite)
        over = Overrides(getattr(args, "workloads", None), getattr(args, "backends", None),
                         getattr(args, "modes", None), getattr(args, "precisions", None), getattr(args, "epochs", None),
                         getattr(args, "batch_size", None), getattr(args, "learning_rate", None),
                         getattr(args, "device", "auto"))
        timeout = args.timeout or suite.timeout_s
        isolation = args.isolation or "fork"
    cells = plan_cells(suite, over)
    if not resume:
        config = {"suite_path": args.suite, "overrides": over.__dict__, "timeout_s": timeout,
                  "isolation": isolation, "cells": [c.key for c in cells]}
        key = _config_key(suite, cells) if config_key_wanted else None
        run_id = store.create_run(suite.name, config, provenance(), config_key=key)
    if not args.quiet:
        con.print(f"run {run_id}: {len(cells)} cells of suite {suite.name!r} → {store.path}")
    with progress_reporter(con, args.quiet, len(cells)) as report:
        execute(store, run_id, cells, timeout, suite.memory_limit_mb, report, isolation)
    store.finish_run(run_id)
    records = store.records(run_id)
    rows = [flatten(r, run_id, suite.name) for r in records]
    print_table(rows, f"run {run_id} ({suite.name})", con)
    print_fairness(records, con, args.quiet)
    return store, run_id, suite, records


def cmd_run(args: argparse.Namespace) -> int:
    _, _, _, records = _run_suite(args, _console(args))
    return 1 if any(r["status"] not in status.GOOD for r in records) else 0


def cmd_nightly(args: argparse.Namespace) -> int:
    """Run a suite under its machine + configuration key, judge every cell against its own history, write HTML."""
    con = _console(args)
    store, run_id, suite, records = _run_suite(args, con, config_key_wanted=True)
    info = store.run(run_id)
    assert info is not None
    past_ids = store.history(info["machine_key"], info["config_key"], before=run_id)[-args.history:]
    past = [store.records(rid) for rid in past_ids]
    found = verdicts(records, past)
    print_verdicts(found, con, len(past_ids), args.quiet)
    series = history_series([(store.run(rid), recs) for rid, recs in zip(past_ids, past, strict=True)]
                            + [(info, records)])
    html_path = Path(args.html or store.path.parent / f"nightly-{run_id}.html")
    from reports.html import render_report

    html_path.write_text(render_report(info, records, store.latest_parity(), found, series))
    con.print(f"report: {html_path}")
    return 1 if any(v["verdict"] == "regression" for v in found) else 0


def cmd_parity(args: argparse.Namespace) -> int:
    con = _console(args)
    workloads = list(args.workloads or OFFLINE_WORKLOADS)
    for name in workloads:
        get_workload(name)
    names = list(args.backends or [b for b, info in BACKENDS.items() if info.installed])
    for name in names:
        if name not in BACKENDS:
            raise UsageError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
        if not BACKENDS[name].installed:
            raise UsageError(f"backend {name!r} is not installed; install it with pip install -e '.[{name}]'")
    rows = parity_check.check(names, workloads)
    from reports.parity_table import parity_table

    con.print(parity_table(rows))
    Store(args.db).add_parity(rows, git_state()["git_sha"])
    failed = [r for r in rows if not r["ok"]]
    con.print(f"{len(rows) - len(failed)}/{len(rows)} comparisons agree" + ("" if not failed else " — MISMATCH"))
    return 1 if failed else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    peak = cpu_peak(refresh=args.refresh)
    _console(args).print(f"CPU float32 GEMM peak: {peak['peak_flops_per_s'] / 1e9:,.1f} GFLOP/s "
                         f"({peak['method']}, measured {peak['measured_at']})")
    return 0
