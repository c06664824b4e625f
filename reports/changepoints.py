"""Change points in one metric's history: E-divisive splits tested with Student's t, then Hunter's merge step.

This is the algorithm of Apache Otava (Fleming et al., "Hunter: Using Change Point Detection to Hunt for Performance
Regressions", ICPE 2023), written on numpy + scipy because the apache-otava 0.8.0 wheel pulls the BigQuery,
PostgreSQL, Slack and gRPC clients and installs numpy 2.2 / scipy 1.16 over this suite's pins. Split: in each
segment take the index where the E-divisive energy statistic q̂ (Matteson & James 2014, α = 1) peaks, keep it when
a two-sided t-test between the two sides gives p below a relaxed level (10 × max_pvalue, as Otava's first pass), and
recurse into both sides. Merge: repeatedly drop the weakest point (largest p, recomputed against its neighbouring
points) until every point has p < max_pvalue and a relative step above min_magnitude.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.stats import ttest_ind_from_stats

from reports.flat import flatten
from reports.machines import machine_of, per_machine_keys
from reports.metrics import watched

MAX_PVALUE = 0.001
"""Otava's default significance for a change point."""


def _ttest(left: np.ndarray, right: np.ndarray) -> float:
    """Two-sided t-test p of two segments (Otava's TTestSignificanceTester: population std, 1.0 for 2 points)."""
    if len(left) + len(right) <= 2:
        return 1.0
    mean_l, mean_r = float(left.mean()), float(right.mean())
    std_l, std_r = float(left.std()), float(right.std())
    if std_l == 0 and std_r == 0:
        return 1.0 if mean_l == mean_r else 0.0
    with np.errstate(all="ignore"):
        p = float(ttest_ind_from_stats(mean_l, std_l, len(left), mean_r, std_r, len(right)).pvalue)
    return 1.0 if np.isnan(p) else p


def qhat(x: Sequence[float]) -> np.ndarray:
    """E-divisive q̂ for every split τ = 1 … n−1 of x (index τ−1 of the result); larger means more different."""
    arr = np.asarray(x, dtype=np.float64)
    n = len(arr)
    dist = np.abs(arr[:, None] - arr[None, :])
    prefix = np.zeros((n + 1, n + 1))
    prefix[1:, 1:] = dist.cumsum(0).cumsum(1)

    def block(r0: int, r1: int, c0: int, c1: int) -> float:
        return float(prefix[r1, c1] - prefix[r0, c1] - prefix[r1, c0] + prefix[r0, c0])

    out = np.zeros(max(n - 1, 0))
    for tau in range(1, n):
        m, k = tau, n - tau
        between = 2.0 * block(0, tau, tau, n) / (m * k)
        within_l = block(0, tau, 0, tau) / (m * (m - 1)) if m > 1 else 0.0  # the full block counts each pair twice
        within_r = block(tau, n, tau, n) / (k * (k - 1)) if k > 1 else 0.0
        out[tau - 1] = m * k / n * (between - within_l - within_r)
    return out


def _split(x: np.ndarray, lo: int, hi: int, max_pvalue: float) -> list[int]:
    """Weak change points inside x[lo:hi], found by recursive E-divisive splits."""
    if hi - lo < 2:
        return []
    tau = lo + 1 + int(np.argmax(qhat(x[lo:hi])))
    if _ttest(x[lo:tau], x[tau:hi]) >= max_pvalue:
        return []
    return [*_split(x, lo, tau, max_pvalue), tau, *_split(x, tau, hi, max_pvalue)]


def _stats(x: np.ndarray, points: list[int], i: int) -> dict[str, float]:
    """Before/after means, relative step and p of the i-th point against its neighbouring points."""
    lo = points[i - 1] if i > 0 else 0
    hi = points[i + 1] if i + 1 < len(points) else len(x)
    left, right = x[lo:points[i]], x[points[i]:hi]
    before, after = float(left.mean()), float(right.mean())
    change = (after - before) / before if before else 0.0
    return {"before": before, "after": after, "change_rel": change, "p_value": _ttest(left, right)}


def change_points(values: Sequence[float], max_pvalue: float = MAX_PVALUE,
                  min_magnitude: float = 0.0) -> list[dict[str, Any]]:
    """[{index, before, after, change_rel, p_value}] of the steps in `values` (index: first value after the step)."""
    x = np.asarray(values, dtype=np.float64)
    first_pass = max_pvalue * 10 if max_pvalue < 0.05 else min(max_pvalue * 2, 1.0)
    points = _split(x, 0, len(x), first_pass)
    while points:
        found = [_stats(x, points, i) for i in range(len(points))]
        weakest = max(range(len(points)), key=lambda i: found[i]["p_value"])
        if found[weakest]["p_value"] < max_pvalue:
            weakest = min(range(len(points)), key=lambda i: abs(found[i]["change_rel"]))
            if abs(found[weakest]["change_rel"]) > min_magnitude:
                return [{"index": idx, **s} for idx, s in zip(points, found, strict=True)]
        del points[weakest]
    return []


def history_changes(runs: Sequence[tuple[Mapping[str, Any], Sequence[dict[str, Any]]]],
                    max_pvalue: float = MAX_PVALUE) -> list[dict[str, Any]]:
    """Change points of every cell's watched metrics over comparable runs (oldest first), each with the run id and
    commit of its first night: [{key, metric, run_id, commit, before, after, change_rel, p_value}]. A cell whose
    records come from several machines has a series per machine, keyed 'cell @ machine' (reports.machines)."""
    oks = [(record, info) for info, records in runs for record in records if record.get("status") == "ok"]
    keys = per_machine_keys(oks)
    series: dict[tuple[str, str], list[tuple[Mapping[str, Any], float]]] = {}
    for record, info in oks:
        row = flatten(record)
        key = keys[(str(record["key"]), machine_of(record, info))]
        for watch in watched():
            if row.get(watch.field) is not None:
                series.setdefault((key, watch.field), []).append((info, float(row[watch.field])))
    floors = {m.field: 0.0 if m.absolute else float(m.floor or 0.0) for m in watched()}
    out = []
    for (key, field), points in series.items():
        for found in change_points([v for _, v in points], max_pvalue, floors[field]):
            info = points[found.pop("index")][0]
            out.append({"key": key, "metric": field, "run_id": info.get("run_id"),
                        "commit": (info.get("provenance") or {}).get("git_sha"), **found})
    return out
