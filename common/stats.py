"""Summaries of repeated measurements: median, IQR, coefficient of variation, bootstrap 95 % CI, percentiles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats


def cv(values: Sequence[float]) -> float:
    """Coefficient of variation (sample std / mean); 0.0 for fewer than 2 values or a zero mean."""
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean()) if arr.size else 0.0
    return float(arr.std(ddof=1) / mean) if arr.size > 1 and mean else 0.0


def summarize(samples: Sequence[float], seed: int = 0) -> dict[str, Any]:
    """Median, IQR, CV and a percentile-bootstrap 95 % CI of the median, with the raw samples kept."""
    arr = np.asarray(samples, dtype=np.float64)
    if arr.size == 0:
        return {"median": None, "iqr": None, "cv": None, "ci_low": None, "ci_high": None, "n": 0, "raw": []}
    median = float(np.median(arr))
    q1, q3 = np.percentile(arr, [25, 75])
    if arr.size >= 3 and np.ptp(arr) > 0:
        boot = stats.bootstrap((arr,), np.median, confidence_level=0.95, n_resamples=2000, method="percentile",
                               random_state=np.random.default_rng(seed))
        ci_low, ci_high = float(boot.confidence_interval.low), float(boot.confidence_interval.high)
    else:
        ci_low = ci_high = median
    return {"median": median, "iqr": float(q3 - q1), "cv": cv(arr), "ci_low": ci_low, "ci_high": ci_high,
            "n": int(arr.size), "raw": [float(v) for v in arr]}


PERCENTILE_MIN_SAMPLES = {"p50": 1, "p90": 10, "p99": 100}
"""Fewest samples a percentile needs to be more than the sample maximum (p99 of 20 calls is the largest of them)."""


def percentiles_ms(latencies_s: Sequence[float]) -> dict[str, float | str | None]:
    """p50 / p90 / p99 of latencies given in seconds, in milliseconds; None with a '<p>_reason' where too few."""
    out: dict[str, float | str | None] = {}
    arr = np.asarray(latencies_s, dtype=np.float64) * 1e3
    for name, need in PERCENTILE_MIN_SAMPLES.items():
        if arr.size >= need:
            out[name] = float(np.percentile(arr, float(name[1:])))
        else:
            out[name] = None
            out[f"{name}_reason"] = f"{arr.size} calls; {name} needs at least {need}"
    return out
