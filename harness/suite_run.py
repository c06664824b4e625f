"""A suite run from start to finish: plan (or resume) its cells, execute them into the store, hand back records."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.calibrate import ensure_peaks, mark_exceeded
from harness.cell import Cell
from harness.env import provenance
from harness.executors import ExecutorOptions
from harness.plan import Overrides, plan_cells, plan_repeats
from harness.session import Progress, execute
from store import Store
from suites.errors import UsageError
from suites.spec import canonical_json
from suites.suite import Suite, load_suite


@dataclass(frozen=True)
class RunPlan:
    """A run that exists in the store, with the cells it must have and how to run them."""

    run_id: str
    suite: Suite
    cells: list[Cell]
    timeout_s: float
    isolation: str
    repeats: int = 1
    executor: ExecutorOptions | None = None
    """Where this invocation runs the cells (None: here); not part of the run, so any executor can resume it."""


def config_key(suite: Suite, cells: list[Cell]) -> str:
    """What makes two nightly runs comparable: the suite, its budget and the exact cells (not the code version)."""
    payload = canonical_json({"suite": suite.name, "budget": suite.budget, "cells": [c.to_dict() for c in cells]})
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def new_run(store: Store, suite_ref: str, over: Overrides, timeout_s: float | None, isolation: str | None,
            keyed: bool = False) -> RunPlan:
    """Validate the suite and overrides, then create the run; `keyed` stores the nightly configuration key."""
    suite = load_suite(suite_ref)
    cells = plan_cells(suite, over)
    repeats = plan_repeats(suite, over)
    timeout = timeout_s or suite.timeout_s
    isolation = isolation or "fork"
    config = {"suite_path": suite_ref, "overrides": over.__dict__, "timeout_s": timeout, "isolation": isolation,
              "cells": [c.key for c in cells], "repeats": repeats}
    run_id = store.create_run(suite.name, config, provenance(), config_key=config_key(suite, cells) if keyed else None)
    return RunPlan(run_id, suite, cells, timeout, isolation, repeats)


def resumed_run(store: Store, run_ref: str, timeout_s: float | None, isolation: str | None) -> RunPlan:
    """The plan of an interrupted run ('latest' or an id), from the configuration it was created with."""
    run_id = store.latest_run_id() if run_ref == "latest" else run_ref
    info = store.run(run_id) if run_id else None
    if info is None or run_id is None:
        raise UsageError(f"no run {run_ref!r} to resume in {store.where}; see `run_bench.py history`")
    config = info["config"]
    suite = load_suite(config["suite_path"])
    over = Overrides(**{k: tuple(v) if isinstance(v, list) else v for k, v in config["overrides"].items()})
    repeats = int(config.get("repeats", 1))  # a run made before repeats ran one process per cell
    return RunPlan(run_id, suite, plan_cells(suite, over), timeout_s or config["timeout_s"],
                   isolation or config.get("isolation", "fork"), repeats)


def run(store: Store, plan: RunPlan, progress: Progress | None = None) -> list[dict[str, Any]]:
    """Calibrate the MFU peaks the cells need (when missing or stale), execute the cells the run lacks (each record
    committed as it ends), close the run; all its records."""
    ensure_peaks({(c.device, c.precision) for c in plan.cells})
    execute(store, plan.run_id, plan.cells, plan.timeout_s, plan.suite.memory_limit_mb, progress, plan.isolation,
            plan.repeats, time_budget_s=plan.suite.time_budget_s, executor=plan.executor)
    store.finish_run(plan.run_id)
    records = store.records(plan.run_id)
    try:
        mark_exceeded(records)  # a peak some cell beat is measured again by the next run
    except OSError:  # a read-only cache: the records already say why their MFU is missing
        pass
    return records


def measure_again(store: Store, plan: RunPlan, fields: Mapping[str, Mapping[str, Any]], delay_s: float,
                  progress: Progress | None = None) -> list[dict[str, Any]]:
    """After `delay_s`, measure the cells named in `fields` again in fresh processes (the plan's repeats, new
    zygotes); each new record replaces the cell's in the run and carries that cell's fields. All the run's records."""
    time.sleep(delay_s)
    cells = [c for c in plan.cells if c.key in fields]
    execute(store, plan.run_id, cells, plan.timeout_s, plan.suite.memory_limit_mb, progress, plan.isolation,
            plan.repeats, again=fields, executor=plan.executor)
    store.finish_run(plan.run_id)
    return store.records(plan.run_id)
