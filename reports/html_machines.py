"""The HTML report's Machines section: the fleet view (reports.fleet) as one table per metric, cells as rows and
machines as columns, and each machine's description (formatting only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reports import metrics as metric_table
from reports.fleet_view import ABSENT, DESCRIBED, ratio_text
from reports.metrics import Metric

CALL_CLASS = {"faster": "faster", "better": "faster", "slower": "slower", "worse": "slower"}
"""The CSS class of a ratio's call."""


def _cell(side: Mapping[str, Any] | None, metric: Metric) -> dict[str, str]:
    """One machine's figure for one cell: value, its CI, ratio with call, and the cell's CSS class."""
    if side is None:
        return {"text": ABSENT, "ci": "", "ratio": "", "cls": "empty"}
    if side["status"] != "ok":
        return {"text": str(side["status"]), "ci": "", "ratio": "", "cls": "failed"}
    m = next((e for e in side["metrics"] if e["metric"] == metric.field), None)
    if m is None or m["value"] is None:
        return {"text": metric.page(None), "ci": "", "ratio": "", "cls": ""}
    lo, hi = m.get("value_ci_low"), m.get("value_ci_high")
    ci = "" if lo is None or hi is None else f"{metric.page(lo)} – {metric.page(hi)}"
    return {"text": metric.page(m["value"]), "ci": ci, "ratio": ratio_text(m),
            "cls": CALL_CLASS.get(str(m.get("call")), "")}


def machines_section(view: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """{baseline, labels, tables: [{metric, rows: [{key, cells}]}], machines: [{label, facts}]}; None without a
    view."""
    if not view:
        return None
    labels = [m["label"] for m in view["machines"]]
    tables = []
    for metric in (m for m in (metric_table.get(f) for f in view["metrics"]) if m is not None):
        rows = [{"key": c["key"], "cells": [_cell(c["machines"].get(label), metric) for label in labels]}
                for c in view["cells"]]
        tables.append({"metric": metric.label, "rows": rows})
    described = [{"label": m["label"], "facts": [str(m[k]) for k in DESCRIBED], "cells": m["cells"],
                  "runs": ", ".join(str(r) for r in m["runs"])} for m in view["machines"]]
    return {"baseline": view["baseline"], "labels": labels, "tables": tables, "machines": described,
            "headers": [k.replace("_", " ") for k in DESCRIBED]}
