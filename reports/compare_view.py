"""Render comparisons as rich tables, markdown or JSON (formatting only: the numbers come from reports.compare)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from reports.compare import best_values
from reports.metrics import COMPARE, RUNS, Metric, shown


def fmt_ratio(m: dict[str, Any], baseline: bool) -> str:
    """'×1.80 [1.45–2.10]' with '~' when the difference is not significant (Mann-Whitney U, p ≥ 0.05)."""
    if baseline:
        return "baseline"
    if m["ratio"] is None:
        return ""
    text = f"×{m['ratio']:.2f}"
    if m["ci_low"] is not None:
        text += f" [{m['ci_low']:.2f}–{m['ci_high']:.2f}]"
    if m["significant"] is False:
        text += " ~"
    return text


def _metric(row: dict[str, Any], name: str) -> dict[str, Any]:
    return next(m for m in row["metrics"] if m["metric"] == name)


def _visible(rows: Sequence[dict[str, Any]]) -> list[Metric]:
    return [m for m in shown(COMPARE) if any(_metric(r, m.field)["value"] is not None for r in rows)]


def backend_tables(rows: Sequence[dict[str, Any]], baseline: str) -> list[Table]:
    """One rich table per workload: value, ratio to the baseline with CI and significance; best in bold green."""
    best = best_values(rows)
    tables = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        group = [r for r in rows if r["workload"] == workload]
        columns = _visible(group)
        table = Table(title=f"{workload} — ratios to {baseline} with 95 % CI (~ = not significant)")
        table.add_column("backend/mode")
        for metric in columns:
            table.add_column(metric.header, justify="right")
        for row in group:
            cells = [f"{row['backend']}/{row['mode']}"]
            for metric in columns:
                m = _metric(row, metric.field)
                text = metric.text(m["value"], COMPARE)
                if m["value"] is not None and best.get((workload, metric.field)) == m["value"] and len(group) > 1:
                    text = f"[bold green]{text}[/bold green]"
                ratio = fmt_ratio(m, row["is_baseline"])
                cells.append(f"{text}\n[dim]{ratio}[/dim]" if ratio else text)
            table.add_row(*cells)
        tables.append(table)
    return tables


def backend_markdown(rows: Sequence[dict[str, Any]], baseline: str) -> str:
    """The same tables as GitHub markdown (best value in bold)."""
    best = best_values(rows)
    parts = []
    for workload in dict.fromkeys(r["workload"] for r in rows):
        group = [r for r in rows if r["workload"] == workload]
        columns = _visible(group)
        parts.append(f"### {workload} (ratios to {baseline}, 95 % CI; ~ not significant)\n")
        parts.append("| backend/mode | " + " | ".join(m.header for m in columns) + " |")
        parts.append("|---|" + "---:|" * len(columns))
        for row in group:
            cells = []
            for metric in columns:
                m = _metric(row, metric.field)
                text = metric.text(m["value"], COMPARE)
                if m["value"] is not None and best.get((workload, metric.field)) == m["value"] and len(group) > 1:
                    text = f"**{text}**"
                ratio = fmt_ratio(m, row["is_baseline"])
                cells.append(f"{text} {ratio}".strip())
            parts.append(f"| {row['backend']}/{row['mode']} | " + " | ".join(cells) + " |")
        parts.append("")
    return "\n".join(parts)


def run_verdict(m: dict[str, Any]) -> str:
    if m["ratio"] is None:
        return ""
    if m["significant"] is False:
        return "~"
    if m["better"] is None:
        return "="
    return "improved" if m["better"] else "REGRESSED"


def runs_table(rows: Sequence[dict[str, Any]], current: str, previous: str) -> Table:
    """The same cells of two runs: new value, ratio new/old with CI, and whether it improved or regressed."""
    table = Table(title=f"run {current} against {previous} (ratio new/old, 95 % CI; ~ not significant)")
    table.add_column("cell")
    columns = shown(RUNS)
    for metric in columns:
        table.add_column(metric.header, justify="right")
    for row in rows:
        if not row["metrics"]:
            table.add_row(row["key"], f"[yellow]{'new cell' if row['new'] else row['status']}[/yellow]")
            continue
        cells = [row["key"]]
        for metric in columns:
            m = _metric(row, metric.field)
            verdict = run_verdict(m)
            color = "red" if verdict == "REGRESSED" else "green" if verdict == "improved" else "dim"
            ratio = fmt_ratio(m, False)
            note = f"{ratio} {verdict}" if verdict in ("improved", "REGRESSED") else ratio
            text = metric.text(m["value"], RUNS)
            cells.append(f"{text}\n[{color}]{note}[/{color}]" if ratio else text)
        table.add_row(*cells)
    return table


def as_json(rows: Sequence[dict[str, Any]]) -> str:
    return json.dumps(list(rows), indent=1)
