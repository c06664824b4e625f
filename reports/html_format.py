"""Formatting and record helpers of the HTML report (used only by reports.html and reports.findings)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Sequence
from typing import Any

BACKEND_ORDER = ("torch", "tensorflow", "jax")


def _num(value: Any, digits: int = 3) -> str:
    """A number for a table: thousands separators for big values, `digits` significant figures for small ones."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def _mib(value: Any) -> str:
    return "–" if value is None else f"{value / 2**20:,.0f}"


def _pct(value: Any) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


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


def _backend_key(backend: str | None) -> tuple[int, str]:
    return (BACKEND_ORDER.index(backend), "") if backend in BACKEND_ORDER else (len(BACKEND_ORDER), backend or "")


def _cell(record: dict[str, Any]) -> dict[str, Any]:
    return record.get("cell") or {}


def _workload(record: dict[str, Any]) -> str:
    return str(_cell(record).get("workload"))


def _sorted(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(records, key=lambda r: (_backend_key(_cell(r).get("backend")), str(_cell(r).get("mode")),
                                          str(_cell(r).get("precision"))))


def _ok(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r.get("status") == "ok"]
def _sci(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}e}"


_METRIC_FMT: dict[str, Callable[[Any], str]] = {
    "host_peak_bytes": lambda v: f"{_mib(v)} MiB", "accuracy": lambda v: _pct(v), "r2": lambda v: _num(v, 4),
}


def _fmt_metric(metric: str, value: Any) -> str:
    if value is None or isinstance(value, str):
        return "–" if value is None else value
    return _METRIC_FMT.get(metric, _num)(value)
