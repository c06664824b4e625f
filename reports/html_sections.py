"""The HTML report's run-wide sections: nightly verdicts and trends, parity, fairness, environment, failures."""

from __future__ import annotations

from typing import Any

from markupsafe import Markup

from reports import plots
from reports.fairness import DESIGN, MUST_MATCH, describe, fairness_view, mismatches
from reports.flat import dig
from reports.formats import SIG3, num, sci
from reports.html_format import _cell, _short_when, _sorted, _when, _workload, cell_label
from reports.machines import cell_of
from reports.metrics import get
from reports.palette import Palette
from reports.parity_table import cell_parity, side
from reports.regressions import verdict_note
from reports.scaling import HEADERS, cells, left_text, scaling_rows

VERDICT_ORDER = {"regression": 0, "unconfirmed": 1, "improvement": 2, "baseline": 3, "new": 4, "ok": 5}
TRACEBACK_LINES = 40
TREND = "train_samples_per_s"
"""The metric whose history the nightly section draws per cell."""


def _run_cell(record: dict[str, Any]) -> dict[str, Any]:
    """A record's parity key: workload, backend, mode, precision and the device it ran on."""
    cell = _cell(record)
    device = (record.get("device_info") or {}).get("device") or cell.get("device") or "cpu"
    return {"workload": _workload(record), "backend": str(cell.get("backend")), "mode": str(cell.get("mode")),
            "precision": str(cell.get("precision") or "fp32"), "device": "cuda" if device == "gpu" else str(device),
            "workload_sha256": (record.get("workload_origin") or {}).get("sha256")}


def parity_cells(parity: dict[str, Any] | None, records: list[dict[str, Any]], git_sha: str | None,
                 ) -> list[dict[str, Any]]:
    """Each run cell with the stored parity that proves it (same config, the run's commit), or why not."""
    rows = (parity or {}).get("all_rows") or (parity or {}).get("rows") or []
    out = []
    for record in _sorted(records):
        cell = _run_cell(record)
        out.append({**cell, **cell_parity(cell, rows, git_sha)})
    return out


def parity(parity: dict[str, Any] | None, records: list[dict[str, Any]] | None = None,
           git_sha: str | None = None) -> dict[str, Any] | None:
    """The stored parity check (each pair's parameter counts and output/loss differences) and, per run cell, the
    parity that matches it; None when no check is stored and the run has no cells."""
    cells = parity_cells(parity, records or [], git_sha)
    if not parity:
        return {"cells": cells, "rows": [], "differ": 0, "stored": False} if cells else None
    rows = []
    for row in parity.get("rows") or []:
        params = "–"
        if "params_a" in row:
            same = row.get("params_a") == row.get("params") == row.get("params_b")
            a, b = row.get("params_a") or 0, row.get("params_b") or 0
            params = f"{row.get('params') or 0:,}" if same else f"{a:,} ≠ {b:,}"
        rows.append({"workload": row.get("workload"), "pair": f"{side(row, 'a')} ↔ {side(row, 'b')}",
                     "config": f"{row.get('precision') or 'fp32'} {row.get('device_b') or 'cpu'}", "params": params,
                     "out": sci(row.get("output_max_abs")), "tol": sci(row.get("output_tol"), 0),
                     "sgd": sci(row.get("loss_sgd_max_rel")), "task": sci(row.get("loss_task_max_rel")),
                     "ok": bool(row.get("ok")), "error": row.get("error") or "", "chaotic": bool(row.get("chaotic"))})
    return {"checked_at": _when(parity.get("checked_at")), "git_sha": (parity.get("git_sha") or "")[:10],
            "rows": rows, "differ": sum(not r["ok"] for r in rows), "cells": cells, "stored": True}


