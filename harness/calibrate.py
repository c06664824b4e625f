"""This machine's measured matmul peak (float32 GEMM), measured once per machine and cached: the MFU denominator."""

from __future__ import annotations

import json
import time
from typing import Any

import numpy as np

from harness.env import machine_key, now_iso
from suites.data.cache import cache_dir

SIZES = (512, 1024, 2048)
REPEATS = 10


def measure_cpu_peak() -> dict[str, Any]:
    """Best float32 GEMM FLOP/s over a few sizes (numpy's BLAS, all cores)."""
    best, best_n = 0.0, 0
    rng = np.random.default_rng(0)
    for n in SIZES:
        a, b = rng.standard_normal((n, n), np.float32), rng.standard_normal((n, n), np.float32)
        a @ b  # warm-up
        for _ in range(REPEATS):
            start = time.perf_counter()
            a @ b
            rate = 2 * n**3 / (time.perf_counter() - start)
            if rate > best:
                best, best_n = rate, n
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
