"""Turn a suite and the CLI's overrides into the list of cells to run (validated before anything starts)."""

from __future__ import annotations

from dataclasses import dataclass

from backends.base import PRECISIONS
from backends.registry import BACKENDS, check_mode, get_backend
from harness.cell import Cell
from suites.errors import UsageError
from suites.registry import get_workload
from suites.suite import Suite


@dataclass(frozen=True)
class Overrides:
    """What the command line narrows or changes in a suite."""

    workloads: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    precisions: tuple[str, ...] | None = None
    epochs: int | None = None
    batch_size: int | None = None
    learning_rate: float | None = None
    device: str = "auto"
    repeats: int | None = None


def plan_repeats(suite: Suite, over: Overrides) -> int:
    """Fresh processes per cell: the command line's --repeats, else the suite's."""
    repeats = over.repeats if over.repeats is not None else suite.repeats
    if not isinstance(repeats, int) or repeats < 1:
        raise UsageError(f"repeats must be a positive integer, got {repeats!r}")
    return repeats


def plan_cells(suite: Suite, over: Overrides) -> list[Cell]:
    """Cells in workload-major order; unknown names raise UsageError before any cell runs."""
    workloads = over.workloads or suite.workloads
    # a suite's () means every built-in backend; one that is not installed gives skipped cells saying what to install
    backends = over.backends or suite.backends or tuple(BACKENDS)
    precisions = over.precisions or suite.precisions
    for name in workloads:
        get_workload(name)
    for name in backends:
        get_backend(name)
    for p in precisions:
        if p not in PRECISIONS:
            raise UsageError(f"unknown precision {p!r}; known: {', '.join(PRECISIONS)}")
    if over.modes:
        known = {m for b in backends for m in get_backend(b).modes}
        bad = [m for m in over.modes if m not in known]
        if bad:
            raise UsageError(f"unknown mode {bad[0]!r} for backends {', '.join(backends)}; "
                             f"known: {', '.join(sorted(known))}")
    cells = []
    for workload in workloads:
        for backend in backends:
            info = get_backend(backend)
            modes = suite.modes.get(backend, (info.default_mode,))
            if over.modes:
                modes = tuple(m for m in over.modes if m in info.modes)
            for mode in modes:
                check_mode(backend, mode)
                for precision in precisions:
                    cells.append(Cell(workload, backend, mode, precision, suite.budget, over.epochs,
                                      over.batch_size, over.learning_rate, over.device, suite.latency_batch_sizes,
                                      suite.timing))
    return cells
