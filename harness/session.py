"""Run a planned list of cells into the store, one fresh process each (N per cell), resuming what a run has."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from common.stats import percentiles_ms, summarize_processes
from common.units import BYTES_PER_MIB
from harness import memory_gate, status
from harness.cell import Cell
from harness.executors import Executor, ExecutorOptions, make_executor, node_lost
from harness.time_budget import TimeBudget
from store import Store

Progress = Callable[[Cell, dict[str, Any] | None], None]


def process_summary(record: dict[str, Any], repeat: int) -> dict[str, Any]:
    """What one process of a repeated cell keeps: its status, wall time and timing figures with their raw trials."""
    timing = record.get("timing") or {}
    kept = {part: {k: timing[part].get(k) for k in ("median", "cv", "ci_low", "ci_high", "raw")}
            for part in ("train", "infer") if isinstance(timing.get(part), dict)}
    kept["latency_ms"] = {lbs: dict(v) for lbs, v in (timing.get("latency_ms") or {}).items()}
    return {"repeat": repeat, "status": record.get("status"), "wall_s": record.get("wall_s"),
            "parent_pid": record.get("parent_pid"), "timing": kept}


def merge_repeat(record: dict[str, Any], previous: list[dict[str, Any]], repeat: int) -> dict[str, Any]:
    """The cell's record after process `repeat`: its own, plus every process so far in 'repeats' and, when all are
    ok, the timing pooled over processes (median of process medians, hierarchical CI, within and between CV)."""
    procs = [*previous, process_summary(record, repeat)]
    record["repeat"], record["repeats"] = repeat, procs
    timing = record.get("timing")
    if record.get("status") != status.OK or not timing or any(p["status"] != status.OK for p in procs):
        return record
    for part in ("train", "infer"):
        timing[part] = {**timing[part], **summarize_processes([p["timing"][part]["raw"] for p in procs])}
    for lbs, own in (timing.get("latency_ms") or {}).items():
        groups = [p["timing"]["latency_ms"].get(lbs, {}).get("raw_ms") or [] for p in procs]
        medians = summarize_processes(groups)
        pooled = [v / 1e3 for g in groups for v in g]
        own.update({**percentiles_ms(pooled), "raw_ms": [v * 1e3 for v in pooled], "p50_cv_between":
                    medians["cv_between"], "p50_cv": medians["cv"], "p50_process_medians": medians.get(
                        "process_medians")})
    return record


def kept_processes(done: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The processes a stored record counts as done (none for a new cell; a lost node's process is not kept)."""
    if done is None:
        return []
    procs = list(done.get("repeats") or [process_summary(done, 1)])
    return procs[:-1] if node_lost(done) else procs


def missing_repeats(done: dict[str, Any] | None, repeats: int) -> int:
    """Processes a cell still needs: all for a new cell, none for a failed or skipped one; a cell whose node was
    lost needs the process it lost and those after it."""
    if done is None:
        return repeats
    if done.get("status") != status.OK and not node_lost(done):
        return 0
    return max(0, repeats - len(kept_processes(done)))


def _skipped(cell: Cell, budget: TimeBudget | None, planned: list[Cell], limit: int | None,
             host: bool = True) -> dict[str, Any] | None:
    """The record of a cell that must not start, without a process: one whose memory estimate does not fit (first:
    no machine of this size can run it, whatever the time), else one the time budget refuses; None to run it.
    `host` False (cells run elsewhere): only an explicit limit gates here, each node gates by its own memory."""
    admission = memory_gate.admit(cell, limit) if host or limit else None
    if admission and not admission.fits:
        return memory_gate.skipped_record(cell, admission)
    refusal = budget.refusal(cell, planned) if budget else None
    return budget.skipped_record(cell, refusal, limit) if budget and refusal else None


def execute(store: Store, run_id: str, cells: list[Cell], timeout_s: float, memory_limit_mb: int | None = None,
            progress: Progress | None = None, isolation: str = "fork", repeats: int = 1,
            again: Mapping[str, Mapping[str, Any]] | None = None,
            time_budget_s: float | None = None, executor: ExecutorOptions | None = None) -> list[dict[str, Any]]:
    """Run every process the run does not have yet; each record is committed as soon as its process ends.

    A cell runs in `repeats` fresh processes, interleaved: pass k runs process k of every cell before any cell's
    process k + 1, so a cell's processes lie a whole pass apart and a spell of a slow machine (seconds to a minute on
    a shared VM) reaches one of them, not all: the median over processes sets it aside. Process k's record replaces
    the cell's (same key, 'repeat': k) and carries all k processes in 'repeats', so readers that take one record per
    key see the pooled figures; a cell whose process fails runs no further ones.
    isolation 'fork': each cell is a fresh process forked from its backend's pre-imported zygote (the zygotes are
    started together, before any cell, so their imports never overlap a measurement), and every pass has its own
    zygotes, so the processes a cell's verdict treats as independent share no parent (a few seconds per pass);
    'spawn': a new interpreter.
    `again`: cell key → fields for every record of a second measurement of that cell (a nightly's confirmation
    pass): those cells run all `repeats` processes afresh, whatever the run has; each record carries the fields and
    is stored once its last process ends (an interrupted second measurement leaves the first in place).
    `time_budget_s`: the run's wall-time budget; a workload that would not fit in what is left is skipped whole
    (harness/time_budget.py).
    `executor`: where the cells run (harness/executors; default: this machine, with `isolation`). Each record's
    'attempt' (its pass, or 'confirm-' and its pass) makes writing it again after a retry replace it, not add one.
    """
    have = {} if again is not None else {r["key"]: r for r in store.records(run_id)}
    todo = [(c, have.get(c.key)) for c in cells if missing_repeats(have.get(c.key), repeats)]
    done_procs = {c.key: kept_processes(d) for c, d in todo}
    limit = memory_limit_mb * BYTES_PER_MIB if memory_limit_mb else None
    runner: Executor = make_executor(replace(executor, isolation=isolation) if executor
                                     else ExecutorOptions(isolation=isolation))
    latest: dict[str, dict[str, Any]] = {}
    stopped: set[str] = set()
    budget = TimeBudget(time_budget_s) if time_budget_s else None
    planned = [c for c, _ in todo]

    def admit(cell: Cell) -> dict[str, Any] | None:
        return _skipped(cell, budget, planned, limit, host=not runner.remote)

    def started(cell: Cell) -> None:
        if progress:
            progress(cell, None)

    try:
        for k in range(1, repeats + 1):
            batch = [c for c in planned if c.key not in stopped and len(done_procs[c.key]) < k]
            if batch:
                runner.begin_pass(list(dict.fromkeys(c.backend for c in batch)))
            for cell, record in runner.run(batch, timeout_s, limit, admit, started):
                if budget:
                    budget.observe(cell, record)
                if repeats > 1:
                    record = merge_repeat(record, done_procs[cell.key], k)
                    done_procs[cell.key] = record["repeats"]
                if again is not None:
                    record.update(again.get(cell.key, {}))
                record["attempt"] = f"confirm-{k}" if again is not None else str(k)
                if again is None or k == repeats or record.get("status") != status.OK:
                    store.add_record(run_id, record)  # a second measurement replaces the first only when whole
                latest[cell.key] = record
                if record.get("status") != status.OK:
                    stopped.add(cell.key)
                if progress and (k == repeats or cell.key in stopped):
                    progress(cell, record)
    finally:
        runner.close()
    return [latest[c.key] for c, _ in todo if c.key in latest]
