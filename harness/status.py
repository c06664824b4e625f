"""Typed end states of a cell; a failure is a result, recorded with its kind."""

from __future__ import annotations

OK = "ok"
FAILED = "failed"
OOM = "oom"
TIMEOUT = "timeout"
CRASHED = "crashed"
DIVERGED = "diverged"
SKIPPED = "skipped"

STATUSES = (OK, FAILED, OOM, TIMEOUT, CRASHED, DIVERGED, SKIPPED)
GOOD = (OK, SKIPPED)
"""A run whose cells all end in one of these exits 0."""

_OOM_MARKERS = ("out of memory", "resource_exhausted", "resourceexhausted", "oom when allocating",
                "failed to allocate", "cuda error: out of memory")


def looks_like_oom(exc: BaseException) -> bool:
    """True for MemoryError and the frameworks' own out-of-memory errors (by type name or message)."""
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__.lower()
    text = str(exc).lower()
    return "outofmemory" in name or "resourceexhausted" in name or any(m in text for m in _OOM_MARKERS)