def fairness(workloads: list[str], by_workload: dict[str, list[dict[str, Any]]],
             palette: Palette) -> dict[str, Any]:
    """Each cell's fairness-relevant settings; values that differ within a workload flagged (mismatch or design)."""
    settings = list(MUST_MATCH) + [s for s in DESIGN if s not in MUST_MATCH]
    rows, lines, count = [], [], 0
    for workload in workloads:
        records = by_workload[workload]
        found = mismatches(records)
        flagged = {f["setting"]: f["severity"] for f in found}
        count += sum(f["severity"] == "mismatch" for f in found)
        lines += [f"{workload}: {line}" for line in describe(found) if line.startswith("MISMATCH")]
        for r in records:
            view = fairness_view(r)
            values = []
            for s in settings:
                value = view.get(s)
                text = "–" if value is None else str(value)
                if s in ("git_sha", "spec_hash") and value:
                    text = str(value)[:10]
                cls = flagged.get(s, "") if r.get("status") == "ok" else ""
                values.append({"text": text, "cls": cls})
            rows.append({"workload": workload, "label": cell_label(r),
                         "colour": palette.colour(_cell(r).get("backend")), "vals": values})
    design = sorted({line.split(":")[1].strip() for w in workloads
                     for line in describe(mismatches(by_workload[w])) if not line.startswith("MISMATCH")})
    constant = [i for i, _ in enumerate(settings) if len({row["vals"][i]["text"] for row in rows}) == 1]
    same = [f"{settings[i]}={rows[0]['vals'][i]['text']}" for i in constant] if rows else []
    for row in rows:
        row["vals"] = [v for i, v in enumerate(row["vals"]) if i not in constant]
    shown = [s for i, s in enumerate(settings) if i not in constant]
    return {"settings": shown, "must_match": set(MUST_MATCH), "rows": rows, "lines": lines, "count": count,
            "design": design, "same": same}


def describe_allocator(alloc: dict[str, Any] | None) -> str:
    """One line: libc and malloc thresholds the cell processes ran with ("–" for records older than the field)."""
    if not alloc:
        return "–"
    if alloc.get("mmap_threshold_bytes") is None and alloc.get("trim_threshold_bytes") is None:
        text = f"{alloc.get('libc') or 'libc'} malloc, dynamic thresholds (not pinned)"
    else:
        mib = {k: f"{alloc[k] / 2**20:g} MiB" if alloc.get(k) is not None else "dynamic"
               for k in ("mmap_threshold_bytes", "trim_threshold_bytes")}
        pinned = " (the suite's pinned steady state)" if alloc.get("pinned") else ""
        text = (f"{alloc.get('libc') or 'libc'} malloc, mmap threshold {mib['mmap_threshold_bytes']}, "
                f"trim threshold {mib['trim_threshold_bytes']}{pinned}")
    return text + (f", LD_PRELOAD {alloc['ld_preload']}" if alloc.get("ld_preload") else "")


def environment(run: dict[str, Any], records: list[dict[str, Any]], palette: Palette) -> dict[str, Any]:
    """Machine, packages, each backend's version, device and threads, the MFU peak, the run's isolation."""
    prov = run.get("provenance") or {}
    machine = prov.get("machine") or next((r["machine"] for r in records if r.get("machine")), {})
    packages = prov.get("packages") or next((r["packages"] for r in records if r.get("packages")), {})
    per_backend = {}
    for r in _sorted(records):
        backend = _cell(r).get("backend")
        if backend in per_backend or not r.get("device_info"):
            continue
        info, threads = r.get("device_info") or {}, dig(r, "settings", "threads") or {}
        per_backend[backend] = {
            "colour": palette.colour(backend), "version": info.get("framework_version"),
            "device": info.get("device"), "device_name": info.get("device_name"),
            "cuda": info.get("cuda_version"), "cudnn": info.get("cudnn_version"),
            "intra": threads.get("intra_op_effective", threads.get("intra_op")),
            "inter": threads.get("inter_op_effective", threads.get("inter_op")),
        }
    peaks: dict[tuple[str, str], str] = {}  # one shared MFU denominator per (device, precision)
    for r in records:
        flops, method = dig(r, "efficiency", "peak_flops_per_s"), dig(r, "efficiency", "peak_method")
        where = (str(dig(r, "device_info", "device") or "?"), str(_cell(r).get("precision") or "fp32"))
        if flops and method and where not in peaks:
            peaks[where] = f"{where[0]}/{where[1]}: {flops / 1e9:,.0f} GFLOP/s ({method})"
    config = run.get("config") or {}
    alloc = prov.get("allocator") or next((r["allocator"] for r in records if r.get("allocator")), None)
    return {"machine": machine, "allocator": describe_allocator(alloc),
            "packages": {k: v for k, v in packages.items() if v},
            "missing": sorted(k for k, v in packages.items() if not v), "backends": per_backend,
            "peak": "; ".join(peaks[k] for k in sorted(peaks)) or None,
            "isolation": config.get("isolation"), "timeout_s": config.get("timeout_s"),
            "memory_gib": f"{machine['memory_bytes'] / 2**30:.1f} GiB" if machine.get("memory_bytes") else "–"}


def failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every cell that did not finish ok, with the tail of its traceback."""
    out = []
    for r in records:
        if r.get("status") == "ok":
            continue
        err = r.get("error") or {}
        trace = str(err.get("traceback") or "").rstrip().splitlines()
        out.append({"key": r.get("key") or f"{_workload(r)}/{cell_label(r)}", "status": r.get("status"),
                    "type": err.get("type") or "–", "message": err.get("message") or "",
                    "traceback": "\n".join(trace[-TRACEBACK_LINES:]), "cut": max(len(trace) - TRACEBACK_LINES, 0),
                    "wall_s": num(r.get("wall_s"))})
    return out


def nightly(run: dict[str, Any], verdicts: list[dict[str, Any]] | None,
            history: dict[str, list[dict[str, Any]]] | None) -> dict[str, Any] | None:
    """The nightly verdicts (regressions first), written as the metric table writes each metric, and each cell's
    TREND over runs; None when the report has neither."""
    if verdicts is None and history is None:
        return None
    rows = []
    for v in sorted(verdicts or [], key=lambda v: (VERDICT_ORDER.get(v.get("verdict"), 9), v.get("key", ""),
                                                   v.get("metric", ""))):
        change, threshold = v.get("change_rel"), v.get("regress_at")
        metric = get(v.get("metric", ""))
        absolute = bool(metric and metric.absolute)
        write = metric.page if metric else SIG3
        rows.append({"key": v.get("key"), "metric": v.get("metric"), "verdict": v.get("verdict"),
                     "current": write(v.get("current"), with_unit=True),
                     "baseline": write(v.get("baseline"), with_unit=True),
                     "change": "–" if change is None else (f"{change:+.3f}" if absolute else f"{change * 100:+.1f} %"),
                     "threshold": "–" if threshold is None else (
                         f"{threshold:+.3f}" if absolute else f"{threshold * 100:+.1f} %"),
                     "p": "–" if v.get("p_value") is None else f"{v['p_value']:.3f}", "note": verdict_note(v)})
    regressed = {(v.get("key"), v.get("metric")) for v in verdicts or [] if v.get("verdict") == "regression"}
    trends, trend = [], get(TREND)
    for key in sorted(history or {}):
        cell, points, tonight = cell_of(key), [], False  # a per-machine series: 'cell @ machine'
        for p in (history or {})[key]:
            current = p.get("run_id") == run.get("run_id")
            tonight = tonight or current
            points.append((_short_when(p.get("started_at"), str(p.get("run_id"))), p.get(TREND),
                           current and (cell, TREND) in regressed))
        svg = plots.trend_chart(points, key, trend.label if trend else TREND)
        if svg:
            flagged = (cell, TREND) in regressed and (cell == key or tonight)
            trends.append({"key": key, "svg": Markup(svg), "regressed": flagged})
    trends.sort(key=lambda t: not t["regressed"])
    counts: dict[str, int] = {}
    for row in rows:  # already in verdict order: regressions first
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    return {"rows": rows, "trends": trends, "counts": counts}


def scaling(records: list[dict[str, Any]], palette: Palette) -> dict[str, Any] | None:
    """The sweep cells of the run: log-log charts against parameters, the table, and the sizes left for bigger
    machines; None when no record belongs to a sweep."""
    rows = scaling_rows(records)
    if not rows:
        return None
    return {"charts": [Markup(c) for c in plots.scaling_charts(rows, palette)], "headers": HEADERS,
            "rows": [{"cells": cells(r), "ok": r["status"] == "ok", "message": r["message"]} for r in rows],
            "left": left_text(rows)}
