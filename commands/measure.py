"""The measuring commands: list, run, parity, calibrate (the harness measures; reports print)."""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from backends.registry import all_backends, get_backend
from commands.options import executor_options, open_store, workload_files
from commands.progress import progress_reporter
from harness import calibrate, layer_probe, status, suite_run
from harness import parity as parity_check
from harness.env import git_state
from harness.executors import preflight
from harness.plan import Overrides
from reports.console import make_console
from reports.fairness import print_fairness
from reports.flat import flatten
from reports.layers_table import layers_table
from reports.parity_table import parity_table
from reports.table import print_table
from store import Store
from suites.errors import UsageError
from suites.registry import OFFLINE_WORKLOADS, get_workload, workload_names, workload_origin
from suites.suite import load_suite, suite_names


def cmd_list(args: argparse.Namespace) -> int:
    con = make_console()
    if getattr(args, "layers", False):
        con.print(layers_table(layer_probe.probe(list(all_backends()))))
        return 0
    con.print("[bold]suites[/bold]")
    for name in suite_names():
        suite = load_suite(name)
        con.print(f"  {name:<12} budget={suite.budget:<9} {suite.description}")
    con.print("[bold]workloads[/bold]")
    for name in workload_names():
        w = get_workload(name)
        online = "  (needs the network once)" if w.online else ""
        con.print(f"  {name:<18} {w.task.dataset:<22} {w.description}{online}")
    con.print("[bold]backends[/bold]")
    for info in all_backends().values():
        state = "installed" if info.installed else f"not installed (missing {', '.join(info.missing())})"
        con.print(f"  {info.name:<11} modes: {', '.join(info.modes):<20} default: {info.default_mode:<6} {state}")
    return 0


def run_suite(args: argparse.Namespace, keyed: bool = False) -> tuple[Store, suite_run.RunPlan, list[dict[str, Any]]]:
    """Plan (or resume) a run, execute its missing cells with a progress display, print the table and fairness.
    Without --workloads, a run given --workload-file runs just those files' workloads."""
    con = make_console()
    mine = workload_files(args)  # checked before the store opens: bad input changes nothing
    preflight(executor_options(args, None))
    store = open_store(args)
    if getattr(args, "resume", None):
        plan = suite_run.resumed_run(store, args.resume, args.timeout, args.isolation)
    else:
        over = Overrides(getattr(args, "workloads", None) or mine or None, getattr(args, "backends", None),
                         getattr(args, "modes", None), getattr(args, "precisions", None), getattr(args, "epochs", None),
                         getattr(args, "batch_size", None), getattr(args, "learning_rate", None),
                         getattr(args, "device", "auto"), getattr(args, "repeats", None))
        plan = suite_run.new_run(store, args.suite, over, args.timeout, args.isolation, keyed=keyed)
    plan = dataclasses.replace(plan, executor=executor_options(args, plan.suite))
    if not args.quiet:
        times = f" × {plan.repeats} processes" if plan.repeats > 1 else ""
        con.print(f"run {plan.run_id}: {len(plan.cells)} cells{times} of suite {plan.suite.name!r} → {store.where}")
    with progress_reporter(con, args.quiet, len(plan.cells)) as report:
        records = suite_run.run(store, plan, report)
    print_table([flatten(r, plan.run_id, plan.suite.name) for r in records],
                f"run {plan.run_id} ({plan.suite.name})", con)
    print_fairness(records, con, args.quiet)
    return store, plan, records


def cmd_run(args: argparse.Namespace) -> int:
    _, _, records = run_suite(args)
    return 1 if any(r["status"] not in status.GOOD for r in records) else 0


def _parity_config(args: argparse.Namespace, names: list[str]) -> dict[str, Any]:
    """The asked modes, precisions and device, checked (UsageError names the known values)."""
    modes = list(getattr(args, "modes", None) or [])
    known = {m for b in names for m in get_backend(b).modes}
    bad = [m for m in modes if m not in known]
    if bad:
        raise UsageError(f"unknown mode {bad[0]!r} for backends {', '.join(names)}; known: {', '.join(sorted(known))}")
    precisions = list(getattr(args, "precisions", None) or ["fp32"])
    for p in precisions:
        if p not in parity_check.PARITY_PRECISIONS:
            raise UsageError(f"unknown precision {p!r} for parity; known: {', '.join(parity_check.PARITY_PRECISIONS)}")
    return {"backends": names, "modes": modes or None, "precisions": precisions,
            "device": getattr(args, "device", None) or "auto"}


def cmd_parity(args: argparse.Namespace) -> int:
    con = make_console()
    mine = workload_files(args)
    store = open_store(args)
    workloads = list(args.workloads or mine or OFFLINE_WORKLOADS)
    for name in workloads:
        get_workload(name)
    names = list(args.backends or [b for b, info in all_backends().items() if info.installed])
    for name in names:
        if not get_backend(name).installed:
            raise UsageError(f"backend {name!r} is not installed; install it with pip install -e '.[{name}]'")
    if not names or not workloads:
        extras = " or ".join(f"pip install -e '.[{b}]'" for b in all_backends())
        con.print("parity FAILED: 0 comparisons made: " + (f"no backend installed; install one with {extras}"
                                                           if not names else "no workload to compare"),
                  markup=False, soft_wrap=True)
        return 1
    config = _parity_config(args, names)
    rows = parity_check.check(names, workloads, config["modes"], config["precisions"], config["device"])
    origins = {name: workload_origin(name) for name in workloads}
    for row in rows:  # which file (and which bytes of it) each row proves
        row["workload_origin"] = origins.get(row.get("workload"))
    con.print(parity_table(rows))
    store.add_parity(rows, git_state()["git_sha"], {**config, "workloads": workloads})
    failed = [r for r in rows if not r["ok"]]
    con.print(f"{len(rows) - len(failed)}/{len(rows)} comparisons agree" + ("" if not failed else " — MISMATCH"))
    if len({(r["b"], r.get("mode_b")) for r in rows}) == 1:
        con.print(f"note: only {rows[0]['b'] if rows else names[0]} ran, so losses and trained weights were "
                  "compared with nothing (install a second backend)")
    return 1 if failed or not rows else 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """The shared MFU peaks of this machine's devices at every calibrated precision, measured where missing, stale
    or (--refresh) always; each framework's own rate beside the best."""
    con = make_console()
    devices = ["cpu", *(["cuda"] if calibrate.gpu_identity() else [])]
    pairs = [(d, p) for d in devices for p in calibrate.CALIBRATED[d]]
    peaks = calibrate.ensure_peaks(pairs, refresh=args.refresh)
    for key, entry in peaks.items():
        state = f"measured now: {entry['stale_reason']}" if entry.get("stale_reason") else "cached"
        rate = entry.get("peak_flops_per_s")
        head = f"{rate / 1e9:,.1f} GFLOP/s by {entry['best_backend']}" if rate else f"none ({entry.get('reason')})"
        con.print(f"{key}: {head}, measured {entry['measured_at']} ({state})", markup=False, soft_wrap=True)
        for backend, result in entry["per_backend"].items():
            own = result.get("peak_flops_per_s")
            con.print(f"  {backend:<11} " + (f"{own / 1e9:>9,.1f} GFLOP/s  {result['method']}" if own else
                                              f"{'-':>9}          {result.get('error')}"), markup=False, soft_wrap=True)
    con.print(f"cache: {calibrate.cache_path()}", markup=False, soft_wrap=True)
    return 0 if all(e.get("peak_flops_per_s") for e in peaks.values()) else 1
