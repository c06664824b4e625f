"""Noise-aware regression detection: each cell against a robust baseline of its own history, replayed night by night.

For every cell and metric the comparable runs (same machine and configuration key) are replayed oldest first, each
cell only over its records from the machine that ran it tonight (the record's machine_key, else its run's: a cluster
run's cells land on several machines). Each
night is judged against the baseline: the last N runs that were not themselves regressed (a regressed run never
enters it), counted from the latest accepted run of that cell. baseline = their median; noise = the largest CV
of their values (between processes) and of their raw trials (within one), never the night being judged. A change is
a regression when log(current / baseline) is worse than max(log(1 + floor), K × noise) — ratios are symmetric in log
space, so a noisy cell's wide threshold still catches a 10× slow-down — and when a Mann-Whitney U test says the two
differ (p < 0.05): at the level of fresh processes where a cell ran in several (tonight's process medians against
the baseline runs', whose spread also enters the noise), else on raw trials. Trials inside one process share its
state (where its threads landed, a slow spell of the VM), so a test on them is over-confident: measured, unchanged
code on an idle VM had processes of one cell at two levels 12 % apart, and the trial-level test called a night whose
median process sat at the low one significant (p < 0.001). A regression stays reported,
"ongoing since" its first night, until the value comes back (a one-night spike clears the next night) or someone
accepts a new baseline (`nightly --accept`). Improvements join the baseline as they come.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from common.stats import cv
from reports.compare import process_trials, raw_trials, significance
from reports.flat import flatten
from reports.machines import machine_of, per_machine_keys
from reports.metrics import Metric, watched

K_NOISE = 4.0
K_PROCESS = 3.0
"""Noise multiples a change must exceed: 4 on one process's trials; 3 where the cell ran in several processes and a
process-level Mann-Whitney test also has to agree (replayed on 8 recorded nightlies, tests/test_nightly_recorded.py:
A/A flags nothing and a halving is caught in every cell on its first night)."""
MIN_HISTORY = 2
"""Comparable earlier runs a cell needs before it can regress: with fewer, its between-run noise is unknown."""
ALPHA = 0.05
WINDOW = 10
"""Baseline runs a night is judged against (the newest unchanged ones)."""
TRIAL_RUNS = 3
"""Newest baseline runs whose raw trials are pooled for the noise and the Mann-Whitney test."""
SKIPPED = frozenset({"skipped", "unsupported"})
"""Statuses that are never a regression: the cell did not run by design."""
ACCEPT_ALL = "*"
"""The acceptance key that applies to every cell."""


def noise(history: Sequence[float], trials: Sequence[Sequence[float]]) -> float:
    """Relative noise of a cell's metric: max of the history's CV (between processes) and the trials' CVs (within
    one). Deliberately not a robust spread: per-process modes (a batch-1 latency at 0.2 or 0.4 ms depending on where
    the threads land) are the noise a nightly must not flag, and a median absolute deviation would hide them."""
    return max([cv(t) for t in trials if len(t) > 1] + [cv(history)], default=0.0)


MEDIAN_SE = 1.2533
"""sqrt(pi / 2): the standard error of a median of n normal values is about 1.2533 × sd / sqrt(n)."""


def baseline_noise(history: Sequence[float], trials: Sequence[float], procs: Sequence[float],
                   n_now: int) -> float:
    """Relative noise of the value judged tonight. A cell run in n_now >= 3 processes: max of the history's CV and
    the spread its baseline's process medians give a median of n_now of them (the figure judged is one); trial
    spread inside a process is in those medians already. Otherwise `noise` of the history and pooled trials."""
    if n_now >= 3 and len(procs) >= 3:
        return max(cv(history), cv(procs) * MEDIAN_SE / math.sqrt(n_now))
    return noise(history, [trials])


def judge(watch: Metric, current: float, history: Sequence[float], trials_now: Sequence[float],
          trials_prev: Sequence[float], prior_noise: float = 0.0, procs_now: Sequence[float] = (),
          procs_prev: Sequence[float] = ()) -> dict[str, Any]:
    """One night's verdict against baseline values `history`, baseline trials `trials_prev` and, for cells run in
    several processes, process medians `procs_now` / `procs_prev` (their noise only, or `prior_noise`, the relative
    noise of the baseline before the last accepted one, when that is larger)."""
    if watch.floor is None:
        raise ValueError(f"metric {watch.field!r} is not watched: give it a floor in reports/metrics.py")
    baseline = float(np.median(history))
    by_process = len(procs_now) >= 3 and len(procs_prev) >= 3
    if watch.absolute:
        change, threshold = current - baseline, max(watch.floor, K_NOISE * float(np.std(history)))
        worse = change < -threshold if watch.higher_is_better else change > threshold
        better = change > threshold if watch.higher_is_better else change < -threshold
        regress_at = -threshold if watch.higher_is_better else threshold
    else:
        change = (current - baseline) / baseline if baseline else 0.0
        # In log space, where a ratio's noise lives: log-threshold = max(log(1 + floor), K × noise), so "4 × 16 %
        # noise" means "beyond ×/÷ e^0.64 ≈ 1.9" and a noisy cell still catches a 10× slow-down.
        k_noise = K_PROCESS if by_process else K_NOISE
        log_threshold = max(math.log1p(watch.floor), k_noise * max(
            baseline_noise(history, trials_prev, procs_prev, len(procs_now)), prior_noise))
        log_ratio = math.log(current / baseline) if baseline > 0 and current > 0 else 0.0
        slower, faster = log_ratio < -log_threshold, log_ratio > log_threshold
        worse, better = (slower, faster) if watch.higher_is_better else (faster, slower)
        threshold = math.expm1(log_threshold)
        regress_at = math.expm1(-log_threshold) if watch.higher_is_better else threshold
    p_value = (significance(procs_now, procs_prev) if by_process else
               significance(trials_now, trials_prev) if trials_now and trials_prev else None)
    if p_value is not None and p_value >= ALPHA:
        worse = better = False
    verdict = "regression" if worse else "improvement" if better else "ok"
    if len(history) < MIN_HISTORY:
        verdict = "baseline"  # one earlier run says nothing about how much this cell moves between processes
    return {"metric": watch.field, "current": current, "baseline": baseline, "change_rel": change,
            "threshold_rel": threshold, "regress_at": regress_at, "verdict": verdict, "p_value": p_value,
            "p_level": "process" if by_process else "trial" if p_value is not None else None, "history_n": len(history)}


def _pooled(trials: Sequence[Sequence[float]], runs: Sequence[int]) -> list[float]:
    """The raw trials (or process medians) of the newest TRIAL_RUNS of `runs`, pooled."""
    return [t for j in runs[-TRIAL_RUNS:] for t in trials[j]]


def process_medians(record: Mapping[str, Any], path: tuple[str, ...] | None) -> list[float]:
    """The median of each process's raw trials at `path` for a cell run in several processes; [] for one."""
    return [float(np.median(g)) for g in process_trials(dict(record), path)]


