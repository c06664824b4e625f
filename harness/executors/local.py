"""Today's executor: each cell in a fresh process on this machine, one after another (forked from a zygote)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from harness.cell import Cell
from harness.executors.base import Admit, ExecutorOptions, Started, where
from harness.launch import ZygotePool
from harness.runner import run_cell


class LocalExecutor:
    """Cells in order on this machine; 'fork' isolation forks each from its backend's zygote (fresh per pass)."""

    name = "local"
    remote = False

    def __init__(self, options: ExecutorOptions) -> None:
        self.pool = ZygotePool() if options.isolation == "fork" else None

    def begin_pass(self, backends: list[str]) -> None:
        if self.pool:
            self.pool.restart(backends)

    def run(self, cells: Iterable[Cell], timeout_s: float, limit_bytes: int | None, admit: Admit,
            started: Started) -> Iterator[tuple[Cell, dict[str, Any]]]:
        for cell in cells:
            started(cell)
            record = admit(cell) or run_cell(cell, timeout_s, limit_bytes, self.pool)
            record.setdefault("executor", where(self.name))
            yield cell, record

    def close(self) -> None:
        if self.pool:
            self.pool.close()
