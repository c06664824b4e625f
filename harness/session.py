"""Run a planned list of cells into the store, one fresh process each, resuming what a run already has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.units import BYTES_PER_MIB
from harness.cell import Cell
from harness.launch import ZygotePool
from harness.runner import run_cell
from store import Store

Progress = Callable[[Cell, dict[str, Any] | None], None]


def execute(store: Store, run_id: str, cells: list[Cell], timeout_s: float, memory_limit_mb: int | None = None,
            progress: Progress | None = None, isolation: str = "fork") -> list[dict[str, Any]]:
    """Run every cell the run does not have yet; each record is committed as soon as its cell ends.

    isolation 'fork': each cell is a fresh process forked from its backend's pre-imported zygote (the zygotes are
    started together, before any cell, so their imports never overlap a measurement); 'spawn': a new interpreter.
    """
    todo = [c for c in cells if c.key not in store.done_keys(run_id)]
    limit = memory_limit_mb * BYTES_PER_MIB if memory_limit_mb else None
    pool = ZygotePool() if isolation == "fork" else None
    records = []
    try:
        if pool:
            pool.start(list(dict.fromkeys(c.backend for c in todo)))
        for cell in todo:
            if progress:
                progress(cell, None)
            record = run_cell(cell, timeout_s, limit, pool)
            store.add_record(run_id, record)
            records.append(record)
            if progress:
                progress(cell, record)
    finally:
        if pool:
            pool.close()
    return records
