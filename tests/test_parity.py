"""Parity, the proof: every workload and pair agrees with each other and the numpy reference; a wrong mapping fails."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from harness.parity import OUTPUT_RTOL, compare_workload, reference_outputs
from harness.parity_worker import parity_inputs
from suites.params import init_weights
from suites.reference import forward

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_parity_command_agrees_for_every_workload_and_pair():
    out = subprocess.run([sys.executable, "run_bench.py", "parity"], cwd=REPO, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "48/48 comparisons agree" in out.stdout  # 8 workloads x (3 vs reference + 3 pairs)


def _fake_results(outputs, params, losses):
    return {"params_native": params, "outputs": outputs.tolist(), "losses_sgd": losses, "losses_task": losses}


def test_a_flatten_order_mistake_is_caught():
    model, task, x_eval, _, _ = parity_inputs("mnist_cnn")
    weights = init_weights(model, task.seed)
    # the mistake torch users make: flatten C,H,W but keep Keras' H,W,C rows in the first dense layer
    rows = weights["5.kernel"].reshape(5, 5, 64, 128).transpose(2, 0, 1, 3).reshape(1600, 128)
    wrong = forward(model, {**weights, "5.kernel": rows}, x_eval)
    right = reference_outputs("mnist_cnn")
    assert np.max(np.abs(wrong - right)) > 100 * OUTPUT_RTOL
    results = {"good": {"mnist_cnn": _fake_results(right, 225_034, [1.0] * 10)},
               "bad": {"mnist_cnn": _fake_results(wrong, 225_034, [1.0] * 10)}}
    verdicts = {(r["a"], r["b"]): r["ok"] for r in compare_workload("mnist_cnn", results)}
    assert verdicts[("numpy-reference", "good")] and not verdicts[("numpy-reference", "bad")]
    assert not verdicts[("good", "bad")]


def test_a_loss_drift_or_param_mismatch_is_caught():
    ref = reference_outputs("linear_regression")
    results = {"a": {"linear_regression": _fake_results(ref, 11, [1.0] * 10)},
               "b": {"linear_regression": _fake_results(ref, 11, [1.0] * 9 + [1.01])},
               "c": {"linear_regression": _fake_results(ref, 12, [1.0] * 10)}}
    verdicts = {(r["a"], r["b"]): r["ok"] for r in compare_workload("linear_regression", results)}
    assert not verdicts[("a", "b")] and not verdicts[("numpy-reference", "c")] and verdicts[("numpy-reference", "a")]
