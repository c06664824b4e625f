"""Parity, the proof: the same weights give the same outputs, training losses and trained weights in every backend.

Weights: the seeded initialisation plus N(0, 0.1) on every array (parity_worker.parity_weights), so biases are not 0
and norm scales not 1, and a swapped bias, scale or offset shows. Tolerances (fp32 everywhere), each set from the
unmutated maximum measured on the 8 offline workloads x 3 backends (torch 2.13, Keras 3.15, Flax 0.12; CPU):
- outputs (eval mode, the model as specified, dropout layers included: eval must not drop): max |a - b| <= 1e-4 *
  max(1, max |reference|). Measured: at most 5.5e-6 absolute (keras_cnn), 1e-2 of the tolerance or less. A wrong
  gate order, eps, flatten order or swapped bias gives 1e-3 or more.
- losses: |a - b| <= 5e-3 * max(|a|, |b|) at each of 10 steps, for plain SGD (lr 0.05) and the task's optimizer,
  dropout off. Measured: at most 1.3e-3 (keras_cnn, torch vs the others, Adam, steps 8-10), a margin of ~4x; then
  2.5e-4 (mnist_cnn, tensorflow vs the others, SGD); the other 6 workloads stay below 6e-6. From random weights
  training is chaotic: a 1e-6 difference grows to 1e-3 within a few steps once some ReLU or max-pool decision flips
  (torch's Adam differs from Optax and Keras by ~6e-6 per update, consistent with its bias correction using beta2 in
  float64 where they round it to float32).
- trained weights, after each of those two runs: the median, over every weight either backend moved, of
  |Δa - Δb| / max(|Δa|, |Δb|) with Δ = trained - initial <= 1e-3. Measured: at most 4.4e-4 (keras_cnn, torch, Adam:
  the same chaos), else 7e-5 or less: a margin of ~2.3x (14x without keras_cnn). Adam beta2 0.999 -> 0.99 gives
  2.5e-3..9e-3 (>= 2.5x the tolerance) on the 7 Adam workloads. A median, not a maximum: Adam moves every weight by
  ~lr whatever its gradient's size, so a weight whose gradient is rounding noise (the attention key bias has an
  exactly-zero true gradient) flips sign between frameworks, and a few such weights must not decide; a bug confined
  to few weights is left to outputs and losses.
- parameter counts: equal to the spec's count, exactly.
Losses and trained weights compare backend pairs; the float64 numpy reference has outputs only.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from backends.registry import get_backend
from harness.launch import finish, start_module
from harness.parity_worker import RUNS, ParityCase, parity_case, read_results
from suites.params import param_count
from suites.reference import forward

OUTPUT_RTOL = 1e-4
LOSS_RTOL = 5e-3
WEIGHT_RTOL = 1e-3
REFERENCE = "numpy-reference"
CHECKS = ("params", "outputs", "losses", "weights")
"""What a row compares: parameter counts, eval outputs, loss curves, trained weights (the last two: pairs only)."""


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
                results[backend] = read_results(out)
            else:
                tail = err.read_text(errors="replace")[-1500:]
                results[backend] = {w: {"error": f"parity worker exited {code}: {tail}"} for w in workloads}
        return results


def reference_outputs(case: ParityCase) -> np.ndarray:
    """The float64 numpy reference's eval outputs for the case's parity weights and batch."""
    return forward(case.model, case.weights, case.x_eval)


def _max_rel(a: list[float], b: list[float]) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(x - y) / np.maximum(np.maximum(np.abs(x), np.abs(y)), 1e-12)))


def update_rel(initial: dict[str, np.ndarray], a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """The median, over every weight either backend moved, of |Δa - Δb| / max(|Δa|, |Δb|), Δ = trained - initial."""
    rel = []
    for name, start in initial.items():
        w0 = np.asarray(start, np.float64)
        da, db = np.asarray(a[name], np.float64) - w0, np.asarray(b[name], np.float64) - w0
        scale = np.maximum(np.abs(da), np.abs(db))
        moved = scale > 0.0
        rel.append(np.abs(da - db)[moved] / scale[moved])
    every = np.concatenate(rel) if rel else np.zeros(0)
    return float(np.median(every)) if every.size else 0.0


def _compare_training(row: dict[str, Any], case: ParityCase, ra: dict[str, Any], rb: dict[str, Any]) -> list[str]:
    """Fill the row's loss and weight figures; the names of the failed checks."""
    failed = []
    for run in RUNS:
        row[f"loss_{run}_max_rel"] = _max_rel(ra[f"losses_{run}"], rb[f"losses_{run}"])
        row[f"weights_{run}_max_rel"] = update_rel(case.weights, ra[f"weights_{run}"], rb[f"weights_{run}"])
    if max(row[f"loss_{run}_max_rel"] for run in RUNS) > LOSS_RTOL:
        failed.append("losses")
    if max(row[f"weights_{run}_max_rel"] for run in RUNS) > WEIGHT_RTOL:
        failed.append("weights")
    return failed


def compare_case(case: ParityCase, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per pair (each backend against the reference, then every backend pair); `failed` names the checks."""
    expected = param_count(case.model)
    ref = reference_outputs(case)
    scale = max(1.0, float(np.max(np.abs(ref))))
    rows = []
    names = list(results)
    pairs = [(REFERENCE, b) for b in names] + list(itertools.combinations(names, 2))
    for a, b in pairs:
        ra = {"outputs": ref, "params_native": expected} if a == REFERENCE else results[a][case.name]
        rb = results[b][case.name]
        row: dict[str, Any] = {"workload": case.name, "a": a, "b": b, "params": expected}
        if "error" in ra or "error" in rb:
            row.update(ok=False, failed=["error"], error=ra.get("error") or rb.get("error"))
            rows.append(row)
            continue
        out_diff = float(np.max(np.abs(np.asarray(ra["outputs"]) - np.asarray(rb["outputs"]))))
        row.update(params_a=ra["params_native"], params_b=rb["params_native"], output_max_abs=out_diff,
                   output_tol=OUTPUT_RTOL * scale)
        failed = [] if ra["params_native"] == expected == rb["params_native"] else ["params"]
        if not out_diff <= OUTPUT_RTOL * scale:
            failed.append("outputs")
        if a != REFERENCE:
            failed += _compare_training(row, case, ra, rb)
        row.update(ok=not failed, failed=failed)
        rows.append(row)
    return rows


def compare_workload(workload: str, results: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """compare_case for a registered workload's parity case."""
    return compare_case(parity_case(workload), results)


def check(backends: list[str], workloads: list[str]) -> list[dict[str, Any]]:
    """Collect and compare: every parity row for the given backends and workloads."""
    results = collect(backends, workloads)
    return [row for w in workloads for row in compare_workload(w, results)]
