"""The Slurm executor (submitit): one job array per pass, one array task per cell, each in a fresh interpreter."""

from __future__ import annotations

import math
import shutil
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from common.machine import REPO
from harness.cell import Cell
from harness.executors.base import Admit, ExecutorOptions, Started, lost_record, where
from harness.runner import run_cell
from suites.errors import UsageError

POLL_S = 1.0
SLACK_MIN = 5
"""Minutes a job gets beyond the cell's own timeout: the interpreter's start and the record's return."""
LOST_STATES = ("NODE_FAIL", "BOOT_FAIL", "PREEMPTED", "CANCELLED", "DEADLINE", "OUT_OF_MEMORY", "TIMEOUT")
"""Slurm job states in which the cell did not end on its own: recorded as lost, so `--resume` runs it again."""


def cell_job(cell: dict[str, Any], timeout_s: float, limit_bytes: int | None) -> dict[str, Any]:
    """On a compute node: the cell in a new interpreter (as `--isolation spawn` locally), naming the node and job."""
    import submitit

    record = run_cell(Cell.from_dict(cell), timeout_s, limit_bytes, pool=None)
    job = submitit.JobEnvironment()
    record["executor"] = where("slurm", job_id=job.job_id, array_job_id=job.array_job_id,
                               array_task_id=job.array_task_id)
    return record


def check_slurm(options: ExecutorOptions) -> Any:
    """submitit, imported; UsageError without it, or without `sbatch` when the jobs go to a real Slurm."""
    try:
        import submitit
    except ImportError:
        raise UsageError("--executor slurm needs submitit; pip install -c constraints.txt -e '.[slurm]'") from None
    if options.slurm_cluster == "slurm" and shutil.which("sbatch") is None:
        raise UsageError("--executor slurm: no `sbatch` on PATH; run on a Slurm login node, or add --slurm-cluster "
                         "local to run the jobs as local processes")
    return submitit


class SlurmExecutor:
    """Cells as the tasks of a job array; `slurm_cluster='local'` runs the same jobs as local processes (submitit's
    local executor: CI and a laptop), `slurm_parallel` of them at a time."""

    name = "slurm"
    remote = True

    def __init__(self, options: ExecutorOptions) -> None:
        self.submitit = check_slurm(options)
        self.options = options
        self.folder = Path(options.slurm_folder or REPO / "results" / "slurm") / "%j"
        self.parallel = options.slurm_parallel or (1 if options.slurm_cluster == "local" else 256)
        self.pending: dict[Any, Cell] = {}

    def _executor(self, timeout_s: float, gpus: int) -> Any:
        ex = self.submitit.AutoExecutor(folder=self.folder, cluster=self.options.slurm_cluster)
        time_min = self.options.slurm_time_min or math.ceil(timeout_s / 60) + SLACK_MIN
        params: dict[str, Any] = {"timeout_min": time_min, "name": "bench-cell", "gpus_per_node": gpus}
        if self.options.slurm_cluster == "slurm":
            params.update(slurm_partition=self.options.slurm_partition, slurm_array_parallelism=self.parallel,
                          slurm_additional_parameters=dict(self.options.slurm_options) or None)
        ex.update_parameters(**params)
        return ex

    def begin_pass(self, backends: list[str]) -> None:
        """Nothing to prepare: every job starts its own interpreter."""

    def run(self, cells: Iterable[Cell], timeout_s: float, limit_bytes: int | None, admit: Admit,
            started: Started) -> Iterator[tuple[Cell, dict[str, Any]]]:
        todo: list[Cell] = []
        for cell in cells:
            skipped = admit(cell)
            if skipped:
                yield cell, {**skipped, "executor": where(self.name)}
            else:
                todo.append(cell)
        wave = len(todo) if self.options.slurm_cluster == "slurm" else self.parallel
        for start in range(0, len(todo), wave):
            yield from self._array(todo[start:start + wave], timeout_s, limit_bytes, started)

    def _array(self, cells: list[Cell], timeout_s: float, limit_bytes: int | None,
               started: Started) -> Iterator[tuple[Cell, dict[str, Any]]]:
        """Submit `cells` as one job array (split by GPU need) and hand back each record as its job ends."""
        pending = self.pending
        try:
            for gpus in sorted({1 if c.device == "cuda" else 0 for c in cells}):
                group = [c for c in cells if (1 if c.device == "cuda" else 0) == gpus]
                ex = self._executor(timeout_s, self.options.slurm_gpus_per_task or gpus)
                jobs = ex.map_array(cell_job, [c.to_dict() for c in group], [timeout_s] * len(group),
                                    [limit_bytes] * len(group))
                for cell, job in zip(group, jobs, strict=True):
                    started(cell)
                    pending[job] = cell
            while pending:
                for job in [j for j in pending if j.done()]:
                    yield pending[job], self._collect(job, pending.pop(job))
                if pending:
                    time.sleep(POLL_S)
        except (KeyboardInterrupt, GeneratorExit):
            self.close()
            raise

    def _collect(self, job: Any, cell: Cell) -> dict[str, Any]:
        """The job's record; `crashed` (lost when Slurm ended the job, kept when the job itself failed)."""
        info = where(self.name, job_id=str(job.job_id))
        try:
            return dict(job.result())
        except self.submitit.core.utils.UncompletedJobError as exc:
            return lost_record(cell, f"job {job.job_id} {job.state}: {str(exc).splitlines()[0]}", info)
        except self.submitit.core.utils.FailedJobError as exc:
            lost = any(s in str(job.state) for s in LOST_STATES)
            return lost_record(cell, f"job {job.job_id} {job.state}: {exc}", info, lost=lost)

    def close(self) -> None:
        """Cancel every job not yet collected (queued array tasks never start; running ones are stopped)."""
        for job in list(self.pending):
            job.cancel(check=False)
        self.pending.clear()
