"""The parity table: each backend against the numpy reference, then every pair of backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

COLUMNS = ("workload", "pair", "params", "out max|Δ|", "tol", "SGD loss rel", "opt loss rel", "SGD Δw rel",
           "opt Δw rel", "verdict")
"""Headers; the figures are the row's output_max_abs, output_tol, loss_*_max_rel and weights_*_max_rel."""


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def _verdict(row: dict[str, Any]) -> str:
    """agree, or DIFFER with the failed checks (and the error, if any)."""
    if row["ok"]:
        return "[green]agree[/green]"
    checks = ", ".join(row.get("failed", []))
    return f"[red]DIFFER[/red] {checks} {row.get('error', '')[:80]}".rstrip()


def parity_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The rows of one parity check as a console table."""
    table = Table(title="parity: same random weights → same outputs, losses and trained weights (fp32)")
    for header in COLUMNS:
        table.add_column(header, justify="right" if header not in ("workload", "pair", "verdict") else "left")
    last = None
    for row in rows:
        params = "–"
        if "params_a" in row:
            same = row["params_a"] == row["params"] == row["params_b"]
            params = f"{row['params']:,}" if same else f"{row['params_a']:,} ≠ {row['params_b']:,}"
        table.add_row(row["workload"] if row["workload"] != last else "", f"{row['a']} ↔ {row['b']}", params,
                      _num(row.get("output_max_abs"), "{:.1e}"), _num(row.get("output_tol"), "{:.0e}"),
                      _num(row.get("loss_sgd_max_rel"), "{:.1e}"), _num(row.get("loss_task_max_rel"), "{:.1e}"),
                      _num(row.get("weights_sgd_max_rel"), "{:.1e}"), _num(row.get("weights_task_max_rel"), "{:.1e}"),
                      _verdict(row))
        last = row["workload"]
    return table
