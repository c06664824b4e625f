"""Terminal comparison tables (rich): one row per cell, grouped by workload, best values in bold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

from reports.metrics import RUN_TABLE, Metric, shown
from reports.regressions import verdict_note


def _columns() -> list[Metric]:
    """The run table's metrics in table order, memory last."""
    return sorted(shown(RUN_TABLE), key=lambda m: m.unit == "bytes")


def _ci(row: dict[str, Any], field: str) -> str:
    """The CI's half-width relative to the value: '±12%'."""
    lo, hi, mid = row.get(f"{field}_ci_low"), row.get(f"{field}_ci_high"), row.get(field)
    if lo is None or hi is None or not mid:
        return "–"
    return f"±{(hi - lo) / 2 / mid * 100:.0f}%"


def comparison_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    """A table of flat rows; per workload the best value of each column is bold."""
    table = Table(title=title, show_lines=False)
    columns = _columns()
    for header in ("workload", "backend", "mode", "status"):
        table.add_column(header, justify="left")
    for metric in columns:
        table.add_column(metric.header, justify="right")
        if RUN_TABLE in metric.ci_in:
            table.add_column("±CI", justify="right")
    by_workload: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_workload.setdefault(row["workload"], []).append(row)
    for workload, group in by_workload.items():
        best = {}
        for metric in columns:
            values = [r[metric.field] for r in group if r.get(metric.field) is not None and r["status"] == "ok"]
            if len(values) > 1:
                best[metric.field] = max(values) if metric.higher_is_better else min(values)
        for i, row in enumerate(group):
            mode = row["mode"] if row.get("precision") in (None, "fp32") else f"{row['mode']} {row['precision']}"
            cells = [workload if i == 0 else "", row["backend"], mode,
                     row["status"] if row["status"] == "ok" else f"[red]{row['status']}[/red]"]
            for metric in columns:
                value = row.get(metric.field)
                text = metric.text(value, RUN_TABLE)
                cells.append(f"[bold green]{text}[/bold green]" if metric.field in best and value == best[metric.field]
                             else text)
                if RUN_TABLE in metric.ci_in:
                    cells.append(_ci(row, metric.field))
            table.add_row(*cells)
        table.add_section()
    return table


def print_table(rows: Sequence[dict[str, Any]], title: str, console: Console | None = None) -> None:
    (console or Console()).print(comparison_table(rows, title))


def print_verdicts(found: Sequence[dict[str, Any]], console: Console, history_n: int, quiet: bool = False) -> None:
    """Regressions first (red, with the run and commit of their first night), then 'unconfirmed' (yellow: flagged
    by one of the night's two measurements only), then improvements; 'ok', 'baseline' (too little history to judge),
    'new', 'skipped' and 'failing' (never ok since its baseline) are counted."""
    flagged = [v for v in found if v["verdict"] in ("regression", "unconfirmed", "improvement")]
    kinds = ("regression", "unconfirmed", "improvement", "ok", "baseline", "new", "skipped", "failing")
    counts = {k: sum(v["verdict"] == k for v in found) for k in kinds}
    console.print(f"nightly: {history_n} comparable earlier runs; " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if not flagged:
        return
    table = Table(title="nightly verdicts (regression when |log(current / baseline)| > "
                        "max(log(1 + floor), 3-4 × the noise of its unregressed baseline) in both of the night's "
                        "measurements; it stays one until accepted)")
    for header in ("cell", "metric", "current", "baseline", "change", "regress at", "p", "verdict", "note"):
        table.add_column(header, justify="left" if header in ("cell", "metric", "verdict", "note") else "right")
    order = {"regression": 0, "unconfirmed": 1, "improvement": 2}
    for v in sorted(flagged, key=lambda v: order[v["verdict"]]):
        color = {"regression": "red", "unconfirmed": "yellow"}.get(v["verdict"], "green")
        change = "–" if v["change_rel"] is None else f"{v['change_rel']:+.1%}"
        threshold = "–" if v.get("regress_at") is None else f"{v['regress_at']:+.1%}"
        p = "–" if v["p_value"] is None else f"{v['p_value']:.3f}"
        fmt = "{:,.4g}"
        current = fmt.format(v["current"]) if isinstance(v["current"], float | int) else str(v["current"])
        baseline = fmt.format(v["baseline"]) if isinstance(v["baseline"], float | int) else str(v["baseline"])
        table.add_row(v["key"], v["metric"], current, baseline, change, threshold, p,
                      f"[{color}]{v['verdict']}[/{color}]", verdict_note(v))
    if not quiet or any(v["verdict"] == "regression" for v in flagged):
        console.print(table)
