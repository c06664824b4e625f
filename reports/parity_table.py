"""The parity table: each backend against the numpy reference, then every pair of backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def parity_table(rows: Sequence[dict[str, Any]]) -> Table:
    table = Table(title="parity: same weights → same outputs and losses (fp32, dropout off)")
    for header in ("workload", "pair", "params", "out max|Δ|", "tol", "SGD loss rel", "task-opt loss rel", "verdict"):
        table.add_column(header, justify="right" if header not in ("workload", "pair", "verdict") else "left")
    last = None
    for row in rows:
        params = "–"
        if "params_a" in row:
            same = row["params_a"] == row["params"] == row["params_b"]
            params = f"{row['params']:,}" if same else f"{row['params_a']:,} ≠ {row['params_b']:,}"
        verdict = "[green]agree[/green]" if row["ok"] else f"[red]DIFFER[/red] {row.get('error', '')[:80]}"
        table.add_row(row["workload"] if row["workload"] != last else "", f"{row['a']} ↔ {row['b']}", params,
                      _num(row.get("output_max_abs"), "{:.1e}"), _num(row.get("output_tol"), "{:.0e}"),
                      _num(row.get("loss_sgd_max_rel"), "{:.1e}"), _num(row.get("loss_task_max_rel"), "{:.1e}"),
                      verdict)
        last = row["workload"]
    return table
