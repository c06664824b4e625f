"""Parity of a workload whose training is chaotic: judged on one step, its multi-step figures shown, the chaos proven.

Some models amplify a difference of one float32 rounding into a visibly different trajectory within a few steps, in
any framework: resnet_small (a BatchNorm ResNet on MNIST; docs/PARITY_CONVENTIONS.md) run twice in torch, once from
weights perturbed by 1e-7 relative, differs by 2e-2 to 9e-2 in the median weight update after 10 SGD steps (AMD EPYC;
which run tips depends on the CPU's roundings: docs/PARITY_CONVENTIONS.md), 20 to 90
times parity's tolerance, about what the three frameworks differ by. No tolerance separates a bug from that chaos, so
such a workload declares it (Workload.chaotic_training, with the measurement) and parity then:
- judges what one step decides, at the usual tolerances: parameter counts, eval and training-mode outputs, the loss
  of every reference step, the first step's gradient and running statistics against the float64 reference;
- reports the multi-step figures (10-step losses, trained weights and running statistics between backends, the
  3-step Adam weights against the reference) without judging them (the row's `unjudged` checks);
- proves the declaration on every run: each side repeats its multi-step runs from weights perturbed by
  parity_worker.PROBE_PERTURBATION (the probe) and the row's `self_divergence` records how far each side moves from
  itself. If no such figure exceeds its tolerance, the declaration is false and the row fails `chaotic_training`:
  chaos cannot be declared to hide a difference.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from harness.parity_worker import PROBE_RUNS, ParityCase, probe_weights

UNJUDGED = ("losses", "weights", "state", "ref_weights")
"""The multi-step checks a chaotic workload reports without judging (each failed check's name starts with one)."""
CHECK_OF = {"loss_sgd_max_rel": "losses", "loss_task_max_rel": "losses", "weights_sgd_max_rel": "weights",
            "weights_task_max_rel": "weights", "state_max_rel": "state", "ref_weights_adam_rel": "ref_weights"}
"""Each self-divergence figure and the check (and so the tolerance) it is measured against."""


def as_result(case: ParityCase, result: dict[str, Any]) -> dict[str, Any]:
    """A side's probe runs shaped as a side's result ('losses_<run>', 'weights_<run>'), each trained weight moved back
    by its perturbation (so the updates compare, not the starts)."""
    start = probe_weights(case)
    probe: dict[str, Any] = {}
    for run in PROBE_RUNS:
        probe[f"losses_{run}"] = result[f"losses_probe_{run}"]
        probe[f"weights_{run}"] = {k: np.asarray(v, np.float64) - start[k] + case.weights[k]
                                   for k, v in result[f"weights_probe_{run}"].items()}
    return probe


def judge(row: dict[str, Any], failed: list[str], selves: list[dict[str, float]],
          tolerances: dict[str, float]) -> list[str]:
    """The checks that still fail a chaotic workload's row; the row gets `chaotic`, `unjudged` (the multi-step checks
    that failed, reported) and `self_divergence` (each figure's largest over the row's sides)."""
    worst = {k: max(s[k] for s in selves if k in s) for k in CHECK_OF if any(k in s for s in selves)}
    kept = [c for c in failed if not c.startswith(UNJUDGED)]
    row.update(chaotic=True, unjudged=[c for c in failed if c.startswith(UNJUDGED)], self_divergence=worst)
    if not any(value > tolerances[CHECK_OF[k]] for k, value in worst.items()):
        kept.append("chaotic_training (declared, but the 1e-7-perturbed runs stay within tolerance)")
    return kept
