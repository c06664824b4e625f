"""Stored cell records and parity rows brought up to date (no database code: cell workers import this)."""

from __future__ import annotations

from typing import Any

RECORD_SCHEMA = 2
"""v1 → v2: an NVIDIA GPU is device "cuda" in every backend (TensorFlow and JAX v1 records said "gpu")."""


def upgrade_record(record: dict[str, Any], schema: int) -> dict[str, Any]:
    """A stored record brought up to RECORD_SCHEMA (newer ones are refused)."""
    if schema > RECORD_SCHEMA:
        raise ValueError(f"record schema {schema} is newer than this code ({RECORD_SCHEMA}): update the suite")
    device_info = record.get("device_info")
    if schema < 2 and isinstance(device_info, dict) and device_info.get("device") == "gpu":
        record = {**record, "device_info": {**device_info, "device": "cuda"}}
    return {**record, "schema_version": RECORD_SCHEMA} if schema < RECORD_SCHEMA else record


def parity_row_v4(row: dict[str, Any], git_sha: str | None) -> dict[str, Any]:
    """A parity row with its configuration: a pre-v4 row was fp32 on CPU in each backend's default mode (None)."""
    cpu = {k: "cpu" for k in ("a", "b") if row.get(k) and not str(row[k]).endswith("-reference")}
    defaults = {"git_sha": git_sha, "precision": "fp32", "mode_a": None, "mode_b": None,
                "device_a": cpu.get("a"), "device_b": cpu.get("b")}
    return {**defaults, **row}
