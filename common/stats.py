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


def hierarchical_ci(groups: Sequence[Sequence[float]], seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % CI of the median of per-process medians: resample processes, then trials in each (two-stage bootstrap).

    The bootstrap spread is taken on the log scale, widened by sqrt(P/(P-1)) and a Student t quantile with P-1
    degrees of freedom, since a percentile interval over 3-5 processes cannot cover 95 % (their range covers 75 %
    at P = 3).
    """
    sets = [np.asarray(g, dtype=np.float64) for g in groups if len(g)]
    medians = np.array([np.median(g) for g in sets])
    point = float(np.median(medians)) if medians.size else 0.0
    if len(sets) < 2 or point <= 0 or np.any(medians <= 0):
        return point, point
    rng = np.random.default_rng(seed)
    inner = np.stack([np.median(rng.choice(g, (n, g.size)), axis=1) for g in sets])  # (P, n) trial resamples
    pick = rng.integers(0, len(sets), (n, len(sets)))
    boot = np.median(inner[pick, np.arange(n)[:, None]], axis=1)
    spread = float(np.std(np.log(boot), ddof=1)) * np.sqrt(len(sets) / (len(sets) - 1))
    half = float(stats.t.ppf(0.975, len(sets) - 1)) * spread
    return float(point * np.exp(-half)), float(point * np.exp(half))


def summarize_processes(groups: Sequence[Sequence[float]], seed: int = 0) -> dict[str, Any]:
    """Summary over several processes' trials: median of process medians, hierarchical CI, within and between CV."""
    sets = [list(map(float, g)) for g in groups if len(g)]
    if len(sets) < 2:
        return {**summarize(sets[0] if sets else [], seed), "cv_between": None, "processes": len(sets)}
    pooled = [v for g in sets for v in g]
    medians = [float(np.median(g)) for g in sets]
    low, high = hierarchical_ci(sets, seed)
    q1, q3 = np.percentile(pooled, [25, 75])
    return {"median": float(np.median(medians)), "iqr": float(q3 - q1), "cv": float(np.mean([cv(g) for g in sets])),
            "cv_between": cv(medians), "ci_low": low, "ci_high": high, "n": len(pooled), "raw": pooled,
            "processes": len(sets), "process_medians": medians}
