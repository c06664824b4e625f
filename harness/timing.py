"""Device-synchronised timing of repeated steps: warm-up, calibrated trials, single-call latencies."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol


class Syncable(Protocol):
    def synchronize(self, value: Any = None) -> None: ...


@dataclass(frozen=True)
class TrialPlan:
    """How a throughput figure is measured: warm-up steps, trial count and minimum seconds per trial; and whether
    the cell also times an idiomatic epoch and asks the framework to count FLOPs (both cost whole extra steps)."""

    warmup_steps: int = 5
    trials: int = 5
    min_trial_s: float = 0.5
    max_steps_per_trial: int = 2000
    min_steps_per_trial: int = 3
    latency_calls: int = 100
    idiomatic_epoch: bool = True
    count_flops: bool = True


def timed_call(device: Syncable, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds for one call, the clock stopped only after the device finished its result."""
    start = time.perf_counter()
    out = fn()
    device.synchronize(out)
    return time.perf_counter() - start, out


def timed_steps(device: Syncable, step: Callable[[], Any], steps: int) -> tuple[float, Any]:
    """Seconds for `steps` back-to-back calls, synchronised once after the last; and the last result."""
    start = time.perf_counter()
    out = None
    for _ in range(steps):
        out = step()
    device.synchronize(out)
    return time.perf_counter() - start, out


def warmup_and_calibrate(device: Syncable, step: Callable[[], Any], plan: TrialPlan) -> tuple[list[float], int]:
    """Per-call warm-up times and the steps per trial that make a trial last at least `min_trial_s`."""
    warm = [timed_call(device, step)[0] for _ in range(max(1, plan.warmup_steps))]
    per_step = max(min(warm[-3:]), 1e-7)
    steps = int(min(plan.max_steps_per_trial, max(plan.min_steps_per_trial, math.ceil(plan.min_trial_s / per_step))))
    return warm, steps


def throughput_trials(device: Syncable, step: Callable[[], Any], samples_per_step: int, plan: TrialPlan,
                      on_phase: Callable[[str], None] | None = None, label: str = "train",
                      to_host: Callable[[Any], Any] | None = None) -> dict[str, Any]:
    """Warm up, then `plan.trials` timed trials of calibrated length; samples/s per trial.

    With `to_host`, each trial's last result is fetched right after its clock stopped and the fetch is timed: the
    clock self-test (harness.selftest) of exactly the timer that produced the figures.
    """
    if on_phase:
        on_phase(f"warmup_{label}")
    warm, steps = warmup_and_calibrate(device, step, plan)
    if on_phase:
        on_phase(label)
    seconds, fetches = [], []
    for _ in range(plan.trials):
        elapsed, out = timed_steps(device, step, steps)
        seconds.append(elapsed)
        if to_host is not None:
            start = time.perf_counter()
            to_host(out)
            fetches.append(time.perf_counter() - start)
    return {"warmup_s": warm, "steps_per_trial": steps, "trial_s": seconds, "fetch_after_s": fetches,
            "samples": steps * samples_per_step * plan.trials,
            "samples_per_s": [steps * samples_per_step / s for s in seconds]}


def latencies(device: Syncable, call: Callable[[], Any], plan: TrialPlan) -> list[float]:
    """Seconds of `plan.latency_calls` single synchronised calls after a warm-up."""
    for _ in range(max(1, plan.warmup_steps)):
        timed_call(device, call)
    return [timed_call(device, call)[0] for _ in range(plan.latency_calls)]
