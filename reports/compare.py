"""Noise-aware comparisons from raw trials: backends against a baseline backend, and a run against another run."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

from reports.flat import dig, flatten
from reports.metrics import Metric, compared

ALPHA = 0.05


def raw_trials(record: dict[str, Any], path: tuple[str, ...] | None) -> list[float]:
    """The raw trial values at `path` in a record ([] when absent)."""
    data = dig(record, *path) if path else None
    return [float(v) for v in data] if isinstance(data, list) else []


def ratio_ci(a: Sequence[float], b: Sequence[float], seed: int = 0, n: int = 2000) -> tuple[float, float, float]:
    """median(a) / median(b) with a percentile-bootstrap 95 % CI (trials resampled independently)."""
    x, y = np.asarray(a, float), np.asarray(b, float)
    rng = np.random.default_rng(seed)
    boot = np.median(rng.choice(x, (n, len(x))), axis=1) / np.median(rng.choice(y, (n, len(y))), axis=1)
    return float(np.median(x) / np.median(y)), float(np.percentile(boot, 2.5)), float(np.percentile(boot, 97.5))


def process_trials(record: dict[str, Any], path: tuple[str, ...] | None) -> list[list[float]]:
    """Each ok process's raw trials at `path` for a cell run in several processes; [] for one process."""
    procs = [p for p in record.get("repeats") or [] if p.get("status") == "ok"]
    groups = [raw_trials(p, path) for p in procs]
    return groups if len(groups) > 1 and all(groups) else []


def _log_boot(groups: Sequence[Sequence[float]], rng: np.random.Generator, n: int) -> np.ndarray:
    """Bootstrap log medians: of the trials for one process; of process medians, processes then trials, for more."""
    sets = [np.asarray(g, float) for g in groups]
    inner = np.stack([np.median(rng.choice(g, (n, g.size)), axis=1) for g in sets])
    if len(sets) == 1:
        return np.log(inner[0])
    pick = rng.integers(0, len(sets), (n, len(sets)))
    return np.log(np.median(inner[pick, np.arange(n)[:, None]], axis=1))


def ratio_ci_processes(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]], seed: int = 0,
                       n: int = 2000) -> tuple[float, float, float]:
    """Ratio of medians of process medians with a hierarchical-bootstrap 95 % CI (t-widened, as common.stats)."""
    rng = np.random.default_rng(seed)
    point = float(np.median([np.median(g) for g in a]) / np.median([np.median(g) for g in b]))
    var, dfs = 0.0, []
    for groups in (a, b):
        p = len(groups)
        var += float(np.var(_log_boot(groups, rng, n), ddof=1)) * (p / (p - 1) if p > 1 else 1.0)
        dfs += [p - 1] if p > 1 else []
    half = float(stats.t.ppf(0.975, min(dfs))) * np.sqrt(var) if dfs else 1.96 * np.sqrt(var)
    return point, float(point * np.exp(-half)), float(point * np.exp(half))


def process_significance(a: Sequence[Sequence[float]], b: Sequence[Sequence[float]]) -> float | None:
    """Welch t-test p-value on the log process medians (None with fewer than 2 processes a side)."""
    if len(a) < 2 or len(b) < 2:
        return None
    x, y = (np.log([np.median(g) for g in side]) for side in (a, b))
    if np.ptp(np.concatenate([x, y])) == 0:
        return 1.0
    if np.ptp(x) == 0 and np.ptp(y) == 0:
        return 0.0
    return float(stats.ttest_ind(x, y, equal_var=False).pvalue)


def significance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Mann-Whitney U p-value of two sets of trials (None with fewer than 3 each)."""
    if len(a) < 3 or len(b) < 3:
        return None
    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(stats.mannwhitneyu(a, b, alternative="two-sided").pvalue)


def metric_entry(metric: Metric, cur: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, Any]:
    """One metric of cell `cur` against `ref` (each {record, row}): values, ratio cur/ref with its 95 % CI, p-value,
    significance and whether cur is better (ratio None when either value is missing)."""
    value, base = cur["row"].get(metric.field), ref["row"].get(metric.field) if ref else None
    out: dict[str, Any] = {"metric": metric.field, "value": value, "baseline": base, "ratio": None, "ci_low": None,
                           "ci_high": None, "p_value": None, "significant": None, "better": None}
    if value is None or base is None or base == 0:
        return out
    cur_raw, ref_raw = raw_trials(cur["record"], metric.raw), raw_trials(ref["record"], metric.raw)
    cur_procs, ref_procs = process_trials(cur["record"], metric.raw), process_trials(ref["record"], metric.raw)
    if cur_procs or ref_procs:  # between-process noise: process medians, hierarchical bootstrap
        cur_g, ref_g = cur_procs or [cur_raw], ref_procs or [ref_raw]
        if all(cur_g) and all(ref_g):
            out["ratio"], out["ci_low"], out["ci_high"] = ratio_ci_processes(cur_g, ref_g)
            out["p_value"] = process_significance(cur_g, ref_g)
            out["significant"] = out["p_value"] is not None and out["p_value"] < ALPHA
        else:
            out["ratio"] = value / base
    elif cur_raw and ref_raw:
        out["ratio"], out["ci_low"], out["ci_high"] = ratio_ci(cur_raw, ref_raw)
        out["p_value"] = significance(cur_raw, ref_raw)
        out["significant"] = out["p_value"] is not None and out["p_value"] < ALPHA
    else:
        out["ratio"] = value / base
    if out["ratio"] is not None and out["ratio"] != 1.0:
        out["better"] = (out["ratio"] > 1) == metric.higher_is_better
    return out


def _cells(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"record": r, "row": flatten(r)} for r in records]


def compare_backends(records: Sequence[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Per ok cell: every metric with its ratio to the baseline backend's cell of the same workload (and the same
    precision where the baseline has one)."""
    cells = [c for c in _cells(records) if c["row"]["status"] == "ok"]
    out = []
    for cell in cells:
        row = cell["row"]
        refs = [c for c in cells if c["row"]["workload"] == row["workload"] and c["row"]["backend"] == baseline]
        same_precision = [c for c in refs if c["row"]["precision"] == row["precision"]]  # bf16 against bf16
        ref = (same_precision or refs or [None])[0]
        metrics = [metric_entry(metric, cell, ref) for metric in compared()]
        out.append({"workload": row["workload"], "backend": row["backend"], "mode": row["mode"],
                    "precision": row["precision"], "is_baseline": ref is cell, "metrics": metrics})
    return out


def compare_runs(current: Sequence[dict[str, Any]], previous: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The same cells of two runs: each metric's ratio new/old, its CI and significance; improvements/regressions."""
    old = {c["record"]["key"]: c for c in _cells(previous) if c["row"]["status"] == "ok"}
    out = []
    for cell in _cells(current):
        key = cell["record"]["key"]
        if cell["row"]["status"] != "ok" or key not in old:
            out.append({"key": key, "status": cell["row"]["status"], "metrics": [], "new": key not in old})
            continue
        metrics = [metric_entry(metric, cell, old[key]) for metric in compared()]
        out.append({"key": key, "status": "ok", "metrics": metrics, "new": False})
    return out


def best_values(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], float]:
    """(workload, metric) → the best value among the compared cells."""
    best: dict[tuple[str, str], float] = {}
    higher = {m.field: m.higher_is_better for m in compared()}
    for row in rows:
        for m in row["metrics"]:
            if m["value"] is None:
                continue
            key = (row["workload"], m["metric"])
            if key not in best or (m["value"] > best[key]) == higher[m["metric"]]:
                best[key] = m["value"]
    return best
