"""What every executor offers the session: run a pass of cells, hand back each record as its cell ends."""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from common.clock import now_iso
from harness import status
from harness.cell import Cell
from harness.worker import base_record

Admit = Callable[[Cell], "dict[str, Any] | None"]
"""The record of a cell that must not start (memory or time budget), decided just before it would; None: run it."""
Started = Callable[[Cell], None]
"""Told when a cell is handed to the executor (started locally, queued on a cluster)."""

NODE_LOST = "node lost"


@dataclass(frozen=True)
class ExecutorOptions:
    """How to reach the machines: a Ray cluster's address, or a Slurm partition, time limit and sbatch options."""

    name: str = "local"
    isolation: str = "fork"
    ray_address: str | None = None
    cpus_per_cell: float | None = None
    slurm_cluster: str = "slurm"
    slurm_partition: str | None = None
    slurm_time_min: int | None = None
    slurm_gpus_per_task: int | None = None
    slurm_options: dict[str, str] = field(default_factory=dict)
    slurm_folder: str | None = None
    slurm_parallel: int | None = None


class Executor(Protocol):
    name: str
    remote: bool
    """True when cells run on other machines: the host's own memory does not gate them here (each node gates its
    own cells before starting them)."""

    def begin_pass(self, backends: list[str]) -> None:
        """Prepare a pass over cells of these backends (the local executor's fresh zygotes)."""

    def run(self, cells: Iterable[Cell], timeout_s: float, limit_bytes: int | None, admit: Admit,
            started: Started) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Each cell with its record, in the order they end; Ctrl-C cancels what has not started."""

    def close(self) -> None:
        """Release the executor's processes or cluster connection."""


def lost_record(cell: Cell, reason: str, executor: dict[str, Any], lost: bool = True) -> dict[str, Any]:
    """The record of a cell whose worker or node died under it (`lost`: `crashed`, run again by `--resume`), or
    whose executor task failed for another reason (`crashed`, kept)."""
    record = base_record(cell)
    message = f"{NODE_LOST}: {reason}" if lost else f"executor task failed: {reason}"
    record.update({"status": status.CRASHED, "finished_at": now_iso(), "executor": executor,
                   "error": {"type": status.CRASHED, "message": message[:2000], "node_lost": lost,
                             "traceback": reason[-4000:]}})
    return record


def node_lost(record: dict[str, Any] | None) -> bool:
    """The record is of a cell its node or worker lost (not the cell's own failure)."""
    error = (record or {}).get("error") or {}
    return bool(error.get("node_lost"))


def where(name: str, **extra: Any) -> dict[str, Any]:
    """What a record keeps about how it was executed: the executor's name, this host and anything else."""
    return {"name": name, "hostname": platform.node(), **extra}
