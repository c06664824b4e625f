"""Shared vocabulary and validation helpers of the layer primitives: one SpecError per bad field."""

from __future__ import annotations

import math

from suites.errors import SpecError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "gelu_tanh")
"""Activations every backend implements; gelu is the exact (erf) form everywhere, gelu_tanh the tanh approximation
0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) (GPT-2's)."""

PADDINGS = ("valid", "same")

Shape = tuple[int, ...]


def require(ok: bool, owner: str, field: str, allowed: str) -> None:
    """Raise SpecError('<owner>.<field>: must be <allowed>') unless `ok`."""
    if not ok:
        raise SpecError(f"{owner}.{field}: must be {allowed}")


def positive(owner: str, field: str, value: object) -> None:
    """`value` must be a positive int (not a bool)."""
    require(isinstance(value, int) and not isinstance(value, bool) and value > 0, owner, field,
            f"a positive integer, got {value!r}")


def check_activation(owner: str, value: str | None) -> None:
    """`value` must be one of ACTIVATIONS or None."""
    require(value is None or value in ACTIVATIONS, owner, "activation",
            f"one of {', '.join(ACTIVATIONS)} or None, got {value!r}")


def rank(owner: str, shape: Shape, expected: int, what: str) -> None:
    """A per-sample input shape must have `expected` axes."""
    if len(shape) != expected:
        raise SpecError(f"{owner}: expects {what} (rank {expected} per sample), got shape {shape}")


def within_length(owner: str, shape: Shape, max_len: int) -> None:
    """A per-sample (T, D) sequence no longer than `max_len`."""
    rank(owner, shape, 2, "(T, D)")
    if shape[0] > max_len:
        raise SpecError(f"{owner}: sequence length {shape[0]} exceeds max_len {max_len}")


def window_out(size: int, window: int, stride: int, padding: str) -> int:
    """Output length of a sliding window ('same' keeps ceil(size / stride))."""
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1
