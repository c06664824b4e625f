"""The nightly command: run a suite under its machine + configuration key, judge each cell, write the report; or
accept a new baseline for a cell (or all cells) without running anything."""

from __future__ import annotations

import argparse
import getpass
from typing import Any

from rich.console import Console

from commands.measure import run_suite
from commands.options import open_store, output_path
from commands.progress import progress_reporter
from harness.suite_run import RunPlan, measure_again
from reports.console import make_console
from reports.html import render_report
from reports.regressions import ACCEPT_ALL, confirmed, history_series, to_confirm, verdicts
from reports.table import print_verdicts
from store import Store
from suites.errors import UsageError

REPLAY_RUNS = 200
"""Comparable earlier runs replayed to find each cell's unregressed baseline and when a regression began."""


def judged(store: Store, run_id: str, info: dict[str, Any], records: list[dict[str, Any]], window: int
           ) -> tuple[list[dict[str, Any]], dict[str, list[dict[str, Any]]], int]:
    """A run's verdicts (acceptances applied), its cells' trend series, and how many comparable runs came before; each
    cell is judged against its records from the machine that ran it tonight (reports.regressions.verdicts)."""
    past = store.comparable_runs(run_id, max(window, REPLAY_RUNS))
    accepted = [(a["cell_key"], a["run_id"]) for a in store.acceptances()]
    found = verdicts(records, [recs for _, recs in past], [i for i, _ in past] + [info], accepted, window)
    return found, history_series([*past, (info, records)]), len(past)


def accept_baseline(args: argparse.Namespace) -> int:
    """Record that CELL (or every cell) has a new baseline from the latest nightly run on; runs nothing."""
    reason = (args.reason or "").strip()
    if not reason:
        raise UsageError("--accept needs --reason TEXT: why the new level is right (e.g. --reason 'new BLAS, 30 % "
                         "slower on purpose')")
    store = open_store(args)
    run_id = store.latest_keyed_run()
    if run_id is None:
        raise UsageError(f"no finished nightly run in {store.where} to accept; run `run_bench.py nightly` first")
    cell = ACCEPT_ALL if args.accept == "all" else args.accept
    keys = [r["key"] for r in store.records(run_id)]
    if cell != ACCEPT_ALL and cell not in keys:
        raise UsageError(f"cell {cell!r} is not in nightly run {run_id}; pass 'all' or one of: {', '.join(keys)}")
    who = getpass.getuser()
    store.add_acceptance(cell, run_id, who, reason)
    make_console().print(f"accepted {args.accept} from run {run_id} on as the new baseline (by {who}: {reason})")
    return 0


def confirm(store: Store, plan: RunPlan, found: list[dict[str, Any]], again: list[str], con: Console,
            quiet: bool) -> list[dict[str, Any]]:
    """Measure the regressed cells `again` a second time, after the suite's confirm_delay_s, in fresh processes;
    each new record replaces the cell's (so later nights' history holds it) and keeps the first pass's verdicts."""
    delay = plan.suite.confirm_delay_s
    con.print(f"confirming {len(again)} regressed cell(s) in {plan.repeats} fresh process(es) each, after {delay:g} s: "
              + ", ".join(again), markup=False, soft_wrap=True)
    fields = {key: {"confirmation": {"delay_s": delay, "first_pass": [v for v in found if v["key"] == key]}}
              for key in again}
    with progress_reporter(con, quiet, len(again)) as report:
        return measure_again(store, plan, fields, delay, report)


def cmd_nightly(args: argparse.Namespace) -> int:
    """Exit 1 when any cell regressed against its own history (or is still regressed, until accepted)."""
    if args.accept is not None:
        return accept_baseline(args)
    if args.reason is not None:
        raise UsageError("--reason goes with --accept CELL|all")
    html_path = output_path(args.html, "--html") if args.html else None  # checked before anything runs
    store, plan, records = run_suite(args, keyed=True)
    info = store.run(plan.run_id) or {}
    found, series, earlier = judged(store, plan.run_id, info, records, args.history)
    con = make_console()
    again = to_confirm(found) if plan.suite.confirm else []
    if again:
        records = confirm(store, plan, found, again, con, args.quiet)
        second, series, earlier = judged(store, plan.run_id, info, records, args.history)
        found = confirmed(found, second, again)
    print_verdicts(found, con, earlier, args.quiet)
    html_path = html_path or store.report_dir / f"nightly-{plan.run_id}.html"
    html_path.write_text(render_report(info, records, store.latest_parity(), found, series))
    con.print(f"report: {html_path}")
    return 1 if any(v["verdict"] == "regression" for v in found) else 0
