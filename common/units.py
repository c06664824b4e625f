"""Unit conversions used wherever a figure is shown."""

from __future__ import annotations

BYTES_PER_MIB = 2**20


def mib(value_bytes: float | None) -> float | None:
    """Bytes as MiB (None stays None)."""
    return None if value_bytes is None else value_bytes / BYTES_PER_MIB
