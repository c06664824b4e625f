"""Noise-aware regression detection: each cell against a robust baseline of its own history.

For every cell and metric: baseline = median of the metric over the last N comparable runs (same machine key and
configuration key), judged only once a cell has MIN_HISTORY of them. Noise = the largest coefficient of variation
among the history's values (between processes) and this run's and the last run's raw trials (within one). A change
is a regression only when log(current / baseline) is worse than max(log(1 + floor), K × noise) — ratios are
symmetric in log space, so a noisy cell's wide threshold still catches a 10× slow-down — and, where raw trials
exist, when a Mann-Whitney U test against the previous run's trials says the two differ (p < 0.05). Fixed
thresholds fail on noisy machines (TorchBench had to raise its 7 % to 30 %); a per-cell threshold stays tight where
a cell is stable and loose where it is not.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from common.stats import cv
from reports.compare import raw_trials, significance
from reports.flat import flatten
from reports.metrics import Metric, watched

K_NOISE = 4.0
MIN_HISTORY = 2
"""Comparable earlier runs a cell needs before it can regress: with fewer, its between-run noise is unknown."""
ALPHA = 0.05


def noise(history: Sequence[float], trials: Sequence[Sequence[float]]) -> float:
    """Relative noise of a cell's metric: max of the history's CV (between processes) and the trials' CVs (within
    one). Deliberately not a robust spread: per-process modes (a batch-1 latency at 0.2 or 0.4 ms depending on where
    the threads land) are the noise a nightly must not flag, and a median absolute deviation would hide them."""
    return max([cv(t) for t in trials if len(t) > 1] + [cv(history)], default=0.0)


def judge(watch: Metric, current: float, history: Sequence[float], trials_now: Sequence[float],
          trials_prev: Sequence[float]) -> dict[str, Any]:
    """One cell metric's verdict against its history; `regress_at` is the change beyond which it is a regression."""
    if watch.floor is None:
        raise ValueError(f"metric {watch.field!r} is not watched: give it a floor in reports/metrics.py")
    baseline = float(np.median(history))
    if watch.absolute:
        change, threshold = current - baseline, max(watch.floor, K_NOISE * float(np.std(history)))
        worse = change < -threshold if watch.higher_is_better else change > threshold
        better = change > threshold if watch.higher_is_better else change < -threshold
        regress_at = -threshold if watch.higher_is_better else threshold
    else:
        change = (current - baseline) / baseline if baseline else 0.0
        # In log space, where a ratio's noise lives: log-threshold = max(log(1 + floor), K × noise), so "4 × 16 %
        # noise" means "beyond ×/÷ e^0.64 ≈ 1.9" and a noisy cell still catches a 10× slow-down.
        log_threshold = max(math.log1p(watch.floor), K_NOISE * noise(history, [trials_now, trials_prev]))
        log_ratio = math.log(current / baseline) if baseline > 0 and current > 0 else 0.0
        slower, faster = log_ratio < -log_threshold, log_ratio > log_threshold
        worse, better = (slower, faster) if watch.higher_is_better else (faster, slower)
        threshold = math.expm1(log_threshold)
        regress_at = math.expm1(-log_threshold) if watch.higher_is_better else threshold
    p_value = significance(trials_now, trials_prev) if trials_now and trials_prev else None
    if p_value is not None and p_value >= ALPHA:
        worse = better = False
    verdict = "regression" if worse else "improvement" if better else "ok"
    if len(history) < MIN_HISTORY:
        verdict = "baseline"  # one earlier run says nothing about how much this cell moves between processes
    return {"metric": watch.field, "current": current, "baseline": baseline, "change_rel": change,
            "threshold_rel": threshold, "regress_at": regress_at, "verdict": verdict, "p_value": p_value,
            "history_n": len(history)}


def verdicts(current: Sequence[dict[str, Any]], history: Sequence[Sequence[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Verdicts for every ok cell of the current run against the same cells in `history` (oldest first)."""
    past = [{r["key"]: r for r in run if r.get("status") == "ok"} for run in history]
    out = []
    for record in current:
        key = record["key"]
        if record.get("status") != "ok":
            out.append({"key": key, "metric": "status", "current": record.get("status"), "baseline": "ok",
                        "change_rel": None, "threshold_rel": None, "verdict": "regression", "p_value": None,
                        "history_n": sum(key in p for p in past)})
            continue
        row = flatten(record)
        previous = [p[key] for p in past if key in p]
        for watch in watched():
            value = row.get(watch.field)
            if value is None:
                continue
            values = [v for v in (flatten(p).get(watch.field) for p in previous) if v is not None]
            if not values:
                out.append({"key": key, "metric": watch.field, "current": value, "baseline": None,
                            "change_rel": None, "threshold_rel": None, "verdict": "new", "p_value": None,
                            "history_n": 0})
                continue
            prev_trials = raw_trials(previous[-1], watch.raw) if previous else []
            out.append({"key": key, **judge(watch, value, values, raw_trials(record, watch.raw), prev_trials)})
    return out


def history_series(runs: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    """cell key → [{run_id, started_at, <watched metrics>}] over runs (oldest first), for trend charts."""
    series: dict[str, list[dict[str, Any]]] = {}
    for info, records in runs:
        for record in records:
            if record.get("status") != "ok":
                continue
            row = flatten(record)
            point = {"run_id": info["run_id"], "started_at": info["started_at"]}
            point.update({m.field: row.get(m.field) for m in watched()})
            series.setdefault(record["key"], []).append(point)
    return series
