"""The parent side: run each cell in its own process with a timeout and a memory limit; classify how it ended.

Before a process starts, the cell's memory estimate from the spec is held to the limit (harness/memory_gate.py): a
cell that cannot fit is recorded `skipped` with the estimate and the limit, and no process is launched; every other
record, `oom` included, carries the estimate under 'memory_estimate'."""

from __future__ import annotations

import json
import os
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from common.clock import now_iso
from common.units import mib
from harness import memory_gate, status
from harness.cell import Cell
from harness.launch import ForkedCell, Launched, SpawnedCell, ZygotePool
from harness.worker import base_record

POLL_S = 0.05
STDERR_TAIL_CHARS = 4000


def _tree_rss(proc: psutil.Process) -> int:
    try:
        procs = [proc, *proc.children(recursive=True)]
        return sum(p.memory_info().rss for p in procs)
    except psutil.Error:
        return 0


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _failure(cell: Cell, kind: str, message: str, stderr: str, wall_s: float) -> dict[str, Any]:
    record = base_record(cell)
    record.update({"status": kind, "wall_s": wall_s, "finished_at": now_iso(),
                   "error": {"type": kind, "message": message, "traceback": stderr[-STDERR_TAIL_CHARS:]}})
    return record


def run_cell(cell: Cell, timeout_s: float, memory_limit_bytes: int | None = None,
             pool: ZygotePool | None = None) -> dict[str, Any]:
    """Run one cell in its own process (forked from `pool`'s zygote, or spawned when pool is None); its record.

    A cell whose memory estimate exceeds the limit (the suite's, else the machine's available memory) is skipped
    without a process."""
    admission = memory_gate.admit(cell, memory_limit_bytes)
    if not admission.fits:
        return memory_gate.skipped_record(cell, admission)
    record = _run_process(cell, timeout_s, memory_limit_bytes, pool)
    record["memory_estimate"] = admission.to_record()
    return record


def _run_process(cell: Cell, timeout_s: float, memory_limit_bytes: int | None,
                 pool: ZygotePool | None) -> dict[str, Any]:
    """Launch the cell's process, watch it and classify how it ended."""
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
        out_path, err_path = Path(tmp, "result.json"), Path(tmp, "stderr.txt")
        start = time.perf_counter()
        try:
            launched: Launched = (ForkedCell(pool.get(cell.backend), cell.to_dict(), out_path, err_path) if pool
                                  else SpawnedCell(cell.to_dict(), out_path, err_path))
        except RuntimeError as exc:
            return _failure(cell, status.CRASHED, str(exc), "", time.perf_counter() - start)
        verdict = _watch(launched, start, timeout_s, memory_limit_bytes)
        code = launched.wait()
        wall_s = time.perf_counter() - start
        stderr = err_path.read_text(errors="replace") if err_path.exists() else ""
        if verdict:
            return _failure(cell, verdict[0], verdict[1], stderr, wall_s)
        if code < 0:
            return _failure(cell, status.CRASHED, f"worker killed by {signal.Signals(-code).name}", stderr, wall_s)
        if not out_path.exists():
            return _failure(cell, status.FAILED, f"worker exited {code} without a result", stderr, wall_s)
        record = json.loads(out_path.read_text())
        record["process_wall_s"] = wall_s
        record["isolation"] = "fork" if pool else "spawn"
        return record


def _watch(launched: Launched, start: float, timeout_s: float,
           memory_limit_bytes: int | None) -> tuple[str, str] | None:
    """Poll until the process ends; kill it (and say why) past the timeout or the memory limit."""
    try:
        watcher = psutil.Process(launched.pid)
    except psutil.Error:
        return None
    while launched.poll() is None:
        verdict = None
        if time.perf_counter() - start > timeout_s:
            verdict = (status.TIMEOUT, f"no result after {timeout_s:.0f} s; killed")
        elif memory_limit_bytes and (rss := _tree_rss(watcher)) > memory_limit_bytes:
            verdict = (status.OOM, f"host memory {mib(rss):.0f} MiB exceeded the limit "
                                   f"{mib(memory_limit_bytes):.0f} MiB; killed")
        if verdict:
            _kill_group(launched.pid)
            return verdict
        time.sleep(POLL_S)
    return None
