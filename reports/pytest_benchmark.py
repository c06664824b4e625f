"""Export a run in pytest-benchmark's JSON format, so `pytest-benchmark compare` and its gates work on our results.

Each ok cell gives two benchmarks, '<workload>[<backend>-<mode>-<precision>-train]' and '...-infer]', grouped by
workload and phase. pytest-benchmark measures seconds per call: here one call is one step on a batch, and each
round is one of the cell's timed trials (seconds per step = batch size / samples per second of that trial).
"""

from __future__ import annotations

import platform
from typing import Any

import numpy as np

VERSION = "5.1.0"


def _stats(seconds: list[float], iterations: int) -> dict[str, Any]:
    data = np.asarray(seconds, float)
    q1, median, q3 = (float(v) for v in np.percentile(data, [25, 50, 75]))
    iqr = q3 - q1
    mean, std = float(data.mean()), float(data.std(ddof=1)) if len(data) > 1 else 0.0
    lo, hi = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    inside = data[(data >= lo) & (data <= hi)]
    iqr_out = int(((data < lo) | (data > hi)).sum())
    std_out = int((np.abs(data - mean) > std).sum()) if std else 0
    return {"min": float(data.min()), "max": float(data.max()), "mean": mean, "stddev": std, "rounds": len(data),
            "median": median, "iqr": iqr, "q1": q1, "q3": q3,
            "iqr_outliers": iqr_out, "stddev_outliers": std_out, "outliers": f"{std_out};{iqr_out}",
            "ld15iqr": float(inside.min()) if len(inside) else float(data.min()),
            "hd15iqr": float(inside.max()) if len(inside) else float(data.max()),
            "ops": 1.0 / mean if mean else 0.0, "total": float(data.sum() * iterations), "data": data.tolist(),
            "iterations": iterations}


def to_pytest_benchmark(run: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """A pytest-benchmark JSON document of a run's ok cells."""
    benchmarks = []
    for record in records:
        if record.get("status") != "ok":
            continue
        cell = record["cell"]
        for phase in ("train", "infer"):
            timing = record["timing"][phase]
            if not timing.get("raw"):
                continue
            per_step = [timing["batch_size"] / rate for rate in timing["raw"]]
            name = f"{cell['workload']}[{cell['backend']}-{cell['mode']}-{cell['precision']}-{phase}]"
            benchmarks.append({
                "group": f"{cell['workload']}-{phase}", "name": name, "fullname": f"run_bench::{name}",
                "params": {"backend": cell["backend"], "mode": cell["mode"], "precision": cell["precision"],
                           "phase": phase},
                "param": f"{cell['backend']}-{cell['mode']}-{cell['precision']}-{phase}",
                "extra_info": {"samples_per_s_median": timing["median"], "batch_size": timing["batch_size"],
                               "spec_hash": record.get("spec_hash"), "status": record["status"]},
                "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": len(per_step),
                            "max_time": None, "min_time": None, "precision": None, "confidence": None, "warmup": True},
                "stats": _stats(per_step, int(timing.get("steps_per_trial") or 1)),
            })
    machine = (run.get("provenance") or {}).get("machine") or {}
    return {
        "machine_info": {"node": machine.get("hostname", platform.node()), "processor": machine.get("cpu_model", ""),
                         "machine": platform.machine(), "python_implementation": platform.python_implementation(),
                         "python_version": machine.get("python", platform.python_version()),
                         "cpu": {"brand_raw": machine.get("cpu_model", ""), "count": machine.get("cpu_logical")}},
        "commit_info": {"id": (run.get("provenance") or {}).get("git_sha") or "unversioned",
                        "dirty": bool((run.get("provenance") or {}).get("git_dirty")), "project": "framework-bench",
                        "branch": "(unknown)", "time": run.get("started_at")},
        "benchmarks": benchmarks, "datetime": run.get("started_at"), "version": VERSION,
    }