def replay(watch: Metric, values: Sequence[float], trials: Sequence[Sequence[float]], window: int = WINDOW,
           restart: int = 0, procs: Sequence[Sequence[float]] | None = None) -> list[dict[str, Any]]:
    """Every night's verdict over one cell metric's values (oldest first), with each night's raw trials and process
    medians (`procs`, [] for a night run in one process); the baseline starts again at index `restart` (an accepted
    run), keeping the earlier baseline's relative noise. A regression carries `since`, the index of its first
    night."""
    procs = procs if procs is not None else [[] for _ in values]
    good: list[int] = []
    prior_noise = 0.0
    since: int | None = None
    out: list[dict[str, Any]] = []
    for i, value in enumerate(values):
        if i == restart and good:  # ratios' noise is scale-free: it outlives the level it was measured at
            prior_noise = baseline_noise([values[j] for j in good[-window:]], _pooled(trials, good),
                                         _pooled(procs, good), len(procs[i]))
            good, since = [], None
        base = good[-window:]
        if not base:
            out.append({"metric": watch.field, "current": value, "baseline": None, "change_rel": None,
                        "threshold_rel": None, "verdict": "new", "p_value": None, "history_n": 0})
            good.append(i)
            continue
        found = judge(watch, value, [values[j] for j in base], trials[i], _pooled(trials, base), prior_noise,
                      procs[i], _pooled(procs, base))
        if found["verdict"] == "regression":
            since = i if since is None else since
            found["since"] = since
        else:  # an improvement joins the baseline: it widens nothing that could hide a slow-down for long
            since = None
            good.append(i)
        out.append(found)
    return out


