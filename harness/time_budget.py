"""A suite's wall-time budget (`time_budget_s`): before a workload's first cell, the time of all its cells is
extrapolated from the cells already run; a workload that does not fit in what is left is skipped whole, with the
estimate, and left for a bigger machine.

The extrapolation is per (backend, mode, precision, device), on the work of one training step (the spec's training
FLOPs per sample × the batch): a straight line through the cells run so far (least squares; slope and intercept kept
non-negative), or, after one cell, its wall time scaled by the work ratio (an upper bound while fixed costs —
imports, compilation, data — dominate). A cell with no history is not held back. The budget counts from the first
cell; a resumed run starts a fresh budget. Once the budget is spent, no further workload starts.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.clock import now_iso
from harness import memory_gate, status
from harness.cell import Cell
from harness.worker import base_record
from suites.flops import train_flops
from suites.memory import batch_rows
from suites.registry import get_workload

SKIP_ERROR_TYPE = "TimeBudgetExceeded"
Line = tuple[str, str, str, str]  # (backend, mode, precision, device)


def step_work(cell: Cell) -> float:
    """The spec's training FLOPs of one step of the cell: per sample × the batch."""
    return float(train_flops(get_workload(cell.workload).model) * batch_rows(cell.task()))


def _line(cell: Cell) -> Line:
    return (cell.backend, cell.mode, cell.precision, cell.device)


def extrapolate_s(history: Sequence[tuple[float, float]], work: float) -> float | None:
    """Wall seconds at `work` from (work, wall seconds) points: a non-negative line, one point scaled, or None."""
    if not history:
        return None
    if len(history) == 1 or len({w for w, _ in history}) == 1:
        w0, s0 = history[-1]
        return s0 * max(work / w0, 1.0) if w0 > 0 else s0
    xs, ys = np.array([w for w, _ in history]), np.array([s for _, s in history])
    slope, intercept = np.polyfit(xs, ys, 1)
    slope = max(float(slope), 0.0)
    intercept = max(float(intercept), 0.0) if slope > 0 else float(ys.max())
    return max(intercept + slope * work, float(ys.min()))


@dataclass
class TimeBudget:
    """What is left of a run's wall-time budget, and each line's cells so far."""

    total_s: float
    started: float = field(default_factory=time.perf_counter)
    history: dict[Line, list[tuple[float, float]]] = field(default_factory=dict)
    decided: dict[str, str | None] = field(default_factory=dict)

    def left_s(self) -> float:
        return self.total_s - (time.perf_counter() - self.started)

    def predict_s(self, cell: Cell) -> float | None:
        """The cell's extrapolated wall seconds, or None without history on its line."""
        return extrapolate_s(self.history.get(_line(cell), []), step_work(cell))

    def refusal(self, cell: Cell, cells: Sequence[Cell]) -> str | None:
        """Why the cell's workload does not fit (decided once, at its first cell, for all its `cells`), or None."""
        if cell.workload not in self.decided:
            mine = [c for c in cells if c.workload == cell.workload]
            predicted = [p for p in (self.predict_s(c) for c in mine) if p is not None]
            need, left = sum(predicted), self.left_s()
            self.decided[cell.workload] = None if need <= left and left > 0 else (
                f"needs an estimated {need:,.0f} s for its {len(mine)} cells (extrapolated from the smaller sizes "
                f"run so far) > {max(left, 0.0):,.0f} s left of the suite's {self.total_s:,.0f} s time budget; "
                "left for a bigger machine")
        return self.decided[cell.workload]

    def observe(self, cell: Cell, record: dict[str, Any]) -> None:
        """Add an ok cell's wall time (its whole process) to its line's history."""
        wall = record.get("process_wall_s") or record.get("wall_s")
        if record.get("status") == status.OK and wall:
            self.history.setdefault(_line(cell), []).append((step_work(cell), float(wall)))

    def skipped_record(self, cell: Cell, reason: str, memory_limit_bytes: int | None) -> dict[str, Any]:
        """The record of a cell skipped for the time budget, made without starting a process (with its memory
        estimate, so the report can still place the size)."""
        record = base_record(cell)
        record.update({"status": status.SKIPPED, "wall_s": 0.0, "finished_at": now_iso(),
                       "memory_estimate": memory_gate.admit(cell, memory_limit_bytes).to_record(),
                       "time_budget": {"total_s": self.total_s, "left_s": self.left_s(),
                                       "predicted_s": self.predict_s(cell)},
                       "error": {"type": SKIP_ERROR_TYPE, "message": reason, "traceback": ""}})
        return record
