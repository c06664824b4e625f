"""The size sweep every backend's peak GEMM probe shares (framework-free): warm-up, best of N, within a time budget."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from common.clock import best_seconds

CPU_SIZES = (512, 1024, 2048)
"""Square GEMM sizes tried on a CPU, smallest first (a 2-core CPU does a 2048² float32 GEMM in ~0.1 s)."""
GPU_SIZES = (4096, 8192)
"""Square GEMM sizes tried on a GPU (8192² is large enough to saturate an H100-class GPU's tensor cores)."""
REPEATS = 5
WARMUP = 2
MIN_SIZES = 2
"""Sizes always measured, whatever the budget: a loaded machine's slow first size must not end the sweep there."""
CPU_BUDGET_S = 1.5
"""A CPU sweep stops before a size whose estimated cost would take it past this (slow bf16 kernels stay quick)."""
GPU_BUDGET_S = 5.0


def sweep(make_run: Callable[[int], Callable[[], None]], on_gpu: bool) -> dict[str, Any]:
    """Best square-GEMM rate over the device's sizes: `make_run(n)` allocates n×n operands and returns a call that
    runs one n×n @ n×n product and synchronises. {'peak_flops_per_s', 'n', 'rates_by_n', 'sweep'}."""
    sizes, budget_s = (GPU_SIZES, GPU_BUDGET_S) if on_gpu else (CPU_SIZES, CPU_BUDGET_S)
    start = time.perf_counter()
    rates: dict[int, float] = {}
    for i, n in enumerate(sizes):
        seconds = best_seconds(make_run(n), repeats=REPEATS, warmup=WARMUP)
        rates[n] = 2 * n**3 / seconds
        if i + 1 < len(sizes) and i + 1 >= MIN_SIZES:
            next_cost_s = seconds * (sizes[i + 1] / n) ** 3 * (REPEATS + WARMUP)
            if time.perf_counter() - start + next_cost_s > budget_s:
                break
    best_n = max(rates, key=rates.__getitem__)
    return {"peak_flops_per_s": rates[best_n], "n": best_n, "rates_by_n": {str(k): v for k, v in rates.items()},
            "sweep": f"n in {sizes[:len(rates)]} (best n={best_n}), {WARMUP} warm-up, best of {REPEATS} synchronised"}


def peak_result(framework: str, version: str, kernel: str, precision: str, swept: dict[str, Any],
                **extra: Any) -> dict[str, Any]:
    """The plain dict every probe returns: rate, method (kernel and sweep), framework and version, precision."""
    return {**swept, "method": f"{framework} {version}: {kernel}, {swept['sweep']}", "framework": framework,
            "framework_version": version, "precision": precision, **extra}
