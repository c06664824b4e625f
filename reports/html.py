"""The self-contained HTML report of one run: findings, summary matrix, per-workload charts, parity, fairness."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from reports import plots
from reports.fairness import DESIGN, MUST_MATCH, describe, fairness_view, mismatches
from reports.findings import run_findings, workload_findings
from reports.flat import dig, flatten
from reports.html_format import (
    _backend_key,
    _cell,
    _duration,
    _fmt_metric,
    _mib,
    _num,
    _ok,
    _pct,
    _sci,
    _short_when,
    _sorted,
    _when,
    _workload,
)

TEMPLATES = Path(__file__).resolve().parent / "templates"
VERDICT_ORDER = {"regression": 0, "improvement": 1, "baseline": 2, "new": 3, "ok": 4}
TRACEBACK_LINES = 40


class Notes:
    """Numbered footnotes for one table: the reason a value is missing, written once however often it occurs."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def mark(self, text: str | None) -> str:
        if not text:
            return ""
        if text not in self.items:
            self.items.append(text)
        return str(self.items.index(text) + 1)


def _ratio_style(ratio: float) -> str:
    """Background for a cell `ratio`× slower than the best: green at 1, through yellow, to red at 4× or worse."""
    t = min(math.log(max(ratio, 1.0)) / math.log(4.0), 1.0)
    return f"background: hsl({130 * (1 - t):.0f}, 62%, {84 - 4 * t:.0f}%)"


