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
Each fp32 side is also compared with the float64 reference training step (suites/reference_train.py: autograd through
the reference forward; harness/parity_reference.py defines the figures) from the parity weights on the same batches:
1 plain SGD step (lr 0.05; its gradient is (w0 - w1) / lr) and 3 Adam steps (the task's Adam, else lr 1e-3). Maxima
measured over the 8 offline workloads x 3 backends (torch 2.13, Keras 3.15, Flax 0.12; CPU; harness.parity.collect
of the three default modes, the rows' ref_* figures), tolerances 3.6-8x above:
- ref_losses (each of the 4 losses, relative) <= 5e-5. Measured: at most 6.4e-6 (text_transformer, TF and JAX).
- ref_gradient (per parameter, max error over max(|g_ref|, 1e-3 of the model's largest)) <= 3e-3. Measured: 6.1e-4
  (text_cnn, TensorFlow, the embedding table: float32 rounding of w1 divided by lr), else <= 4.2e-5.
- ref_weights (per parameter, median relative Adam update error over 3 steps; parameters with a true gradient below
  1e-3 of the largest are left out, e.g. the attention key bias) <= 2e-4. Measured: 5.6e-5 (tfidf_mlp, output bias).
  Adam beta2 0.99 gives 1.5e-3 and LayerNorm eps 1e-3 gives 4.6e-4 (torch, tests/test_parity_reference_mutations.py).
A bug shared by all three backends now fails these reference rows.
A model with running statistics (BatchNorm) is also compared in training mode and on its statistics after training
(harness/parity_state.py: train_outputs, state, ref_state); trained-weight figures cover trainable parameters only.
A workload that declares chaotic training (Workload.chaotic_training) is judged on what one step decides, its
multi-step figures shown unjudged, and the chaos proven on every run by a perturbed probe (harness/parity_chaos.py).

Modes, precisions, devices: every (backend, mode) asked is a side of its own (one process each); fp32 sides are
compared as above. bf16 cannot meet those tolerances (8 significand bits: rounding alone is ~4e-3), so a bf16 side is
compared with the fp32 references instead: its outputs with the numpy reference, its losses and trained weights with
its own fp32 run (same backend, mode and device), at these tolerances, each ~3x the unmutated maximum measured on the
8 offline workloads x 3 backends (torch 2.13, Keras 3.15, Flax 0.12; default modes, CPU; parity_worker.measure run
for fp32 and for bf16 on each parity case and compared as below):
- outputs <= 5e-2 * max(1, max |reference|). Measured: 2.1e-3 (tfidf_mlp, jax) .. 1.4e-2 (rowmnist_lstm, TensorFlow);
  fp32 on the same batches: <= 8.3e-7.
- losses <= 0.2 relative at each step. Measured: <= 1.6e-2 everywhere but mnist_cnn and keras_cnn under SGD
  (3.6e-2 .. 7.0e-2, TensorFlow mnist_cnn): bf16 rounding flips ReLU and max-pool decisions, the chaos above, larger.
- trained-weight median update <= 0.75. Measured: <= 7.2e-2 everywhere but mnist_cnn and keras_cnn under SGD
  (9.7e-2 .. 0.25, jax keras_cnn). A weak check: it catches an update lost or reversed, not a slightly wrong one.
So a bf16 row shows the bf16 path runs the same model without gross errors (meant for a loss or softmax overflowing
in bf16, a cast that drops a layer, an optimizer step lost to bf16 weights; no planted-bug test proves that yet): it
does not resolve 1e-3-sized mistakes; the fp32 rows of the same mode do.
"""

from __future__ import annotations

import itertools
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from backends.registry import get_backend
from harness import parity_chaos, parity_state
from harness.launch import finish, start_module
from harness.parity_reference import REF_CHECKS, adam_weights_rel, compare_reference, reference_training
from harness.parity_worker import RUNS, ParityCase, parity_case, read_results
from suites.params import param_count, split_state
from suites.reference import forward

OUTPUT_RTOL = 1e-4
LOSS_RTOL = 5e-3
WEIGHT_RTOL = 1e-3
REF_TOLERANCES = {"ref_losses": 5e-5, "ref_gradient": 3e-3, "ref_weights": 2e-4}
"""fp32 sides against the float64 reference training step (harness/parity_reference.py defines each figure)."""
BF16_OUTPUT_RTOL = 5e-2
BF16_LOSS_RTOL = 0.2
BF16_WEIGHT_RTOL = 0.75
"""bf16 against the fp32 references (see the module docstring for the measurements behind them)."""
PARITY_PRECISIONS = ("fp32", "bf16")
"""The precisions parity checks (tf32 is not checked: on CPU it is fp32 arithmetic, on a GPU it needs its own
measured tolerance)."""
REFERENCE = "numpy-reference"
FP32_REFERENCE = "fp32-reference"
"""bf16 rows compare a side with the numpy reference (outputs) and with its own fp32 run (losses, weights)."""
CHECKS = ("params", "outputs", "losses", "weights", *REF_CHECKS, *parity_state.CHECKS)
"""What a row compares: parameter counts, eval outputs, loss curves and trained weights (pairs), and the loss,
gradient and Adam-trained weights against the float64 reference training step (reference rows, fp32); with running
statistics, training-mode outputs and the statistics after training (parity_state)."""


def sides(backends: list[str], modes: list[str] | None) -> list[tuple[str, str]]:
    """(backend, mode) pairs: each backend's default mode, or the asked modes the backend has (as `run --modes`)."""
    out = []
    for backend in backends:
        info = get_backend(backend)
        out += [(backend, m) for m in (modes or [info.default_mode]) if m in info.modes]
    return out


def label(backend: str, mode: str) -> str:
    """A side's name in results and rows: 'backend:mode'."""
    return f"{backend}:{mode}"


def _split(name: str) -> tuple[str, str | None]:
    """(backend, mode) of a side's label; mode None for a plain backend name (older callers and tests)."""
    backend, _, mode = name.partition(":")
    return backend, mode or None


def collect(backends: list[str] | list[tuple[str, str]], workloads: list[str], timeout_s: float = 900,
            precision: str = "fp32", device: str = "cpu") -> dict[str, dict[str, Any]]:
    """Each side's parity results (keyed by backend, or 'backend:mode' for (backend, mode) sides), from one fresh
    process per side (run side by side)."""
    pairs = [(b, get_backend(b).default_mode) if isinstance(b, str) else b for b in backends]
    with tempfile.TemporaryDirectory(prefix="bench-parity-") as tmp:
        procs = {}
        for given, (backend, mode) in zip(backends, pairs, strict=True):
            name = given if isinstance(given, str) else label(backend, mode)
            out, err = Path(tmp, f"{name}.json"), Path(tmp, f"{name}.err")
            procs[name] = (start_module("harness.parity_worker", [backend, mode, precision, device, str(out),
                                                                 *workloads], err), out, err)
        results: dict[str, dict[str, Any]] = {}
        for name, (proc, out, err) in procs.items():
            code = finish(proc, timeout_s)
            if out.exists():
                results[name] = read_results(out)
            else:
                tail = err.read_text(errors="replace")[-1500:]
                results[name] = {w: {"error": f"parity worker exited {code}: {tail}"} for w in workloads}
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


def _compare_training(row: dict[str, Any], case: ParityCase, ra: dict[str, Any], rb: dict[str, Any],
                      loss_tol: float = LOSS_RTOL, weight_tol: float = WEIGHT_RTOL) -> list[str]:
    """Fill the row's loss and weight figures; the names of the failed checks."""
    failed = []
    trainable = split_state(case.model, case.weights)[0]  # running statistics: parity_state
    for run in RUNS:
        row[f"loss_{run}_max_rel"] = _max_rel(ra[f"losses_{run}"], rb[f"losses_{run}"])
        row[f"weights_{run}_max_rel"] = update_rel(trainable, ra[f"weights_{run}"], rb[f"weights_{run}"])
    if max(row[f"loss_{run}_max_rel"] for run in RUNS) > loss_tol:
        failed.append("losses")
    if max(row[f"weights_{run}_max_rel"] for run in RUNS) > weight_tol:
        failed.append("weights")
    return failed


def self_divergence(case: ParityCase, result: dict[str, Any]) -> dict[str, float]:
    """How far a side's multi-step runs move from its own probe runs (harness/parity_chaos.py), in the figures
    parity_chaos.CHECK_OF names; {} without probe runs."""
    if "losses_probe_sgd" not in result:
        return {}
    probe, row = parity_chaos.as_result(case, result), {}
    _compare_training(row, case, result, probe)
    figures = {k: row[k] for k in parity_chaos.CHECK_OF if k in row}
    if parity_state.has_state(case):
        figures["state_max_rel"] = parity_state.state_rel(case, result["weights_sgd"], probe["weights_sgd"])[0]
    own = {k: np.asarray(v, np.float64) for k, v in result["weights_ref_adam"].items()}
    figures["ref_weights_adam_rel"] = adam_weights_rel(case, {**reference_training(case), "weights_ref_adam": own},
                                                       probe)[0]
    return figures


CHAOS_TOLERANCES = {"losses": LOSS_RTOL, "weights": WEIGHT_RTOL, "state": parity_state.STATE_RTOL,
                    "ref_weights": REF_TOLERANCES["ref_weights"]}


def _side(row: dict[str, Any], key: str, name: str, result: dict[str, Any]) -> None:
    """Fill the row's backend, mode and device for one side ('a' or 'b') of a comparison."""
    backend, mode = _split(name)
    row[key], row[f"mode_{key}"], row[f"device_{key}"] = backend, mode, result.get("device")


def _compare_bf16(case: ParityCase, name: str, result: dict[str, Any], fp32: dict[str, Any],
                  ref: np.ndarray, scale: float) -> dict[str, Any]:
    """A bf16 side against the numpy reference (outputs) and its own fp32 run (losses, trained weights)."""
    row: dict[str, Any] = {"workload": case.name, "a": FP32_REFERENCE, "mode_a": None, "device_a": None,
                           "params": param_count(case.model), "precision": "bf16"}
    _side(row, "b", name, result)
    if "error" in result or "error" in fp32:
        row.update(ok=False, failed=["error"], error=result.get("error") or fp32.get("error"))
        return row
    out_diff = float(np.max(np.abs(ref - np.asarray(result["outputs"]))))
    row.update(params_a=row["params"], params_b=result["params_native"], output_max_abs=out_diff,
               output_tol=BF16_OUTPUT_RTOL * scale)
    failed = [] if result["params_native"] == row["params"] else ["params"]
    if not out_diff <= BF16_OUTPUT_RTOL * scale:
        failed.append("outputs")
    failed += _compare_training(row, case, fp32, result, BF16_LOSS_RTOL, BF16_WEIGHT_RTOL)
    row.update(ok=not failed, failed=failed)
    return row


def compare_case(case: ParityCase, results: dict[str, dict[str, Any]], precision: str = "fp32",
                 fp32: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """One row per pair (each side against the reference, then every pair of sides); `failed` names the checks.
    bf16 (with `fp32`, the same sides' fp32 results): one row per side, against the references at bf16 tolerances."""
    expected = param_count(case.model)
    ref = reference_outputs(case)
    scale = max(1.0, float(np.max(np.abs(ref))))
    if precision != "fp32":
        return [_compare_bf16(case, n, results[n][case.name], (fp32 or {}).get(n, {}).get(
            case.name, {"error": "no fp32 run to compare with"}), ref, scale) for n in results]
    rows = []
    names = list(results)
    pairs = [(REFERENCE, b) for b in names] + list(itertools.combinations(names, 2))
    for a, b in pairs:
        ra = {"outputs": ref, "params_native": expected} if a == REFERENCE else results[a][case.name]
        rb = results[b][case.name]
        row: dict[str, Any] = {"workload": case.name, "params": expected, "precision": precision}
        _side(row, "a", a, ra)
        _side(row, "b", b, rb)
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
            if parity_state.has_state(case):
                failed += parity_state.compare_pair(row, case, ra, rb)
        elif "losses_ref_sgd" in rb:
            failed += compare_reference(row, case, rb, REF_TOLERANCES)
            if parity_state.has_state(case):
                failed += parity_state.compare_with_reference(row, case, rb)
        else:
            failed.append("ref_losses (no reference runs measured)")
        if case.chaotic:
            selves = [self_divergence(case, r) for r in (ra, rb) if "losses_sgd" in r]
            failed = parity_chaos.judge(row, failed, [s for s in selves if s], CHAOS_TOLERANCES)
        row.update(ok=not failed, failed=failed)
        rows.append(row)
    return rows


def compare_workload(workload: str, results: dict[str, dict[str, Any]], precision: str = "fp32",
                     fp32: dict[str, dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """compare_case for a registered workload's parity case."""
    return compare_case(parity_case(workload), results, precision, fp32)


def check(backends: list[str], workloads: list[str], modes: list[str] | None = None,
          precisions: list[str] | None = None, device: str = "auto") -> list[dict[str, Any]]:
    """Collect and compare: every parity row for the given backends, workloads, modes, precisions and device."""
    asked = list(precisions or ["fp32"])
    chosen = sides(backends, modes)
    fp32 = collect(chosen, workloads, precision="fp32", device=device)
    rows = [row for w in workloads for row in compare_workload(w, fp32)] if "fp32" in asked else []
    for precision in (p for p in asked if p != "fp32"):
        results = collect(chosen, workloads, precision=precision, device=device)
        rows += [row for w in workloads for row in compare_workload(w, results, precision, fp32)]
    return rows
