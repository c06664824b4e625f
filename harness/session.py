"""Run a planned list of cells into the store, one fresh process each, resuming what a run already has."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from harness.cell import Cell
from harness.runner import run_cell
from harness.store import Store

Progress = Callable[[Cell, dict[str, Any] | None], None]


def execute(store: Store, run_id: str, cells: list[Cell], timeout_s: float, memory_limit_mb: int | None = None,
            progress: Progress | None = None) -> list[dict[str, Any]]:
    """Run every cell the run does not have yet; each record is committed as soon as its cell ends."""
    done = store.done_keys(run_id)
    records = []
    limit = memory_limit_mb * 2**20 if memory_limit_mb else None
    for cell in cells:
        if cell.key in done:
            continue
        if progress:
            progress(cell, None)
        record = run_cell(cell, timeout_s, limit)
        store.add_record(run_id, record)
        records.append(record)
        if progress:
            progress(cell, record)
    return records
