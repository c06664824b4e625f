"""The shape of a run's output, values left out: export columns, non-empty fields and record key paths per cell."""

from __future__ import annotations

from typing import Any

from reports.flat import FIELDS, flatten


def record_paths(data: Any, prefix: str = "") -> set[str]:
    """Every key path in a nested record ('timing.train.median'); lists are leaves."""
    if not isinstance(data, dict):
        return {prefix} if prefix else set()
    paths = set()
    for key, value in data.items():
        paths |= record_paths(value, f"{prefix}.{key}" if prefix else str(key))
    return paths


def shape(records: list[dict[str, Any]]) -> dict[str, Any]:
    """{'fields': export columns, 'cells': {key: {'export': non-empty fields, 'record': key paths}}}."""
    return {"fields": list(FIELDS), "cells": {
        r["key"]: {"export": sorted(k for k, v in flatten(r).items() if v is not None),
                   "record": sorted(record_paths(r))} for r in records}}
