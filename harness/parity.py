"""Parity, the proof: the same weights give the same outputs and the same training losses in every backend.

Tolerances (fp32 everywhere, dropout off):
- outputs: max |a - b| <= 1e-4 * max(1, max |reference|). fp32 carries ~7 digits; summation order differs per
  framework (oneDNN, Eigen, XLA), and a 2-layer LSTM over 28 steps or two attention blocks accumulate ~1e-6..1e-5
  relative error, so 1e-4 of the output scale separates rounding from a real difference (a wrong gate order, eps or
  flatten order gives differences of 1e-2 or more).
- losses: |a - b| <= 1e-3 * max(|a|, |b|) at each of 10 steps, for plain SGD and for the task's own optimizer.
- parameter counts: equal to the spec's count, exactly.
"""

from __future__ import annotations

import itertools
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from backends.registry import get_backend
from harness.launch import finish, start_module
from harness.parity_worker import parity_inputs
from suites.params import init_weights, param_count
from suites.reference import forward
from suites.registry import get_workload

OUTPUT_RTOL = 1e-4
LOSS_RTOL = 1e-3
REFERENCE = "numpy-reference"


def collect(backends: list[str], workloads: list[str], timeout_s: float = 900) -> dict[str, dict[str, Any]]:
    """Each backend's parity results, from one fresh process per backend (run side by side)."""
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp:
        procs = {}
        for backend in backends:
            out, err = Path(tmp, f"{backend}.json"), Path(tmp, f"{backend}.err")
            procs[backend] = (start_module("harness.parity_worker", [backend, get_backend(backend).default_mode,
                                                                     str(out), *workloads], err), out, err)
        results: dict[str, dict[str, Any]] = {}
        for backend, (proc, out, err) in procs.items():
            code = finish(proc, timeout_s)
            if out.exists():
                results[backend] = json.loads(out.read_text())
            else:
                tail = err.read_text(errors="replace")[-1500:]
                results[backend] = {w: {"error": f"parity worker exited {code}: {tail}"} for w in workloads}
        return results

def reference_outputs(workload: str) -> np.ndarray:
    """The float64 numpy reference's outputs on the parity batch."""
    model, task, x_eval, _, _ = parity_inputs(workload)
    return forward(model, init_weights(model, task.seed), x_eval)


def _max_rel(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)))


def compare_workload(workload: str, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair (each backend against the reference, then every backend pair)."""
    expected = param_count(get_workload(workload).model)
    ref = reference_outputs(workload)
    scale = max(1.0, float(np.max(np.abs(ref))))
    rows = []
    names = list(results)
    pairs = [(REFERENCE, b) for b in names] + list(itertools.combinations(names, 2))
    for a, b in pairs:
        ra = {"outputs": ref.tolist(), "params_native": expected} if a == REFERENCE else results[a][workload]
        rb = results[b][workload]
        row: dict[str, Any] = {"workload": workload, "a": a, "b": b, "params": expected}
        if "error" in ra or "error" in rb:
            row.update(ok=False, error=ra.get("error") or rb.get("error"))
            rows.append(row)
            continue
        out_diff = float(np.max(np.abs(np.asarray(ra["outputs"]) - np.asarray(rb["outputs"]))))
        row.update(params_a=ra["params_native"], params_b=rb["params_native"], output_max_abs=out_diff,
                   output_tol=OUTPUT_RTOL * scale)
        ok = ra["params_native"] == expected == rb["params_native"] and out_diff <= OUTPUT_RTOL * scale
        if a != REFERENCE:
            row["loss_sgd_max_rel"] = _max_rel(ra["losses_sgd"], rb["losses_sgd"])
            row["loss_task_max_rel"] = _max_rel(ra["losses_task"], rb["losses_task"])
            ok = ok and row["loss_sgd_max_rel"] <= LOSS_RTOL and row["loss_task_max_rel"] <= LOSS_RTOL
        row["ok"] = bool(ok)
        rows.append(row)
    return rows


def check(backends: list[str], workloads: list[str]) -> list[dict[str, Any]]:
    """Collect and compare: every parity row for the given backends and workloads."""
    results = collect(backends, workloads)
    return [row for w in workloads for row in compare_workload(w, results)]