def _start(key: str, run_ids: Sequence[str | None], accepted: Sequence[tuple[str, str]]) -> int:
    """Index of the run a cell's baseline starts at: its (or every cell's) latest accepted run, else 0."""
    starts = [run_ids.index(run) for cell, run in accepted if cell in (key, ACCEPT_ALL) and run in run_ids]
    return max(starts, default=0)


def _where(info: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run id and git SHA of a run info ({} when unknown)."""
    if not info:
        return {}
    return {"since_run": info.get("run_id"), "since_commit": (info.get("provenance") or {}).get("git_sha")}


def _status_verdict(key: str, records: Sequence[Mapping[str, Any] | None],
                    infos: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """A cell that did not finish ok tonight: skipped, failing (never ok since its baseline) or a regression."""
    status = records[-1]["status"] if records[-1] else None
    row: dict[str, Any] = {"key": key, "metric": "status", "current": status, "baseline": "ok", "change_rel": None,
                           "threshold_rel": None, "p_value": None,
                           "history_n": sum(1 for r in records[:-1] if r and r["status"] == "ok")}
    if status in SKIPPED:
        return {**row, "baseline": None, "verdict": "skipped"}
    ran = [i for i, r in enumerate(records) if r and r["status"] not in SKIPPED]
    last_ok = max((i for i in ran if records[i]["status"] == "ok"), default=None)  # type: ignore[index]
    if last_ok is None:
        return {**row, "baseline": None, "verdict": "failing"}
    first_bad = min(i for i in ran if i > last_ok)
    return {**row, "verdict": "regression", **_where(infos[first_bad])}


def verdicts(current: Sequence[dict[str, Any]], history: Sequence[Sequence[dict[str, Any]]],
             infos: Sequence[Mapping[str, Any] | None] | None = None, accepted: Sequence[tuple[str, str]] = (),
             window: int = WINDOW) -> list[dict[str, Any]]:
    """Verdicts for every cell of the current run against the same cells in `history` (oldest first), run on the same
    machine (the record's machine_key, else its run's). `infos`: run infos of the history runs then the current run;
    `accepted`: (cell key or ACCEPT_ALL, accepted run id) pairs."""
    runs = [*history, current]
    infos = list(infos) if infos is not None else [None] * len(runs)
    if len(infos) != len(runs):
        raise ValueError(f"{len(infos)} run infos for {len(runs)} runs (history + current)")
    run_ids = [i.get("run_id") if i else None for i in infos]
    by_key = [{(r["key"], machine_of(r, info)): r for r in run} for run, info in zip(runs, infos, strict=True)]
    out = []
    for record in current:
        key, where = record["key"], (record["key"], machine_of(record, infos[-1]))
        start = _start(key, run_ids, accepted)
        cells = [run.get(where) for run in by_key[start:]]
        if record.get("status") != "ok":
            out.append(_status_verdict(key, cells, infos[start:]))
            continue
        oks = [(i, c) for i, c in enumerate(run.get(where) for run in by_key) if c and c.get("status") == "ok"]
        rows = [flatten(c) for _, c in oks]
        for watch in watched():
            points = [(i, c, row[watch.field]) for (i, c), row in zip(oks, rows, strict=True)
                      if row.get(watch.field) is not None]
            if not points or points[-1][1] is not record:
                continue
            restart = next((n for n, (i, _, _) in enumerate(points) if i >= start), len(points))
            nights = replay(watch, [v for _, _, v in points], [raw_trials(c, watch.raw) for _, c, _ in points],
                            window, restart, [process_medians(c, watch.raw) for _, c, _ in points])
            found = {"key": key, **nights[-1]}
            if "since" in found:
                found.update(_where(infos[points[found.pop("since")][0]]))
            out.append(found)
    return out


FIRST_PASS_FIELDS = ("current", "baseline", "change_rel", "p_value", "verdict")
"""What a confirmed or unconfirmed verdict keeps of the first measurement's."""


def to_confirm(found: Sequence[Mapping[str, Any]]) -> list[str]:
    """Cells whose timing regressed tonight (a failure stays a result: it is not measured again), in order."""
    return list(dict.fromkeys(v["key"] for v in found if v["verdict"] == "regression" and v.get("metric") != "status"))


def confirmed(first: Sequence[Mapping[str, Any]], second: Sequence[Mapping[str, Any]],
              again: Sequence[str]) -> list[dict[str, Any]]:
    """Tonight's verdicts after the cells `again` were measured a second time, later, in fresh processes: a metric of
    such a cell stays a regression only when both measurements found one ('confirmed'); one flagged by a single
    measurement is 'unconfirmed' (never fails the night). Each keeps the first measurement's figures."""
    firsts = {(v["key"], v.get("metric")): v for v in first}
    out = []
    for v in second:
        row = dict(v)
        if row["key"] in again and row.get("metric") != "status":
            was = firsts.get((row["key"], row.get("metric")))
            row["first_pass"] = {k: was.get(k) for k in FIRST_PASS_FIELDS} if was else None
            regressed_first = was is not None and was["verdict"] == "regression"
            if regressed_first and row["verdict"] == "regression":
                row["confirmed"] = True
            elif regressed_first or row["verdict"] == "regression":
                row["verdict"] = "unconfirmed"
                row.pop("since_run", None)
                row.pop("since_commit", None)
        out.append(row)
    return out


def verdict_note(v: Mapping[str, Any]) -> str:
    """'since run X / commit Y' for a regression that began on an earlier night, and what the second measurement
    found: 'confirmed (first pass -31.0 %)' or 'first pass -25.0 % (regression), not repeated' ('' otherwise)."""
    notes = []
    run, commit = v.get("since_run"), v.get("since_commit")
    if v["verdict"] == "regression" and run is not None:
        notes.append(f"since run {run} / commit {(commit or '?')[:12]}")
    first = v.get("first_pass") or {}
    change = first.get("change_rel")
    was = "–" if not isinstance(change, float | int) else f"{change:+.1%}"
    if v.get("confirmed"):
        notes.append(f"confirmed (first pass {was})")
    elif v["verdict"] == "unconfirmed":
        notes.append(f"first pass {was} ({first.get('verdict')}), " + (
            "not repeated" if first.get("verdict") == "regression" else "flagged only when measured again"))
    return "; ".join(notes)


def history_series(runs: Sequence[tuple[dict[str, Any], Sequence[dict[str, Any]]]]) -> dict[str, list[dict[str, Any]]]:
    """cell key → [{run_id, started_at, <watched metrics>}] over runs (oldest first), for trend charts; a cell whose
    records come from several machines has a series per machine, keyed 'cell @ machine' (reports.machines)."""
    oks = [(record, info) for info, records in runs for record in records if record.get("status") == "ok"]
    keys = per_machine_keys(oks)
    series: dict[str, list[dict[str, Any]]] = {}
    for record, info in oks:
        row = flatten(record)
        point = {"run_id": info["run_id"], "started_at": info["started_at"]}
        point.update({m.field: row.get(m.field) for m in watched()})
        series.setdefault(keys[(str(record["key"]), machine_of(record, info))], []).append(point)
    return series