def _matrix(workloads: list[str], by_workload: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Workload × cell table of training samples/s, each coloured by how far it is from its workload's best."""
    labels: dict[str, dict[str, Any]] = {}
    for records in by_workload.values():
        for r in records:
            labels.setdefault(plots.cell_label(r), r)
    columns = sorted(labels, key=lambda lab: (_backend_key(_cell(labels[lab]).get("backend")), lab))
    rows = []
    for workload in workloads:
        cells_by_label = {plots.cell_label(r): r for r in by_workload[workload]}
        values = [dig(r, "timing", "train", "median") for r in _ok(by_workload[workload])]
        best = max((v for v in values if v), default=None)
        cells = []
        for label in columns:
            r = cells_by_label.get(label)
            if r is None:
                cells.append({"text": "", "ratio": "not run", "style": "", "cls": "empty"})
            elif r.get("status") != "ok":
                cells.append({"text": str(r.get("status")), "ratio": "", "style": "", "cls": "failed"})
            elif best and dig(r, "timing", "train", "median"):
                value = r["timing"]["train"]["median"]
                ratio = best / value
                cells.append({"text": _num(value), "ratio": "best" if ratio < 1.005 else f"{ratio:.2f}× slower",
                              "style": _ratio_style(ratio), "cls": ""})
            else:
                cells.append({"text": "–", "ratio": "", "style": "", "cls": "empty"})
        rows.append({"workload": workload, "cells": cells})
    return {"columns": [{"label": c, "colour": plots.colour(_cell(labels[c]).get("backend"))} for c in columns],
            "rows": rows}


def _ci(record: dict[str, Any], phase: str) -> str:
    lo, hi = dig(record, "timing", phase, "ci_low"), dig(record, "timing", phase, "ci_high")
    return "" if lo is None or hi is None else f"{_num(lo)} – {_num(hi)}"


def _flops_check(row: dict[str, Any]) -> str:
    """How the spec's FLOP count (MFU's numerator) compares with the framework's own counter, or why it was not."""
    ratio = row.get("flops_counted_train_ratio") or row.get("flops_counted_forward_ratio")
    if ratio is None:
        return f"FLOPs from the spec, not cross-checked: {row.get('flops_counter') or 'no framework count recorded'}"
    what = "train step" if row.get("flops_counted_train_ratio") else "forward pass"
    counter = str(row["flops_counter"]).split(" (")[0]  # the counter's name; the record keeps its full description
    return f"FLOPs from the spec; {counter} counts {ratio:.2f}× of them per {what}"


def _table(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The numbers of one workload's cells, missing values explained in numbered notes."""
    notes = Notes()
    regression = any(dig(r, "quality", "r2") is not None for r in records) and not any(
        dig(r, "quality", "accuracy") is not None for r in records)
    headers = ["cell", "train samples/s", "infer samples/s", "p50 ms", "p99 ms", "compile s", "host MiB",
               "device MiB", "R²" if regression else "accuracy", "MSE" if regression else "F1 macro", "MFU"]
    rows = []
    for r in records:
        row = flatten(r)
        base = {"label": plots.cell_label(r), "colour": plots.colour(_cell(r).get("backend")),
                "status": r.get("status")}
        if r.get("status") != "ok":
            err = r.get("error") or {}
            rows.append({**base, "error": f"{err.get('type', r.get('status'))}: {err.get('message', '')}"[:200]})
            continue
        device = {"value": _mib(row["device_peak_bytes"]), "note": ""}
        if row["device_peak_bytes"] is None:
            device = {"value": "n/a", "note": notes.mark(row["device_peak_reason"])}
        mfu = {"value": _pct(row["mfu"]), "note": notes.mark(_flops_check(row))}
        if row["mfu"] is None:
            mfu = {"value": "n/a", "note": notes.mark(row["mfu_reason"])}
        if regression:
            q1, q2 = _num(row["r2"], 4), _num(row["mse"], 3)
        else:
            q1, q2 = _pct(row["accuracy"]), _num(row["f1_macro"], 3)
        rows.append({**base, "train": _num(row["train_samples_per_s"]), "train_ci": _ci(r, "train"),
                     "infer": _num(row["infer_samples_per_s"]), "infer_ci": _ci(r, "infer"),
                     "p50": _num(row["latency_ms_p50"]), "p99": _num(row["latency_ms_p99"]),
                     "compile": _num(row["compile_s"]), "host": _mib(row["host_peak_bytes"]), "device": device,
                     "q1": q1, "q2": q2, "mfu": mfu})
    return {"headers": headers, "rows": rows, "notes": notes.items}


def _about(records: list[dict[str, Any]]) -> str:
    """One line on what the workload is: model, parameters, data set, batch size, epochs."""
    r = next((x for x in records if x.get("task") or x.get("dataset")), records[0])
    bits = []
    model = dig(r, "model", "name")
    if model:
        bits.append(f"model {model}" + (f" ({r['params']:,} parameters)" if r.get("params") else ""))
    ds = r.get("dataset") or {}
    if ds.get("name"):
        size = f", {ds['n_train']:,} train / {ds['n_test']:,} test" if ds.get("n_train") and ds.get("n_test") else ""
        bits.append(f"data {ds['name']}{size}")
    task = r.get("task") or {}
    if task.get("batch_size"):
        bits.append(f"batch {task['batch_size']}")
    if task.get("epochs"):
        bits.append(f"{task['epochs']} epoch{'s' if task['epochs'] != 1 else ''}")
    if dig(task, "optimizer", "name"):
        bits.append(f"{task['optimizer']['name']} lr {task['optimizer'].get('learning_rate')}")
    return " · ".join(bits)


def _workload_section(workload: str, records: list[dict[str, Any]], facts: dict[str, Any]) -> dict[str, Any]:
    ok = _ok(records)
    charts = [c for c in (plots.throughput_chart(ok, ""), plots.latency_chart(ok), plots.memory_chart(ok),
                          plots.quality_chart(ok), plots.curves_chart(ok)) if c]
    confusion = []
    for r in ok:
        matrix = dig(r, "quality", "confusion_matrix")
        if matrix:
            svg = plots.confusion_chart(matrix, plots.cell_label(r), _cell(r).get("backend"))
            if svg:
                confusion.append(Markup(svg))
    gpu = plots.gpu_chart(ok)
    reasons = sorted({str(dig(r, "gpu", "reason") or "not sampled") for r in ok if not dig(r, "gpu", "timeline")})
    if gpu:
        charts.append(gpu)
    epochs = max((len(r.get("curve") or []) for r in ok), default=0)
    return {"name": workload, "anchor": f"w-{workload}", "about": _about(records), "finding": facts["text"],
            "single_epoch": epochs == 1,
            "charts": [Markup(c) for c in charts], "table": _table(records), "confusion": confusion,
            "gpu_measured": bool(gpu), "gpu_reasons": reasons}


def _parity(parity: dict[str, Any] | None) -> dict[str, Any] | None:
    if not parity:
        return None
    rows = []
    for row in parity.get("rows") or []:
        params = "–"
        if "params_a" in row:
            same = row.get("params_a") == row.get("params") == row.get("params_b")
            a, b = row.get("params_a") or 0, row.get("params_b") or 0
            params = f"{row.get('params') or 0:,}" if same else f"{a:,} ≠ {b:,}"
        rows.append({"workload": row.get("workload"), "pair": f"{row.get('a')} ↔ {row.get('b')}", "params": params,
                     "out": _sci(row.get("output_max_abs")), "tol": _sci(row.get("output_tol"), 0),
                     "sgd": _sci(row.get("loss_sgd_max_rel")), "task": _sci(row.get("loss_task_max_rel")),
                     "ok": bool(row.get("ok")), "error": row.get("error") or ""})
    return {"checked_at": _when(parity.get("checked_at")), "git_sha": (parity.get("git_sha") or "")[:10],
            "rows": rows, "differ": sum(not r["ok"] for r in rows)}



def _fairness(workloads: list[str], by_workload: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
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
            rows.append({"workload": workload, "label": plots.cell_label(r),
                         "colour": plots.colour(_cell(r).get("backend")), "vals": values})
    design = sorted({line.split(":")[1].strip() for w in workloads
                     for line in describe(mismatches(by_workload[w])) if not line.startswith("MISMATCH")})
    constant = [i for i, _ in enumerate(settings) if len({row["vals"][i]["text"] for row in rows}) == 1]
    same = [f"{settings[i]}={rows[0]['vals'][i]['text']}" for i in constant] if rows else []
    for row in rows:
        row["vals"] = [v for i, v in enumerate(row["vals"]) if i not in constant]
    shown = [s for i, s in enumerate(settings) if i not in constant]
    return {"settings": shown, "must_match": set(MUST_MATCH), "rows": rows, "lines": lines, "count": count,
            "design": design, "same": same}


def _environment(run: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
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
            "colour": plots.colour(backend), "version": info.get("framework_version"),
            "device": info.get("device"), "device_name": info.get("device_name"),
            "cuda": info.get("cuda_version"), "cudnn": info.get("cudnn_version"),
            "intra": threads.get("intra_op_effective", threads.get("intra_op")),
            "inter": threads.get("inter_op_effective", threads.get("inter_op")),
        }
    peak = next((dig(r, "efficiency", "peak_method") for r in records if dig(r, "efficiency", "peak_method")), None)
    peak_flops = next((dig(r, "efficiency", "peak_flops_per_s") for r in records
                       if dig(r, "efficiency", "peak_flops_per_s")), None)
    config = run.get("config") or {}
    return {"machine": machine, "packages": {k: v for k, v in packages.items() if v},
            "missing": sorted(k for k, v in packages.items() if not v), "backends": per_backend,
            "peak": f"{peak_flops / 1e9:,.0f} GFLOP/s ({peak})" if peak and peak_flops else None,
            "isolation": config.get("isolation"), "timeout_s": config.get("timeout_s"),
            "memory_gib": f"{machine['memory_bytes'] / 2**30:.1f} GiB" if machine.get("memory_bytes") else "–"}


def _failures(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in records:
        if r.get("status") == "ok":
            continue
        err = r.get("error") or {}
        trace = str(err.get("traceback") or "").rstrip().splitlines()
        out.append({"key": r.get("key") or f"{_workload(r)}/{plots.cell_label(r)}", "status": r.get("status"),
                    "type": err.get("type") or "–", "message": err.get("message") or "",
                    "traceback": "\n".join(trace[-TRACEBACK_LINES:]), "cut": max(len(trace) - TRACEBACK_LINES, 0),
                    "wall_s": _num(r.get("wall_s"))})
    return out



def _nightly(run: dict[str, Any], verdicts: list[dict[str, Any]] | None,
             history: dict[str, list[dict[str, Any]]] | None) -> dict[str, Any] | None:
    if verdicts is None and history is None:
        return None
    rows = []
    for v in sorted(verdicts or [], key=lambda v: (VERDICT_ORDER.get(v.get("verdict"), 9), v.get("key", ""),
                                                   v.get("metric", ""))):
        change, threshold = v.get("change_rel"), v.get("regress_at")
        absolute = v.get("metric") in ("accuracy", "r2")
        rows.append({"key": v.get("key"), "metric": v.get("metric"), "verdict": v.get("verdict"),
                     "current": _fmt_metric(v.get("metric", ""), v.get("current")),
                     "baseline": _fmt_metric(v.get("metric", ""), v.get("baseline")),
                     "change": "–" if change is None else (f"{change:+.3f}" if absolute else f"{change * 100:+.1f} %"),
                     "threshold": "–" if threshold is None else (
                         f"{threshold:+.3f}" if absolute else f"{threshold * 100:+.1f} %"),
                     "p": "–" if v.get("p_value") is None else f"{v['p_value']:.3f}"})
    regressed = {(v.get("key"), v.get("metric")) for v in verdicts or [] if v.get("verdict") == "regression"}
    trends = []
    for key in sorted(history or {}):
        points = []
        for p in (history or {})[key]:
            current = p.get("run_id") == run.get("run_id")
            points.append((_short_when(p.get("started_at"), str(p.get("run_id"))), p.get("train_samples_per_s"),
                           current and (key, "train_samples_per_s") in regressed))
        svg = plots.trend_chart(points, key, "train samples/s")
        if svg:
            trends.append({"key": key, "svg": Markup(svg), "regressed": (key, "train_samples_per_s") in regressed})
    trends.sort(key=lambda t: not t["regressed"])
    counts: dict[str, int] = {}
    for row in rows:  # already in verdict order: regressions first
        counts[row["verdict"]] = counts.get(row["verdict"], 0) + 1
    return {"rows": rows, "trends": trends, "counts": counts}


def _environment_loader() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["when"] = _when
    return env


def render_report(run: dict[str, Any], records: list[dict[str, Any]], parity: dict[str, Any] | None = None,
                  verdicts: list[dict[str, Any]] | None = None,
                  history: dict[str, list[dict[str, Any]]] | None = None) -> str:
    """One self-contained HTML page (inline CSS and SVG, no scripts, no external resources) for a run."""
    run = run or {}
    workloads = list(dict.fromkeys(_workload(r) for r in records))
    by_workload = {w: _sorted([r for r in records if _workload(r) == w]) for w in workloads}
    facts = [workload_findings(w, by_workload[w]) for w in workloads]
    fairness = _fairness(workloads, by_workload)
    prov = run.get("provenance") or {}
    first = records[0] if records else {}
    git_sha = prov.get("git_sha") or first.get("git_sha")
    git_dirty = prov.get("git_dirty") if "git_dirty" in prov else first.get("git_dirty")
    backends = sorted({str(_cell(r).get("backend")) for r in records}, key=_backend_key)
    context = {
        "suite": run.get("suite") or "–", "run_id": run.get("run_id") or "–",
        "started": _when(run.get("started_at")), "finished": _when(run.get("finished_at")) if run.get(
            "finished_at") else "unfinished", "duration": _duration(run.get("started_at"), run.get("finished_at")),
        "machine_key": run.get("machine_key"), "config_key": run.get("config_key"),
        "git_sha": git_sha or "–", "git_dirty": git_dirty,
        "legend": [{"name": b, "colour": plots.colour(b)} for b in backends],
        "counts": {"cells": len(records), "ok": len(_ok(records)), "workloads": len(workloads)},
        "overall": run_findings(facts, records, parity, fairness["count"]),
        "findings": facts, "matrix": _matrix(workloads, by_workload),
        "workloads": [_workload_section(w, by_workload[w], f) for w, f in zip(workloads, facts, strict=True)],
        "parity": _parity(parity), "fairness": fairness, "env": _environment(run, records),
        "failures": _failures(records), "nightly": _nightly(run, verdicts, history),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return _environment_loader().get_template("report.html.j2").render(**context)
