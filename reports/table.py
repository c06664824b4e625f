"""Terminal comparison tables (rich): one row per cell, grouped by workload, best values in bold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.table import Table

_COLUMNS = (  # (header, field, format, higher is better)
    ("train/s", "train_samples_per_s", "{:,.0f}", True),
    ("±CI", None, None, None),
    ("infer/s", "infer_samples_per_s", "{:,.0f}", True),
    ("p50 ms", "latency_ms_p50", "{:.2f}", False),
    ("compile s", "compile_s", "{:.2f}", False),
    ("acc", "accuracy", "{:.3f}", True),
    ("F1", "f1_macro", "{:.3f}", True),
    ("R²", "r2", "{:.3f}", True),
    ("host MiB", "host_peak_bytes", None, False),
)


def _fmt(field: str, fmt: str | None, value: Any) -> str:
    if value is None:
        return "–"
    if field == "host_peak_bytes":
        return f"{value / 2**20:,.0f}"
    return fmt.format(value) if fmt else str(value)


def _ci(row: dict[str, Any]) -> str:
    lo, hi, mid = row.get("train_samples_per_s_ci_low"), row.get("train_samples_per_s_ci_high"), row.get(
        "train_samples_per_s")
    if lo is None or hi is None or not mid:
        return "–"
    return f"±{(hi - lo) / 2 / mid * 100:.0f}%"


def comparison_table(rows: Sequence[dict[str, Any]], title: str) -> Table:
    """A table of flat rows; per workload the best value of each column is bold."""
    table = Table(title=title, show_lines=False)
    for header in ("workload", "backend", "mode", "status", *(c[0] for c in _COLUMNS)):
        table.add_column(header, justify="left" if header in ("workload", "backend", "mode", "status") else "right")
    by_workload: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_workload.setdefault(row["workload"], []).append(row)
    for workload, group in by_workload.items():
        best = {}
        for _, field, _, higher in _COLUMNS:
            values = [r[field] for r in group if field and r.get(field) is not None and r["status"] == "ok"]
            if field and len(values) > 1:
                best[field] = max(values) if higher else min(values)
        for i, row in enumerate(group):
            mode = row["mode"] if row.get("precision") in (None, "fp32") else f"{row['mode']} {row['precision']}"
            cells = [workload if i == 0 else "", row["backend"], mode,
                     row["status"] if row["status"] == "ok" else f"[red]{row['status']}[/red]"]
            for _, field, fmt, _ in _COLUMNS:
                if field is None:
                    cells.append(_ci(row))
                    continue
                text = _fmt(field, fmt, row.get(field))
                cells.append(f"[bold green]{text}[/bold green]" if field in best and row.get(field) == best[field]
                             else text)
            table.add_row(*cells)
        table.add_section()
    return table


def print_table(rows: Sequence[dict[str, Any]], title: str, console: Console | None = None) -> None:
    (console or Console()).print(comparison_table(rows, title))


def print_verdicts(found: Sequence[dict[str, Any]], console: Console, history_n: int, quiet: bool = False) -> None:
    """Regressions first (red), then improvements; 'ok', 'baseline' (too little history to judge)
    and 'new' cells are counted, not listed."""
    flagged = [v for v in found if v["verdict"] in ("regression", "improvement")]
    counts = {k: sum(v["verdict"] == k for v in found) for k in ("regression", "improvement", "ok", "baseline", "new")}
    console.print(f"nightly: {history_n} comparable earlier runs; " + ", ".join(f"{n} {k}" for k, n in counts.items()))
    if not flagged:
        return
    table = Table(title="nightly verdicts (regression when |log(current / baseline)| > "
                        "max(log(1 + floor), 4 × the cell's noise))")
    for header in ("cell", "metric", "current", "baseline", "change", "regress at", "p", "verdict"):
        table.add_column(header, justify="left" if header in ("cell", "metric", "verdict") else "right")
    for v in sorted(flagged, key=lambda v: v["verdict"] != "regression"):
        color = "red" if v["verdict"] == "regression" else "green"
        change = "–" if v["change_rel"] is None else f"{v['change_rel']:+.1%}"
        threshold = "–" if v.get("regress_at") is None else f"{v['regress_at']:+.1%}"
        p = "–" if v["p_value"] is None else f"{v['p_value']:.3f}"
        fmt = "{:,.4g}"
        current = fmt.format(v["current"]) if isinstance(v["current"], float | int) else str(v["current"])
        baseline = fmt.format(v["baseline"]) if isinstance(v["baseline"], float | int) else str(v["baseline"])
        table.add_row(v["key"], v["metric"], current, baseline, change, threshold, p,
                      f"[{color}]{v['verdict']}[/{color}]")
    if not quiet or any(v["verdict"] == "regression" for v in flagged):
        console.print(table)
