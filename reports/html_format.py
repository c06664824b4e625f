"""Dates and record helpers of the HTML report, its sections, findings and charts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from reports.palette import backend_key


def _when(stamp: str | None) -> str:
    if not stamp:
        return "–"
    try:
        return dt.datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    except ValueError:
        return stamp


def _short_when(stamp: str | None, fallback: str) -> str:
    try:
        return dt.datetime.fromisoformat(stamp or "").strftime("%m-%d %H:%M")
    except ValueError:
        return fallback[:13]


def _duration(start: str | None, end: str | None) -> str | None:
    try:
        seconds = (dt.datetime.fromisoformat(end or "") - dt.datetime.fromisoformat(start or "")).total_seconds()
    except ValueError:
        return None
    return f"{seconds / 60:.1f} min" if seconds >= 120 else f"{seconds:.0f} s"


def _cell(record: dict[str, Any]) -> dict[str, Any]:
    return record.get("cell") or {}


def _workload(record: dict[str, Any]) -> str:
    return str(_cell(record).get("workload"))


def cell_label(record: dict[str, Any]) -> str:
    """backend/mode (plus precision when it is not fp32): the name of a cell within its workload."""
    cell = _cell(record)
    name = f"{cell.get('backend')}/{cell.get('mode')}"
    return name if cell.get("precision") in (None, "fp32") else f"{name}/{cell.get('precision')}"


def _sorted(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (backend_key(_cell(r).get("backend")), str(_cell(r).get("mode")),
                                          str(_cell(r).get("precision"))))


def _ok(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok"]
