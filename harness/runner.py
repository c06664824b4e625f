"""The parent side: run each cell in a fresh worker process with a timeout and a memory limit; classify its end."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from harness import status
from harness.cell import Cell
from harness.env import REPO
from harness.worker import base_record, now_iso

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
             env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one cell in a new process session; returns its record, whatever happened to the process."""
    with tempfile.TemporaryDirectory(prefix="bench-cell-") as tmp:
        cell_path, out_path, err_path = Path(tmp, "cell.json"), Path(tmp, "result.json"), Path(tmp, "stderr.txt")
        cell_path.write_text(json.dumps(cell.to_dict()))
        child_env = {**os.environ, **(env or {}), "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
        start = time.perf_counter()
        with err_path.open("w") as err:
            proc = subprocess.Popen([sys.executable, "-m", "harness.worker", str(cell_path), str(out_path)],
                                    cwd=REPO, env=child_env, stdout=subprocess.DEVNULL, stderr=err,
                                    start_new_session=True)
            watcher = psutil.Process(proc.pid)
            verdict: tuple[str, str] | None = None
            while proc.poll() is None:
                elapsed = time.perf_counter() - start
                if elapsed > timeout_s:
                    verdict = (status.TIMEOUT, f"no result after {timeout_s:.0f} s; killed")
                elif memory_limit_bytes and (rss := _tree_rss(watcher)) > memory_limit_bytes:
                    verdict = (status.OOM, f"host memory {rss / 2**20:.0f} MiB exceeded the limit "
                                           f"{memory_limit_bytes / 2**20:.0f} MiB; killed")
                if verdict:
                    _kill_group(proc.pid)
                    proc.wait()
                    break
                time.sleep(POLL_S)
            _kill_group(proc.pid)  # leftovers of the session
        wall_s = time.perf_counter() - start
        stderr = err_path.read_text(errors="replace")
        if verdict:
            return _failure(cell, verdict[0], verdict[1], stderr, wall_s)
        if proc.returncode < 0:
            sig = signal.Signals(-proc.returncode).name
            kind = status.OOM if sig == "SIGKILL" and "memory" in stderr.lower() else status.CRASHED
            return _failure(cell, kind, f"worker killed by {sig}", stderr, wall_s)
        if not out_path.exists():
            return _failure(cell, status.FAILED, f"worker exited {proc.returncode} without a result", stderr, wall_s)
        record = json.loads(out_path.read_text())
        record["process_wall_s"] = wall_s
        return record
