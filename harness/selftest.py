"""Clock self-test: proves a timed region really ended after the device work it times (e.g. JAX async dispatch)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from harness.timing import Syncable, timed_steps

STEPS = 5
SLACK = 0.25
FLOOR_S = 2e-3


class ClockStoppedEarly(RuntimeError):
    """The timer stopped while the device was still working: every throughput figure of the cell would be wrong."""


def clock_selftest(device: Syncable, step: Callable[[], Any], to_host: Callable[[Any], Any]) -> dict[str, Any]:
    """Time STEPS back-to-back steps closed by the device sync, then time fetching the last result."""
    step()
    timed_s, out = timed_steps(device, step, STEPS)
    start = time.perf_counter()
    to_host(out)
    return judge(timed_s, time.perf_counter() - start, STEPS)


def judge(timed_s: float, fetch_after_s: float, steps: int) -> dict[str, Any]:
    """After a correct sync the fetch is a small copy; if the clock stopped early the fetch waits for the unfinished
    work. Passes when fetch_after_s <= max(SLACK * timed_s, FLOOR_S)."""
    return {"ok": fetch_after_s <= max(SLACK * timed_s, FLOOR_S), "timed_s": timed_s, "fetch_after_s": fetch_after_s,
            "steps": steps}


def judge_trials(trial_s: list[float], fetch_after_s: list[float], steps: int) -> dict[str, Any]:
    """The self-test over every timed trial of a throughput measurement: the worst trial decides."""
    results = [judge(t, f, steps) for t, f in zip(trial_s, fetch_after_s, strict=True)]
    return min(results, key=lambda r: (r["ok"], -r["fetch_after_s"]))


def require_clock(result: dict[str, Any], what: str) -> None:
    """Raise ClockStoppedEarly if a self-test failed."""
    if not result["ok"]:
        raise ClockStoppedEarly(f"{what}: the timer stopped {result['fetch_after_s'] * 1e3:.1f} ms before the device "
                                f"finished ({result['timed_s'] * 1e3:.1f} ms timed): the adapter's synchronize() "
                                "does not wait for its work")
