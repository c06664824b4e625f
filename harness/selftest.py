"""Clock self-test: proves a timed region really ended after the device work it times (e.g. JAX async dispatch)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.timing import Syncable

STEPS = 10
SLACK = 0.25
FLOOR_S = 2e-3


class ClockStoppedEarly(RuntimeError):
    """The timer stopped while the device was still working: every throughput figure of the cell would be wrong."""


def clock_selftest(device: Syncable, step: Callable[[], Any], to_host: Callable[[Any], Any]) -> dict[str, Any]:
    """Time STEPS back-to-back steps closed by the device sync, then time fetching the last result.

    After a correct sync the fetch is a small copy; if the clock stopped early the fetch waits for the unfinished
    work. Passes when fetch_s <= max(SLACK * timed_s, FLOOR_S).
    """
    step()
    start = time.perf_counter()
    out = None
    for _ in range(STEPS):
        out = step()
    device.synchronize(out)
    timed_s = time.perf_counter() - start
    start = time.perf_counter()
    to_host(out)
    fetch_s = time.perf_counter() - start
    ok = fetch_s <= max(SLACK * timed_s, FLOOR_S)
    return {"ok": ok, "timed_s": timed_s, "fetch_after_s": fetch_s, "steps": STEPS}


def require_clock(result: dict[str, Any], what: str) -> None:
    """Raise ClockStoppedEarly if a self-test failed."""
    if not result["ok"]:
        raise ClockStoppedEarly(f"{what}: the timer stopped {result['fetch_after_s'] * 1e3:.1f} ms before the device "
                                f"finished ({result['timed_s'] * 1e3:.1f} ms timed): the adapter's synchronize() "
                                "does not wait for its work")
