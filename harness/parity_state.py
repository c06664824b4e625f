"""Parity of what a model with running statistics (BatchNorm) adds: its training-mode outputs and its state.

Eval-mode outputs (harness/parity.py) use the running statistics loaded with the weights; a training step normalises
with batch statistics instead and updates the running ones, which no loss or gradient sees. So a wrong momentum
direction or a running variance folded in with another estimator changes nothing but the statistics: they are
compared after the training runs, besides the training-mode outputs. Checks (fp32 sides):
- train_outputs: the dropout-free model's training-mode outputs on the evaluation batch, max |a - b| <=
  TRAIN_OUTPUT_RTOL · max(1, max |reference|), against the float64 reference (suites.reference_train.forward_train)
  and between sides.
- state: after the plain-SGD parity run (10 steps), between sides, per state array
  max |a - b| / max(max |a|, max |b|), the worst array; <= STATE_RTOL.
- ref_state: after the reference SGD step, the same figure against the float64 reference; <= REF_STATE_RTOL.
Only the SGD runs: a bias just before a BatchNorm has an exactly-zero true gradient, and Adam turns its rounding-noise
gradient into steps of ~lr that differ between frameworks (as for the attention key bias, parity.py); the running
mean carries that bias, so after Adam steps it differs by ~1e-2 relative between unmutated backends (measured,
tiny_bn). Plain SGD moves such a bias by lr · rounding noise, so its statistics compare tightly.
Tolerances: each well above the unmutated maximum and well below what a wrong convention gives, both measured on
tests/test_parity_batchnorm.py's tiny_bn case (2-D BatchNorm after a conv, 1-D on dense features, batches of 32;
torch 2.13, Keras 3.15, Flax 0.12; CPU; figures in the constants' notes). torch's unbiased variance differs from the
biased one by n/(n-1), n = values per channel: plain to see at n = 32, ~1e-3 of one update's share at n ~ 1000.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.parity_reference import reference_training
from harness.parity_worker import ParityCase
from suites.params import state_shapes
from suites.reference_train import forward_train, to_float64

TRAIN_OUTPUT_RTOL = 1e-4
"""As eval outputs (parity.OUTPUT_RTOL). Measured: <= 1.0e-6 absolute (scale ~1); Keras' eps 1e-3 gives 1.5e-3."""
STATE_RTOL = 1e-4
"""Running statistics after 10 SGD steps, between backends. Measured: <= 3.0e-7; torch's unbiased running variance
gives 2.9e-2, a momentum in the other framework's direction 0.72, eps 1e-3 1.5e-3."""
REF_STATE_RTOL = 1e-5
"""Running statistics after 1 SGD step, against the float64 reference. Measured: <= 1.8e-7; torch's unbiased running
variance gives 8.1e-3, the momentum direction 1.75, eps 1e-3 6.6e-4."""
CHECKS = ("train_outputs", "state", "ref_state")
STATE_RUN, REF_STATE_RUN = "sgd", "ref_sgd"
"""The runs (parity_worker.RUNS, REFERENCE_RUNS) whose statistics are compared: plain SGD (module docstring)."""


def has_state(case: ParityCase) -> bool:
    """Whether the case's model carries running statistics (then these checks apply)."""
    return bool(state_shapes(case.model))


def reference_train_outputs(case: ParityCase) -> np.ndarray:
    """The float64 reference's training-mode outputs of the dropout-free model on the evaluation batch."""
    return forward_train(case.train_model, to_float64(case.weights), case.x_eval)[0]


def state_rel(case: ParityCase, a: dict[str, Any], b: dict[str, Any]) -> tuple[float, str]:
    """The worst state array's max |a - b| / max(max |a|, max |b|), and its name."""
    per_array = {}
    for name in state_shapes(case.model):
        x, y = np.asarray(a[name], np.float64), np.asarray(b[name], np.float64)
        scale = max(float(np.max(np.abs(x))), float(np.max(np.abs(y))), 1e-12)
        per_array[name] = float(np.max(np.abs(x - y))) / scale
    name = max(per_array, key=lambda k: per_array[k])
    return per_array[name], name


def _train_outputs(row: dict[str, Any], a: np.ndarray, b: dict[str, Any], ref: np.ndarray) -> list[str]:
    if "train_outputs" not in b:
        return ["train_outputs (not measured)"]
    row["train_output_max_abs"] = float(np.max(np.abs(np.asarray(a) - np.asarray(b["train_outputs"]))))
    row["train_output_tol"] = TRAIN_OUTPUT_RTOL * max(1.0, float(np.max(np.abs(ref))))
    return [] if row["train_output_max_abs"] <= row["train_output_tol"] else ["train_outputs"]


def compare_pair(row: dict[str, Any], case: ParityCase, ra: dict[str, Any], rb: dict[str, Any]) -> list[str]:
    """Fill a pair row's training-output and state figures; the failed checks (the state's worst array named)."""
    if "train_outputs" not in ra:
        return ["train_outputs (not measured)"]
    failed = _train_outputs(row, ra["train_outputs"], rb, reference_train_outputs(case))
    worst = state_rel(case, ra[f"weights_{STATE_RUN}"], rb[f"weights_{STATE_RUN}"])
    row["state_max_rel"], row["state_worst"] = worst
    if not worst[0] <= STATE_RTOL:
        failed.append(f"state ({worst[1]})")
    return failed


def compare_with_reference(row: dict[str, Any], case: ParityCase, side: dict[str, Any]) -> list[str]:
    """Fill a reference row's training-output and state figures against the float64 reference; the failed checks."""
    ref_out = reference_train_outputs(case)
    failed = _train_outputs(row, ref_out, side, ref_out)
    ref = reference_training(case)
    worst = state_rel(case, ref[f"weights_{REF_STATE_RUN}"], side[f"weights_{REF_STATE_RUN}"])
    row["ref_state_max_rel"], row["ref_state_worst"] = worst
    if not worst[0] <= REF_STATE_RTOL:
        failed.append(f"ref_state ({worst[1]})")
    return failed
