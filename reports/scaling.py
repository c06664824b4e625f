"""The scaling view: a sweep's sizes per backend and mode, by parameter count: tokens/s, achieved FLOP/s, MFU, compile
time, and the spec's memory estimate against the measured peak; what was skipped, and why (the sizes left for bigger
machines). Rows come from flat records only; rendered as a rich table, markdown or (reports.plots.scaling) charts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from reports.flat import dig, flatten, measured_for_estimate
from reports.formats import COUNT, FIXED2, MISSING, Format
from reports.palette import backend_key

FIELDS = ("sweep", "workload", "params", "backend", "mode", "precision", "device", "status", "train_tokens_per_s",
          "infer_tokens_per_s", "achieved_flops_per_s", "mfu", "mfu_reason", "compile_s", "memory_estimate_bytes",
          "measured_bytes", "memory_estimate_ratio", "host_peak_bytes", "device_peak_bytes", "reason")
"""One scaling row: a cell of a sweep; `measured_bytes` is what the estimate is compared with (flat's rule)."""


def _short_reason(row: dict[str, Any], record: dict[str, Any]) -> str | None:
    """Why a cell has no figures: 'time budget', 'memory' (its estimate over the limit) or the error type, else
    None."""
    if row["status"] == "ok":
        return None
    if record.get("time_budget"):
        return "time budget"
    error = record.get("error") or {}
    if dig(record, "memory_estimate", "fits") is False:
        return "memory"
    return str(error.get("type") or row["status"])


def scaling_rows(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows of every record that belongs to a sweep, by sweep, backend, mode, precision and parameter count."""
    rows = []
    for record in records:
        if not record.get("sweep"):
            continue
        flat = flatten(record)
        row = {name: flat.get(name) for name in FIELDS}
        row["measured_bytes"] = measured_for_estimate(record)
        row["reason"] = _short_reason(row, record)
        row["message"] = dig(record, "error", "message")
        rows.append(row)
    return sorted(rows, key=lambda r: (r["sweep"], backend_key(r["backend"]), str(r["mode"]), str(r["precision"]),
                                       r["params"] or 0))


def left_for_bigger_machines(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Each size that was skipped in some cell, with the reason(s): what this machine left for a bigger one."""
    left: dict[str, set[str]] = {}
    for row in rows:
        if row["status"] == "skipped":
            left.setdefault(row["workload"], set()).add(row["reason"] or "skipped")
    return {size: ", ".join(sorted(reasons)) for size, reasons in left.items()}


def left_text(rows: Sequence[dict[str, Any]]) -> str:
    """The sizes left for bigger machines as one line's text, 'a (why); b (why)', or '' when none was left."""
    return "; ".join(f"{size} ({why})" for size, why in left_for_bigger_machines(rows).items())


def _params(value: int | None) -> str:
    """A parameter count as 0.92 M / 1.48 B."""
    if value is None:
        return MISSING
    return f"{value / 1e9:.2f} B" if value >= 1e9 else f"{value / 1e6:.2f} M"


GIB = Format(lambda value: f"{value / 2**30:.2f}")
"""Bytes in GiB with two decimals (the sizes run from 0.05 to 27 GiB)."""
GFLOPS = Format(lambda value: f"{value / 1e9:,.1f}")
"""FLOP/s in GFLOP/s with one decimal."""
PERCENT = Format(lambda value: f"{100 * value:.2f}")
"""A fraction as a percentage, two decimals, no sign (the column says %)."""


def cells(row: dict[str, Any]) -> list[str]:
    """The row as table text, in HEADERS' order."""
    status = row["status"] if row["status"] == "ok" else f"{row['status']}: {row['reason']}"
    return [row["workload"], _params(row["params"]), f"{row['backend']}/{row['mode']}", status,
            COUNT(row["train_tokens_per_s"]), COUNT(row["infer_tokens_per_s"]), GFLOPS(row["achieved_flops_per_s"]),
            PERCENT(row["mfu"]), FIXED2(row["compile_s"]), GIB(row["memory_estimate_bytes"]),
            GIB(row["measured_bytes"]), FIXED2(row["memory_estimate_ratio"])]


HEADERS = ("size", "params", "backend/mode", "status", "train tok/s", "infer tok/s", "train GFLOP/s", "MFU %",
           "compile s", "est. GiB", "meas. GiB", "meas./est.")


def scaling_table(rows: Sequence[dict[str, Any]]) -> Table:
    """All sweep rows as one rich table (sizes in parameter order within each backend and mode)."""
    table = Table(title="scaling (meas. = device peak, else the host RSS the cell added)")
    for header in HEADERS:
        left = header in ("size", "backend/mode", "status")
        table.add_column(header, justify="left" if left else "right", no_wrap=left)
    last = None
    for row in rows:
        key = (row["backend"], row["mode"], row["precision"])
        if last is not None and key != last:
            table.add_section()
        last = key
        table.add_row(*cells(row))
    return table


def scaling_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """The same table in markdown, then the sizes left for bigger machines."""
    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    left = left_text(rows)
    if left:
        lines += ["", f"Left for bigger machines: {left}."]
    return "\n".join(lines)
