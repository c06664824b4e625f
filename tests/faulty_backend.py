"""A test-only backend: the real torch adapter with one injected fault per mode (declared via BENCH_EXTRA_BACKENDS)."""

from __future__ import annotations

import fcntl
import os
import signal
import time
from typing import Any

from backends.torch.adapter import TorchAdapter

ENTRY = "faulty=tests.faulty_backend:FaultyAdapter:fine|raise|abort|hang|oom"
PACE_ENV = "BENCH_TEST_PACE_MS"
"""'TRAIN,PREDICT': milliseconds every training step and every predict call sleeps first, so a test sets the cell's
speed itself (sleep-dominated, hence steady on a busy machine) instead of racing the machine."""


QUEUE_ENV = "BENCH_TEST_PACE_QUEUE"
"""A file of 'TRAIN,PREDICT' lines: each cell process takes the first line left as its pace (an injected slow
spell for exactly the processes a test names); when none is left, $BENCH_TEST_PACE_MS holds."""
_taken: list[str] = []


def _own_pace() -> str | None:
    """This process's pace: the line it took from the queue file (taken once), else $BENCH_TEST_PACE_MS."""
    queue = os.environ.get(QUEUE_ENV)
    if queue and not _taken:
        with open(queue, "r+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            lines = f.read().split()
            f.seek(0)
            f.truncate()
            f.write("\n".join(lines[1:]))
        _taken.append(lines[0] if lines else "")
    return (_taken[0] if _taken and _taken[0] else None) or os.environ.get(PACE_ENV)


def pace(which: int) -> None:
    """Sleep the paced milliseconds of step kind `which` (0 train, 1 predict), if a pace is set."""
    own = _own_pace()
    if own:
        time.sleep(float(own.split(",")[which]) / 1e3)


class FaultyAdapter(TorchAdapter):
    """Trains with torch, then misbehaves in its first training step as its mode says."""

    name = ENTRY.split("=", 1)[0]
    modes = tuple(ENTRY.rsplit(":", 1)[1].split("|"))  # declared once, in ENTRY; the first is the default
    default_mode = modes[0]

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)  # validates the fault name against `modes`
        self.fault, self.mode = self.mode, "eager"  # the torch internals then run eagerly

    def train_step(self, batch: Any) -> Any:
        if self.fault == "raise":
            raise RuntimeError("injected failure in train_step")
        if self.fault == "abort":
            os.kill(os.getpid(), signal.SIGABRT)
        if self.fault == "hang":
            time.sleep(3600)
        if self.fault == "oom":
            hog = []
            while True:  # grows until the runner's memory limit kills the process
                hog.append(bytearray(64 * 2**20))
                hog[-1][:: 4096] = b"x" * len(hog[-1][:: 4096])
        pace(0)
        return super().train_step(batch)

    def predict(self, x: Any) -> Any:
        pace(1)
        return super().predict(x)
