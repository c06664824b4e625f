"""Wall-clock helpers: the one UTC timestamp format, and the warm-up + best-of loop of peak measurements."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second: every timestamp the suite stores."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def best_seconds(run: Callable[[], object], repeats: int = 5, warmup: int = 1) -> float:
    """The fastest of `repeats` timed calls of `run` after `warmup` untimed ones.

    `run` must finish its work before it returns (synchronise the device inside it)."""
    for _ in range(warmup):
        run()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best
