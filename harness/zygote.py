"""A per-backend fork server: imports the framework once, then forks one fresh child process per cell.

Protocol on stdin/stdout, one JSON object per line:
  runner → zygote  {"cell": {...}, "out": "/path/result.json", "err": "/path/stderr.txt"}
  zygote → runner  {"ready": true}                          once, after the imports
                   {"pid": N}                               the cell's child has started
                   {"pid": N, "returncode": R}              it ended (negative R: killed by signal -R)
The child runs nothing the parent ran: no framework op executes before the fork, so thread pools, allocators and
device contexts are created fresh in each child. Import time is paid once and is not part of any cell.
Host memory: the zygote's RSS after its imports is each cell's baseline (a fresh process with the framework imported);
each child first maps again the file-backed pages the zygote holds (fork does not copy their page-table entries), so
its RSS growth is what the cell adds (harness.monitors.host_memory).
Run as `python -m harness.zygote BACKEND`.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

from harness.launch import die_with_parent


def _child(request: dict[str, Any], baseline_bytes: int, runs: list[tuple[int, int]]) -> None:
    from harness.monitors.host_memory import Baseline, populate

    prefaulted = populate(runs)  # before anything is measured: the child's RSS starts where the zygote's is
    os.setsid()
    die_with_parent()
    err = os.open(request["err"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(err, 2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    from pathlib import Path

    from harness.cell import Cell
    from harness.worker import run, write_json

    baseline = Baseline(baseline_bytes, forked=True, prefaulted_bytes=prefaulted)
    write_json(Path(request["out"]), run(Cell.from_dict(request["cell"]), baseline))


def _send(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def serve(backend: str) -> None:
    die_with_parent()
    from harness.worker import preimport

    preimport(backend)
    from harness.monitors.host_memory import resident_file_runs, rss_bytes

    baseline_bytes = rss_bytes()  # the framework imported, nothing run: each child's host baseline
    runs = resident_file_runs()
    _send({"ready": True})
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                _child(request, baseline_bytes, runs)
                code = 0
            except BaseException:  # noqa: BLE001 - reported through stderr and the exit code
                traceback.print_exc()
            finally:
                sys.stderr.flush()
                os._exit(code)
        _send({"pid": pid})
        _, wait_status = os.waitpid(pid, 0)
        _send({"pid": pid, "returncode": os.waitstatus_to_exitcode(wait_status)})


if __name__ == "__main__":
    serve(sys.argv[1])
