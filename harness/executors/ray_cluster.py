"""The Ray executor: one Ray task per cell, each running its cell in a fresh interpreter on the node Ray picks."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator
from typing import Any

from harness.cell import Cell
from harness.executors.base import Admit, ExecutorOptions, Started, lost_record, where
from harness.runner import run_cell
from suites.errors import UsageError

INSTALL = "install the Ray extra on every node: pip install -c constraints.txt -e '.[ray]'"


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray needs Ray; {INSTALL}") from None
    return ray


def cell_task(cell: dict[str, Any], timeout_s: float, limit_bytes: int | None, whole_node: bool) -> dict[str, Any]:
    """On a node: the cell in a new interpreter (as `--isolation spawn` locally), its record naming the node.

    Ray sets OMP_NUM_THREADS to the task's CPUs; a cell that has the node to itself drops it, so each framework
    picks its threads as it does locally (torch would otherwise run on the task's CPU count while XLA ignores it)."""
    ray = _ray()
    if whole_node:
        os.environ.pop("OMP_NUM_THREADS", None)
    record = run_cell(Cell.from_dict(cell), timeout_s, limit_bytes, pool=None)
    context = ray.get_runtime_context()
    record["executor"] = where("ray", node_id=context.get_node_id(), node_ip=ray.util.get_node_ip_address(),
                               omp_num_threads=os.environ.get("OMP_NUM_THREADS"))
    return record


def reachable(address: str, timeout_s: float = 10.0) -> None:
    """UsageError unless something listens at the Ray head's HOST:PORT (ray.init itself retries for minutes)."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s).close()
    except (OSError, ValueError) as exc:
        raise UsageError(f"no Ray head at {address} ({exc}); start one with `ray start --head --port PORT` and "
                         "pass --ray-address HOST:PORT (or omit it to start a local cluster)") from None


def check_ray(options: ExecutorOptions) -> Any:
    """Ray, imported, with the head at --ray-address listening; UsageError otherwise (before any run exists)."""
    ray = _ray()
    if options.ray_address and options.ray_address != "auto":
        reachable(options.ray_address)
    return ray


def smallest_node_cpus(ray: Any) -> float:
    """The CPUs of the smallest live node: asking that many per cell gives each cell a node of its own."""
    cpus = [n["Resources"].get("CPU", 0.0) for n in ray.nodes() if n.get("Alive")]
    return min((c for c in cpus if c > 0), default=1.0)


class RayExecutor:
    """Cells as Ray tasks (no retries: a lost node's cells are recorded `crashed` and `--resume` runs them again).

    By default each task asks for as many CPUs as the smallest node has, so no two cells share a node and time each
    other; `--cpus-per-cell` packs more per node. A `cuda` cell also asks for one GPU."""

    name = "ray"
    remote = True

    def __init__(self, options: ExecutorOptions) -> None:
        self.ray = check_ray(options)
        try:
            self.ray.init(address=options.ray_address, include_dashboard=False, log_to_driver=False,
                          ignore_reinit_error=True, configure_logging=False)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            where_to = options.ray_address or "a new local cluster"
            raise UsageError(f"cannot connect to Ray at {where_to} ({str(exc).splitlines()[0]}); start the head "
                             "with `ray start --head` and pass --ray-address HOST:6379") from None
        self.whole_node = options.cpus_per_cell is None
        self.cpus = options.cpus_per_cell or smallest_node_cpus(self.ray)
        self.remote_fn = self.ray.remote(max_retries=0)(cell_task)
        self.pending: dict[Any, Cell] = {}

    def begin_pass(self, backends: list[str]) -> None:
        """Nothing to prepare: every task starts its own interpreter."""

    def run(self, cells: Iterable[Cell], timeout_s: float, limit_bytes: int | None, admit: Admit,
            started: Started) -> Iterator[tuple[Cell, dict[str, Any]]]:
        pending = self.pending
        try:
            for cell in cells:
                skipped = admit(cell)
                if skipped:
                    yield cell, {**skipped, "executor": where(self.name)}
                    continue
                started(cell)
                gpus = 1 if cell.device == "cuda" else 0
                ref = self.remote_fn.options(num_cpus=self.cpus, num_gpus=gpus).remote(cell.to_dict(), timeout_s,
                                                                                       limit_bytes, self.whole_node)
                pending[ref] = cell
            while pending:
                done, _ = self.ray.wait(list(pending), num_returns=1)
                for ref in done:
                    cell = pending.pop(ref)
                    yield cell, self._collect(ref, cell)
        except (KeyboardInterrupt, GeneratorExit):
            self._cancel()
            raise

    def _cancel(self) -> None:
        """Cancel every task not yet collected (queued ones never start; running ones are killed)."""
        for ref in list(self.pending):
            self.ray.cancel(ref, force=True)
        self.pending.clear()

    def _collect(self, ref: Any, cell: Cell) -> dict[str, Any]:
        """The task's record; a `crashed` one saying the node was lost when Ray lost the task's worker or node."""
        try:
            return dict(self.ray.get(ref))
        except self.ray.exceptions.RayTaskError as exc:  # the harness itself raised on the node
            return lost_record(cell, str(exc), where(self.name), lost=False)
        except self.ray.exceptions.RayError as exc:  # worker, node or object lost
            return lost_record(cell, f"{type(exc).__name__}: {str(exc).splitlines()[0]}", where(self.name))

    def close(self) -> None:
        self._cancel()
        self.ray.shutdown()
