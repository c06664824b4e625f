"""This machine's measured matmul peak (float32 GEMM), measured once per machine and cached: the MFU denominator."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from common.clock import best_seconds, now_iso
from harness.env import machine_key
from suites.data.cache import cache_dir

SIZES = (512, 1024, 2048)
REPEATS = 10


def measure_cpu_peak() -> dict[str, Any]:
    """Best float32 GEMM FLOP/s over a few sizes (numpy's BLAS, all cores)."""
    rng = np.random.default_rng(0)
    rates = {}
    for n in SIZES:
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        rates[n] = 2 * n**3 / best_seconds(lambda a=a, b=b: a @ b, repeats=REPEATS)
    best_n = max(rates, key=rates.__getitem__)
    best = rates[best_n]
    return {"peak_flops_per_s": best, "method": f"numpy float32 GEMM, best of {REPEATS} at n in {SIZES} (n={best_n})",
            "numpy": np.__version__, "measured_at": now_iso()}


def cpu_peak(refresh: bool = False) -> dict[str, Any]:
    """The cached CPU peak of this machine, measured on first use (or again with refresh=True)."""
    path = cache_dir() / f"cpu_peak_{machine_key()}.json"
    if path.exists() and not refresh:
        return json.loads(path.read_text())
    peak = measure_cpu_peak()
    path.write_text(json.dumps(peak))
    return peak
