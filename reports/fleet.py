"""The fleet view's numbers: the same cells measured on several machines, each against a baseline machine.

Records of one or more runs are grouped by cell key and by the machine that ran them (reports.machines). Each
machine's cell is compared with the baseline machine's cell of the same key, metric by metric, with the noise-aware
ratio of reports.compare (bootstrap 95 % CI of the ratio of medians, Mann-Whitney U on the raw trials). Rendering is
in reports.fleet_view and reports.html_machines.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reports.compare import metric_entry
from reports.flat import flatten
from reports.machines import Pair, describe_machine, machine_labels, machine_of
from reports.metrics import MACHINES, Metric, shown

Run = tuple[Mapping[str, Any], Sequence[Mapping[str, Any]]]
"""(run info, its cell records)."""
SPEED_UNITS = frozenset({"samples/s", "tokens/s", "ms", "s"})
"""Units whose better/worse is called faster/slower."""


def _pairs(runs: Sequence[Run]) -> list[Pair]:
    return [(record, info) for info, records in runs for record in records]


def machines(runs: Sequence[Run]) -> list[dict[str, Any]]:
    """Every machine the runs' records came from, in order of appearance: key, label, description, cell count and
    the runs it has cells in."""
    pairs = _pairs(runs)
    labels = machine_labels(pairs)
    out: dict[str | None, dict[str, Any]] = {}
    for record, info in pairs:
        key = machine_of(record, info)
        if key not in out:
            out[key] = {"key": key, "label": labels[key], **describe_machine(record, info), "cells": 0, "runs": []}
        out[key]["cells"] += 1
        run_id = (info or {}).get("run_id")
        if run_id not in out[key]["runs"]:
            out[key]["runs"].append(run_id)
    return list(out.values())


def find_machine(found: Sequence[Mapping[str, Any]], text: str) -> Mapping[str, Any] | None:
    """The machine whose label, hostname or machine key is `text` (None when none is, or a hostname is ambiguous)."""
    exact = [m for m in found if text in (m["label"], m["key"])]
    hosts = [m for m in found if m["hostname"] == text]
    return exact[0] if exact else hosts[0] if len(hosts) == 1 else None


def call(metric: Metric, m: Mapping[str, Any]) -> str:
    """'same' (not significant, or equal), 'faster'/'slower' (speed metrics), 'better'/'worse' (others); '' without a
    ratio, or without raw trials to test a difference."""
    if m["ratio"] is None:
        return ""
    if m["significant"] is False or m["better"] is None:
        return "same"
    if m["significant"] is None:
        return ""
    speed = metric.unit in SPEED_UNITS
    return ("faster" if speed else "better") if m["better"] else ("slower" if speed else "worse")


def _newest(pairs: Sequence[Pair]) -> dict[tuple[str, str | None], Pair]:
    """(cell key, machine key) → its newest record (by started_at; a later run in the list wins a tie)."""
    chosen: dict[tuple[str, str | None], Pair] = {}
    for record, info in pairs:
        where = (str(record.get("key")), machine_of(record, info))
        when = str(record.get("started_at") or (info or {}).get("started_at") or "")
        old = chosen.get(where)
        if old is None or when >= str(old[0].get("started_at") or (old[1] or {}).get("started_at") or ""):
            chosen[where] = (record, info)
    return chosen


def _side(pair: Pair | None) -> dict[str, Any] | None:
    return {"record": dict(pair[0]), "row": flatten(dict(pair[0]))} if pair else None


def _entry(metric: Metric, cur: dict[str, Any], ref: dict[str, Any] | None, is_baseline: bool) -> dict[str, Any]:
    """metric_entry plus the value's own CI (where the view shows one) and the call against the baseline."""
    m = metric_entry(metric, cur, ref if ref and ref["row"]["status"] == "ok" else None)
    with_ci = MACHINES in metric.ci_in
    m["value_ci_low"] = cur["row"].get(f"{metric.field}_ci_low") if with_ci else None
    m["value_ci_high"] = cur["row"].get(f"{metric.field}_ci_high") if with_ci else None
    m["call"] = "baseline" if is_baseline else call(metric, m)
    return m


def compare_machines(runs: Sequence[Run], baseline: str | None = None) -> dict[str, Any]:
    """The runs' cells by machine: {baseline (label), machines (baseline first), metrics (fields shown), cells: [{key,
    workload, backend, mode, precision, machines: {label: None (not run there) | {status, run_id, is_baseline,
    metrics: [metric_entry + value_ci_low/high + call]}}]}. `baseline`: a machine key (default: the first)."""
    found = machines(runs)
    if not found:
        return {"baseline": None, "machines": [], "metrics": [], "cells": []}
    base = next((m for m in found if m["key"] == baseline), found[0])
    found = [base, *(m for m in found if m is not base)]
    chosen = _newest(_pairs(runs))
    metrics = shown(MACHINES)
    cells = []
    for key in dict.fromkeys(k for k, _ in chosen):
        ref = _side(chosen.get((key, base["key"])))
        row: dict[str, Any] = {"key": key, "machines": {}}
        for machine in found:
            cur = _side(chosen.get((key, machine["key"])))
            if cur is None:
                row["machines"][machine["label"]] = None
                continue
            row.update({k: cur["row"][k] for k in ("workload", "backend", "mode", "precision")})
            ok = cur["row"]["status"] == "ok"
            row["machines"][machine["label"]] = {
                "status": cur["row"]["status"], "run_id": (chosen[(key, machine["key"])][1] or {}).get("run_id"),
                "is_baseline": machine is base,
                "metrics": [_entry(m, cur, ref, machine is base) for m in metrics] if ok else []}
        cells.append(row)
    visible = [m.field for m in metrics if any(e["metric"] == m.field and e["value"] is not None for c in cells
                                               for side in c["machines"].values() if side for e in side["metrics"])]
    return {"baseline": base["label"], "machines": found, "metrics": visible, "cells": cells}
