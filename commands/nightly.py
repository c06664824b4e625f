"""The nightly command: run a suite under its machine + configuration key, judge each cell, write the report."""

from __future__ import annotations

import argparse

from commands.measure import run_suite
from commands.options import output_path
from reports.console import make_console
from reports.html import render_report
from reports.regressions import history_series, verdicts
from reports.table import print_verdicts


def cmd_nightly(args: argparse.Namespace) -> int:
    """Exit 1 when any cell regressed against its own history."""
    html_path = output_path(args.html, "--html") if args.html else None  # checked before anything runs
    store, plan, records = run_suite(args, keyed=True)
    info = store.run(plan.run_id) or {}
    past = store.comparable_runs(plan.run_id, args.history)
    found = verdicts(records, [recs for _, recs in past])
    con = make_console()
    print_verdicts(found, con, len(past), args.quiet)
    series = history_series([*past, (info, records)])
    html_path = html_path or store.path.parent / f"nightly-{plan.run_id}.html"
    html_path.write_text(render_report(info, records, store.latest_parity(), found, series))
    con.print(f"report: {html_path}")
    return 1 if any(v["verdict"] == "regression" for v in found) else 0
