"""Parity against the float64 reference training step: each fp32 side's loss, gradient and Adam-trained weights from
the parity weights, compared with suites/reference_train.py on the same batches (parity.py documents the tolerances).

Checks (each names its worst parameter when it fails):
- ref_losses: |l - l_ref| / |l_ref| at the SGD step and each Adam step.
- ref_gradient: per parameter, max |g - g_ref| / max(max |g_ref|, GRAD_FLOOR * max over all parameters |g_ref|),
  with g = (w0 - w1) / lr recovered from the side's weights after one plain SGD step.
- ref_weights: per parameter, the median over its weights of |Δ - Δ_ref| / max(|Δ|, |Δ_ref|), Δ = w3 - w0 after
  three Adam steps, for parameters whose reference gradient is above GRAD_FLOOR of the largest (a parameter with a
  zero true gradient, like the attention key bias, moves by rounding noise amplified to ~lr by Adam).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.parity_worker import REFERENCE_RUNS, ParityCase, reference_optimizers, train_batches
from suites.reference_train import AdamState, adam_step, loss_grad_state, sgd_step, to_float64

GRAD_FLOOR = 1e-3
"""Gradients below this fraction of the model's largest gradient entry are compared on that scale, not their own."""
REF_CHECKS = ("ref_losses", "ref_gradient", "ref_weights")


_CACHE: dict[int, tuple[ParityCase, dict[str, Any]]] = {}


def _reference(case: ParityCase) -> dict[str, Any]:
    model, task = case.train_model, case.task
    batches = [(case.x_train[i], case.y_train[i]) for i in train_batches(case, max(REFERENCE_RUNS.values()))]
    loss0, grad0, stats0 = loss_grad_state(model, task, case.weights, *batches[0])  # both runs' first step
    optimizers = reference_optimizers(task)
    out: dict[str, Any] = {"gradient": grad0, "losses_ref_sgd": [loss0],
                           "weights_ref_sgd": {**sgd_step(to_float64(case.weights), grad0, optimizers["ref_sgd"]),
                                               **stats0}}
    weights, state = adam_step(to_float64(case.weights), grad0, AdamState.zeros(grad0), optimizers["ref_adam"])
    weights.update(stats0)
    losses = [loss0]
    for x, y in batches[1:REFERENCE_RUNS["ref_adam"]]:
        loss, grads, stats = loss_grad_state(model, task, weights, x, y)
        losses.append(loss)
        weights, state = adam_step(weights, grads, state, optimizers["ref_adam"])
        weights.update(stats)
    out["losses_ref_adam"], out["weights_ref_adam"] = losses, weights
    return out


def reference_training(case: ParityCase) -> dict[str, Any]:
    """The float64 reference's losses and weights (parameters and running statistics) per REFERENCE_RUNS run, and
    its gradient at the parity weights on the first batch (computed once per case object)."""
    cached = _CACHE.get(id(case))
    if cached is None or cached[0] is not case:
        cached = _CACHE[id(case)] = (case, _reference(case))
    return cached[1]


def _worst(per_param: dict[str, float]) -> tuple[float, str]:
    name = max(per_param, key=lambda k: per_param[k])
    return per_param[name], name


def gradient_rel(case: ParityCase, ref: dict[str, Any], side: dict[str, Any]) -> tuple[float, str]:
    """The worst parameter's gradient error (module docstring) and its name."""
    lr = reference_optimizers(case.task)["ref_sgd"].learning_rate
    floor = GRAD_FLOOR * max(float(np.max(np.abs(g))) for g in ref["gradient"].values())
    per_param = {}
    for name, g_ref in ref["gradient"].items():
        g = (np.asarray(case.weights[name], np.float64) - np.asarray(side["weights_ref_sgd"][name], np.float64)) / lr
        per_param[name] = float(np.max(np.abs(g - g_ref)) / max(float(np.max(np.abs(g_ref))), floor))
    return _worst(per_param)


def adam_weights_rel(case: ParityCase, ref: dict[str, Any], side: dict[str, Any]) -> tuple[float, str]:
    """The worst parameter's median relative Adam update error (module docstring) and its name."""
    floor = GRAD_FLOOR * max(float(np.max(np.abs(g))) for g in ref["gradient"].values())
    per_param = {}
    for name, g_ref in ref["gradient"].items():  # trainable parameters only (running statistics: parity_state)
        if float(np.max(np.abs(g_ref))) <= floor:
            continue
        w0 = np.asarray(case.weights[name], np.float64)
        d_ref, d = ref["weights_ref_adam"][name] - w0, np.asarray(side["weights_ref_adam"][name], np.float64) - w0
        scale = np.maximum(np.abs(d), np.abs(d_ref))
        moved = scale > 0.0
        per_param[name] = float(np.median(np.abs(d - d_ref)[moved] / scale[moved])) if moved.any() else 0.0
    return _worst(per_param) if per_param else (0.0, "")


def loss_rel(ref: dict[str, Any], side: dict[str, Any]) -> float:
    """The largest |l - l_ref| / |l_ref| over the reference runs' steps."""
    ref_losses = np.concatenate([np.asarray(ref[f"losses_{run}"], np.float64) for run in REFERENCE_RUNS])
    losses = np.concatenate([np.asarray(side[f"losses_{run}"], np.float64) for run in REFERENCE_RUNS])
    return float(np.max(np.abs(losses - ref_losses) / np.maximum(np.abs(ref_losses), 1e-12)))


def compare_reference(row: dict[str, Any], case: ParityCase, side: dict[str, Any],
                      tolerances: dict[str, float]) -> list[str]:
    """Fill the row's ref_* figures (and ref_*_worst parameter names); the failed checks' names, each with its worst
    parameter, e.g. 'ref_gradient (1.kernel)'."""
    ref = reference_training(case)
    row["ref_loss_max_rel"] = loss_rel(ref, side)
    row["ref_gradient_max_rel"], row["ref_gradient_worst"] = gradient_rel(case, ref, side)
    row["ref_weights_adam_rel"], row["ref_weights_worst"] = adam_weights_rel(case, ref, side)
    failed = []
    if not row["ref_loss_max_rel"] <= tolerances["ref_losses"]:
        failed.append("ref_losses")
    if not row["ref_gradient_max_rel"] <= tolerances["ref_gradient"]:
        failed.append(f"ref_gradient ({row['ref_gradient_worst']})")
    if not row["ref_weights_adam_rel"] <= tolerances["ref_weights"]:
        failed.append(f"ref_weights ({row['ref_weights_worst']})")
    return failed

