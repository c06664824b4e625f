"""The HTML report's summary matrix and its per-workload sections: what ran, the metric table, the charts."""

from __future__ import annotations

import math
from typing import Any

from markupsafe import Markup

from reports import plots
from reports.flat import dig, flatten
from reports.formats import num
from reports.html_format import _cell, _ok, cell_label
from reports.metrics import HTML, Metric, shown, task_of
from reports.palette import Palette, backend_key


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


def matrix(workloads: list[str], by_workload: dict[str, list[dict[str, Any]]], palette: Palette) -> dict[str, Any]:
    """Workload × cell table of training samples/s, each coloured by how far it is from its workload's best."""
    labels: dict[str, dict[str, Any]] = {}
    for records in by_workload.values():
        for r in records:
            labels.setdefault(cell_label(r), r)
    columns = sorted(labels, key=lambda lab: (backend_key(_cell(labels[lab]).get("backend")), lab))
    rows = []
    for workload in workloads:
        cells_by_label = {cell_label(r): r for r in by_workload[workload]}
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
                cells.append({"text": num(value), "ratio": "best" if ratio < 1.005 else f"{ratio:.2f}× slower",
                              "style": _ratio_style(ratio), "cls": ""})
            else:
                cells.append({"text": "–", "ratio": "", "style": "", "cls": "empty"})
        rows.append({"workload": workload, "cells": cells})
    return {"columns": [{"label": c, "colour": palette.colour(_cell(labels[c]).get("backend"))} for c in columns],
            "rows": rows}


def _ci(row: dict[str, Any], metric: Metric) -> str:
    lo, hi = row.get(f"{metric.field}_ci_low"), row.get(f"{metric.field}_ci_high")
    return "" if lo is None or hi is None else f"{metric.page(lo)} – {metric.page(hi)}"


def _columns(rows: list[dict[str, Any]]) -> list[Metric]:
    """The HTML view's metrics for these cells: the task-specific ones of the workload's task (by default the
    first task in the metric table)."""
    candidates = shown(HTML)
    task = task_of(rows, candidates) or next((m.task for m in candidates if m.task), None)
    return [m for m in candidates if m.task in (None, task)]


def _value(row: dict[str, Any], metric: Metric, notes: Notes) -> dict[str, str]:
    """One table cell: the value, its CI, and a footnote (how it was derived, or why it is missing)."""
    value = row.get(metric.field)
    note = notes.mark(metric.note(row)) if metric.note else ""
    if value is None and metric.reason:
        return {"text": "n/a", "ci": "", "note": notes.mark(row.get(metric.reason))}
    return {"text": metric.page(value), "ci": _ci(row, metric) if HTML in metric.ci_in else "", "note": note}


def table(records: list[dict[str, Any]], palette: Palette) -> dict[str, Any]:
    """The numbers of one workload's cells, missing values explained in numbered notes."""
    notes = Notes()
    flat = [flatten(r) for r in records]
    columns = _columns(flat)
    rows = []
    for r, row in zip(records, flat, strict=True):
        base = {"label": cell_label(r), "colour": palette.colour(_cell(r).get("backend")), "status": r.get("status")}
        if r.get("status") != "ok":
            err = r.get("error") or {}
            rows.append({**base, "error": f"{err.get('type', r.get('status'))}: {err.get('message', '')}"[:200]})
            continue
        rows.append({**base, "cells": [_value(row, metric, notes) for metric in columns]})
    return {"headers": ["cell", *(m.label for m in columns)], "rows": rows, "notes": notes.items}


def _about(records: list[dict[str, Any]]) -> str:
    """One line on what the workload is: model, parameters, data set, batch size, epochs."""
    r = next((x for x in records if x.get("task") or x.get("dataset")), records[0])
    bits = []
    model = dig(r, "model", "name")
    if model:
        bits.append(f"model {model}" + (f" ({r['params']:,} parameters)" if r.get("params") else ""))
    ds = r.get("dataset") or {}
    if ds.get("name"):
        val = f" / {ds['n_val']:,} validation" if ds.get("n_val") else ""
        has_sizes = ds.get("n_train") and ds.get("n_test")
        size = f", {ds['n_train']:,} train{val} / {ds['n_test']:,} test" if has_sizes else ""
        bits.append(f"data {ds['name']}{size}")
    task = r.get("task") or {}
    if task.get("batch_size"):
        bits.append(f"batch {task['batch_size']}")
    if task.get("epochs"):
        bits.append(f"{task['epochs']} epoch{'s' if task['epochs'] != 1 else ''}")
    if dig(task, "optimizer", "name"):
        bits.append(f"{task['optimizer']['name']} lr {task['optimizer'].get('learning_rate')}")
    return " · ".join(bits)


def workload_section(workload: str, records: list[dict[str, Any]], facts: dict[str, Any],
                     palette: Palette) -> dict[str, Any]:
    """One workload: what it is, its finding, the table, the charts and confusion matrices."""
    ok = _ok(records)
    charts = [c for c in (plots.throughput_chart(ok, "", palette=palette), plots.latency_chart(ok, palette=palette),
                          plots.memory_chart(ok, palette=palette), plots.quality_chart(ok, palette=palette),
                          plots.curves_chart(ok, palette=palette)) if c]
    confusion = []
    for r in ok:
        counts = dig(r, "quality", "confusion_matrix")
        if counts:
            svg = plots.confusion_chart(counts, cell_label(r), _cell(r).get("backend"), palette=palette)
            if svg:
                confusion.append(Markup(svg))
    gpu = plots.gpu_chart(ok, palette=palette)
    reasons = sorted({str(dig(r, "gpu", "reason") or "not sampled") for r in ok if not dig(r, "gpu", "timeline")})
    if gpu:
        charts.append(gpu)
    epochs = max((len(r.get("curve") or []) for r in ok), default=0)
    return {"name": workload, "anchor": f"w-{workload}", "about": _about(records), "finding": facts["text"],
            "single_epoch": epochs == 1,
            "charts": [Markup(c) for c in charts], "table": table(records, palette), "confusion": confusion,
            "gpu_measured": bool(gpu), "gpu_reasons": reasons}
