"""Noise-aware regression detection: each cell against a robust baseline of its own history.

For every cell and metric: baseline = median of the metric over the last N comparable runs (same machine key and
configuration key). Noise = the larger of the history's spread (1.4826 × MAD / median) and the trials' own spread
(coefficient of variation of this run's and the last run's raw trials). A change is a regression only when it is
worse than max(floor, K × noise), judged on the ratio current / baseline (beyond 1 + threshold either way, so a
noisy cell's wide threshold still catches a 10× slow-down) — and, where raw trials exist, when a Mann-Whitney U test
against the previous run's trials says the two differ (p < 0.05). Fixed thresholds fail on noisy machines
(TorchBench had to raise its 7 % to 30 %); a per-cell threshold stays tight where a cell is stable and loose where
it is not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from reports.compare import raw_trials, significance
from reports.flat import flatten

K_NOISE = 4.0
ALPHA = 0.05


@dataclass(frozen=True)
class Watched:
    """A metric the nightly watches: direction, threshold floor (relative, or absolute for scores), raw trials."""

    metric: str
    higher_is_better: bool
    floor: float
    absolute: bool = False
    raw_path: tuple[str, ...] | None = None


WATCHED = (
    Watched("train_samples_per_s", True, 0.10, raw_path=("timing", "train", "raw")),
    Watched("infer_samples_per_s", True, 0.10, raw_path=("timing", "infer", "raw")),
    Watched("latency_ms_p50", False, 0.15, raw_path=("timing", "latency_ms", "1", "raw_ms")),
    Watched("host_peak_bytes", False, 0.10),  # RSS moves ±5 % run to run (allocator, XLA compile buffers)
    Watched("accuracy", True, 0.02, absolute=True),
    Watched("r2", True, 0.02, absolute=True),
)


def _cv(values: Sequence[float]) -> float:
    arr = np.asarray(values, float)
    return float(arr.std(ddof=1) / arr.mean()) if len(arr) > 1 and arr.mean() else 0.0


def noise(history: Sequence[float], trials: Sequence[Sequence[float]]) -> float:
    """Relative noise of a cell's metric: max of the history's robust spread and the trials' CVs."""
    parts = [_cv(t) for t in trials if len(t) > 1]
    if len(history) >= 3:
        h = np.asarray(history, float)
        med = float(np.median(h))
        if med:
            parts.append(1.4826 * float(np.median(np.abs(h - med))) / abs(med))
    return max(parts, default=0.0)


def judge(watch: Watched, current: float, history: Sequence[float], trials_now: Sequence[float],
          trials_prev: Sequence[float]) -> dict[str, Any]:
    """One cell metric's verdict against its history; `regress_at` is the change beyond which it is a regression."""
    baseline = float(np.median(history))
    if watch.absolute:
        change, threshold = current - baseline, max(watch.floor, K_NOISE * float(np.std(history)))
        worse = change < -threshold if watch.higher_is_better else change > threshold
        better = change > threshold if watch.higher_is_better else change < -threshold
        regress_at = -threshold if watch.higher_is_better else threshold
    else:
        change = (current - baseline) / baseline if baseline else 0.0
        threshold = max(watch.floor, K_NOISE * noise(history, [trials_now, trials_prev]))
        # Judged as a ratio, symmetric in log space: a threshold of 100 % on a throughput means "half or double",
        # so a noisy cell (threshold ≥ 100 %) can still be caught slowing down 10×.
        ratio = current / baseline if baseline else 1.0
        slower, faster = ratio < 1 / (1 + threshold), ratio > 1 + threshold
        worse, better = (slower, faster) if watch.higher_is_better else (faster, slower)
        regress_at = 1 / (1 + threshold) - 1 if watch.higher_is_better else threshold
    p_value = significance(trials_now, trials_prev) if trials_now and trials_prev else None
    if p_value is not None and p_value >= ALPHA:
        worse = better = False
    verdict = "regression" if worse else "improvement" if better else "ok"
    return {"metric": watch.metric, "current": current, "baseline": baseline, "change_rel": change,
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
        for watch in WATCHED:
            value = row.get(watch.metric)
            if value is None:
                continue
            values = [v for v in (flatten(p).get(watch.metric) for p in previous) if v is not None]
            if not values:
                out.append({"key": key, "metric": watch.metric, "current": value, "baseline": None,
                            "change_rel": None, "threshold_rel": None, "verdict": "new", "p_value": None,
                            "history_n": 0})
                continue
            prev_trials = raw_trials(previous[-1], watch.raw_path) if previous else []
            out.append({"key": key, **judge(watch, value, values, raw_trials(record, watch.raw_path), prev_trials)})
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
            point.update({w.metric: row.get(w.metric) for w in WATCHED})
            series.setdefault(record["key"], []).append(point)
    return series
