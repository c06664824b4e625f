"""Render the fleet view (reports.fleet) as rich tables or markdown: one table per metric, cells as rows, machines as
columns, then the machines themselves (formatting only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from reports import metrics as metric_table
from reports.compare_view import fmt_ratio
from reports.metrics import MACHINES, Metric

ABSENT = "—"
"""A cell that did not run on a machine."""
DESCRIBED = ("hostname", "cpu", "cores", "memory", "gpu", "driver", "machine_key")
"""The machine facts listed under the tables, in order."""


def value_ci(m: Mapping[str, Any]) -> str:
    """The value's own CI as a half-width relative to it: '±12%' ('' without one)."""
    lo, hi, mid = m.get("value_ci_low"), m.get("value_ci_high"), m.get("value")
    if lo is None or hi is None or not mid:
        return ""
    return f"±{(hi - lo) / 2 / mid * 100:.0f}%"


def ratio_text(m: Mapping[str, Any]) -> str:
    """'×2.01 [1.80–2.25] faster', '×1.02 [0.95–1.10] ~ same' or 'baseline' ('' without a ratio)."""
    if m.get("call") == "baseline":
        return "baseline"
    text = fmt_ratio(dict(m), False)
    return f"{text} {m['call']}".strip() if text else ""


def _metrics(view: Mapping[str, Any]) -> list[Metric]:
    return [m for m in (metric_table.get(f) for f in view["metrics"]) if m is not None]


def _entry(side: Mapping[str, Any] | None, field: str) -> Mapping[str, Any] | None:
    return next((e for e in (side or {}).get("metrics") or [] if e["metric"] == field), None)


def entry_parts(side: Mapping[str, Any] | None, metric: Metric) -> tuple[str, str, str]:
    """(value, its CI, ratio with call) of one machine's cell for one metric as terminal tables write them; ABSENT
    where the cell did not run there, its status where it did not finish ok."""
    if side is None:
        return ABSENT, "", ""
    if side["status"] != "ok":
        return str(side["status"]), "", ""
    m = _entry(side, metric.field)
    if m is None or m["value"] is None:
        return metric.text(None, MACHINES), "", ""
    return metric.text(m["value"], MACHINES), value_ci(m), ratio_text(m)


def caption(view: Mapping[str, Any]) -> str:
    """What the tables show, in one line."""
    return (f"{len(view['cells'])} cells on {len(view['machines'])} machines; under each value its ratio to "
            f"{view['baseline']} with 95 % CI (~ = not significant) and the call; {ABSENT} = not run there")


def fleet_tables(view: Mapping[str, Any]) -> list[Table | str]:
    """The caption, one rich table per metric (cells × machines) and one describing the machines."""
    labels = [m["label"] for m in view["machines"]]
    tables: list[Table | str] = [caption(view)]
    for metric in _metrics(view):
        table = Table(title=f"{metric.label} by machine")
        table.add_column("cell")
        for label in labels:
            table.add_column(label, justify="right")
        for cell in view["cells"]:
            texts = []
            for label in labels:
                value, ci, ratio = entry_parts(cell["machines"].get(label), metric)
                value = f"{value} {ci}".strip()
                color = "green" if ratio.endswith(("faster", "better")) else "red" if ratio.endswith(
                    ("slower", "worse")) else "dim"
                texts.append(f"{value}\n[{color}]{ratio}[/{color}]" if ratio else value)
            table.add_row(cell["key"], *texts)
        tables.append(table)
    tables.append(machine_table(view))
    return tables


def machine_table(view: Mapping[str, Any]) -> Table:
    """The machines: hostname, CPU, cores, memory, GPU, driver, key, and how many cell records each ran."""
    table = Table(title="machines")
    for header in ("machine", *DESCRIBED, "cells"):
        table.add_column(header.replace("_", " "))
    for m in view["machines"]:
        table.add_row(m["label"], *(str(m[k]) for k in DESCRIBED), str(m["cells"]))
    return table


def fleet_markdown(view: Mapping[str, Any]) -> str:
    """The same tables as GitHub markdown."""
    labels = [m["label"] for m in view["machines"]]
    parts = [caption(view) + "\n"]
    for metric in _metrics(view):
        parts.append(f"### {metric.label} by machine\n")
        parts.append("| cell | " + " | ".join(labels) + " |")
        parts.append("|---|" + "---:|" * len(labels))
        for cell in view["cells"]:
            texts = [" ".join(t for t in entry_parts(cell["machines"].get(label), metric) if t) for label in labels]
            parts.append(f"| {cell['key']} | " + " | ".join(texts) + " |")
        parts.append("")
    parts.append("| machine | " + " | ".join(k.replace("_", " ") for k in DESCRIBED) + " | cells |")
    parts.append("|---|" + "---|" * len(DESCRIBED) + "---:|")
    for m in view["machines"]:
        parts.append(f"| {m['label']} | " + " | ".join(str(m[k]) for k in DESCRIBED) + f" | {m['cells']} |")
    return "\n".join(parts)
