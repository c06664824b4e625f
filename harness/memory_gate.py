"""Before a cell's process starts: its memory estimate from the spec (suites/memory.py) against the memory it may use.

The limit is the suite's `memory_limit_mb` when it sets one: the runner kills a process tree whose host RSS passes
it (status `oom`). Without one it is this machine's available memory when the cell is about to start (psutil): a
cell that cannot fit there would push the machine into swap or the kernel's OOM killer, and is skipped rather than
risked. Available memory moves with what else runs, but only a cell whose estimate is at that scale is affected; the
record names which limit was applied. A cell that asks for `cuda` holds its training state in GPU memory, which no
limit bounds yet: it is not gated, and its record keeps the estimate with that reason.

The estimate counts the model's training state only, not the framework's own imported baseline (0.28-0.73 GiB on
the 2-core CPU VM: jax, torch, tensorflow), which the runner's RSS limit also covers: a cell just under the limit by
its estimate can still end `oom`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psutil

from common.clock import now_iso
from harness import status
from harness.cell import Cell
from harness.worker import base_record
from suites.memory import MemoryEstimate, estimate, human_bytes
from suites.registry import get_workload

SUITE_LIMIT = "the suite's memory_limit_mb"
AVAILABLE = "this machine's available memory"
NOT_GATED = "not gated: a cuda cell keeps its training state in GPU memory, which no limit bounds"
SKIP_ERROR_TYPE = "MemoryEstimateExceedsLimit"


@dataclass(frozen=True)
class Admission:
    """A cell's memory estimate, the limit it was held to (None: not gated) and where that limit came from."""

    estimate: MemoryEstimate
    limit_bytes: int | None
    limit_source: str

    @property
    def fits(self) -> bool:
        """The estimate is within the limit (or nothing limits it)."""
        return self.limit_bytes is None or self.estimate.total_bytes <= self.limit_bytes

    def reason(self) -> str:
        """Why a cell that does not fit was skipped: the estimate with its parts, and the limit."""
        limit = human_bytes(self.limit_bytes) if self.limit_bytes is not None else "none"
        return (f"needs an estimated {self.estimate.describe()} > limit {limit} ({self.limit_source}); "
                "left for a bigger machine")

    def to_record(self) -> dict[str, Any]:
        """What records keep under 'memory_estimate': every part, the total, the limit and its source."""
        return {**self.estimate.to_dict(), "limit_bytes": self.limit_bytes, "limit_source": self.limit_source,
                "fits": self.fits}


def cell_estimate(cell: Cell) -> MemoryEstimate:
    """The spec's memory estimate of one cell's training step (its workload, budget, overrides and precision)."""
    return estimate(get_workload(cell.workload).model, cell.task(), cell.precision)


def admit(cell: Cell, memory_limit_bytes: int | None) -> Admission:
    """The cell's estimate against the suite's limit, or against available host memory when the suite sets none."""
    found = cell_estimate(cell)
    if cell.device == "cuda":
        return Admission(found, None, NOT_GATED)
    if memory_limit_bytes:
        return Admission(found, memory_limit_bytes, SUITE_LIMIT)
    return Admission(found, int(psutil.virtual_memory().available), AVAILABLE)


def skipped_record(cell: Cell, admission: Admission) -> dict[str, Any]:
    """The record of a cell skipped for its estimate, made without starting a process."""
    record = base_record(cell)
    record.update({"status": status.SKIPPED, "wall_s": 0.0, "finished_at": now_iso(),
                   "memory_estimate": admission.to_record(),
                   "error": {"type": SKIP_ERROR_TYPE, "message": admission.reason(), "traceback": ""}})
    return record
