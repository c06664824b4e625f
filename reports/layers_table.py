"""The layer coverage table: each neutral layer kind, its reference and FLOP rule, and which backends build it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.table import Table

from suites.layers import LAYER_TYPES, Primitive
from suites.reference import REFERENCE


def flop_rule(kind: str) -> str:
    """'counted' when the layer defines its FLOPs, else '0 (no matmul)': only matmuls and convolutions count."""
    own = LAYER_TYPES[kind].forward_flops is not Primitive.forward_flops
    return "counted" if own else "0 (no matmul)"


def coverage_rows(probed: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per layer kind: reference present, FLOP rule, and per backend True / False / None (unknown)."""
    rows = []
    for kind, cls in LAYER_TYPES.items():
        backends = {name: (kind in result["kinds"]) if "kinds" in result else None for name, result in probed.items()}
        rows.append({"kind": kind, "layer": cls.__name__, "reference": kind in REFERENCE, "flops": flop_rule(kind),
                     "backends": backends})
    return rows


def layers_table(probed: Mapping[str, Mapping[str, Any]]) -> Table:
    """The coverage rows as a console table; a backend that could not answer says why below it."""
    table = Table(title="neutral layers by backend (✓ builds it, – lacks it: that cell is skipped)")
    for header in ("kind", "layer", "reference", "FLOPs", *probed):
        table.add_column(header)
    for row in coverage_rows(probed):
        marks = ["?" if ok is None else "✓" if ok else "[red]–[/red]" for ok in row["backends"].values()]
        table.add_row(row["kind"], row["layer"], "✓" if row["reference"] else "[red]–[/red]", row["flops"], *marks)
    unknown = [f"{name}: {result['error']}" for name, result in probed.items() if "kinds" not in result]
    if unknown:
        table.caption = "; ".join(unknown)
    return table
