"""Parity, the proof: every workload and pair agrees with each other and the numpy reference; a wrong mapping fails."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.registry import BackendInfo
from commands.measure import cmd_parity
from harness.parity import OUTPUT_RTOL, WEIGHT_RTOL, compare_workload, reference_outputs, update_rel
from harness.parity_worker import TRAIN_STEPS, parity_case
from suites.reference import forward

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_parity_command_agrees_for_every_workload_and_pair():
    out = subprocess.run([sys.executable, "run_bench.py", "parity"], cwd=REPO, capture_output=True, text=True,
                         timeout=1200)
    assert out.returncode == 0, out.stdout[-4000:] + out.stderr[-2000:]
    assert "48/48 comparisons agree" in out.stdout  # 8 workloads x (3 vs reference + 3 pairs)


def _fake_results(outputs, params, losses, weights):
    return {"params_native": params, "outputs": outputs, "losses_sgd": losses, "losses_task": losses,
            "weights_sgd": weights, "weights_task": weights}


def test_parity_weights_are_random_everywhere():
    weights = parity_case("text_transformer").weights
    for name, value in weights.items():
        assert value.dtype == np.float32 and np.all(value != 0.0), name
        if name.endswith(".scale"):
            assert np.all(value != 1.0), name


def test_a_flatten_order_mistake_is_caught():
    case = parity_case("mnist_cnn")
    # the mistake torch users make: flatten C,H,W but keep Keras' H,W,C rows in the first dense layer
    rows = case.weights["5.kernel"].reshape(5, 5, 64, 128).transpose(2, 0, 1, 3).reshape(1600, 128)
    wrong = forward(case.model, {**case.weights, "5.kernel": rows}, case.x_eval)
    right = reference_outputs(case)
    assert np.max(np.abs(wrong - right)) > 100 * OUTPUT_RTOL
    results = {"good": {"mnist_cnn": _fake_results(right, 225_034, [1.0] * 10, case.weights)},
               "bad": {"mnist_cnn": _fake_results(wrong, 225_034, [1.0] * 10, case.weights)}}
    verdicts = {(r["a"], r["b"]): r for r in compare_workload("mnist_cnn", results)}
    assert verdicts[("numpy-reference", "good")]["ok"] and not verdicts[("numpy-reference", "bad")]["ok"]
    assert verdicts[("good", "bad")]["failed"] == ["outputs"]


def test_a_loss_drift_or_param_mismatch_is_caught():
    case = parity_case("linear_regression")
    ref, w = reference_outputs(case), case.weights
    results = {"a": {"linear_regression": _fake_results(ref, 11, [1.0] * TRAIN_STEPS, w)},
               "b": {"linear_regression": _fake_results(ref, 11, [1.0] * (TRAIN_STEPS - 1) + [1.01], w)},
               "c": {"linear_regression": _fake_results(ref, 12, [1.0] * TRAIN_STEPS, w)}}
    verdicts = {(r["a"], r["b"]): r for r in compare_workload("linear_regression", results)}
    assert verdicts[("a", "b")]["failed"] == ["losses"] and verdicts[("numpy-reference", "c")]["failed"] == ["params"]
    assert verdicts[("numpy-reference", "a")]["ok"]


def test_trained_weights_compare_by_the_median_update():
    rng = np.random.default_rng(0)
    start = {"k": rng.normal(size=(50, 40)).astype(np.float32)}
    step = rng.normal(0.0, 1e-2, (50, 40))
    a = {"k": start["k"] + step}
    off = step * (1 + 5 * WEIGHT_RTOL)  # every update 0.5 % off: an optimizer constant
    assert update_rel(start, a, {"k": start["k"] + off}) > WEIGHT_RTOL
    noisy = step.copy()
    noisy[:3] *= -1  # a few rows flipped (rounding-noise gradients under Adam)
    assert update_rel(start, a, {"k": start["k"] + noisy}) < WEIGHT_RTOL
    assert update_rel(start, start, start) == 0.0


def test_no_comparison_made_is_a_failure(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(BackendInfo, "installed", property(lambda self: False))
    args = argparse.Namespace(db=str(tmp_path / "parity.sqlite"), workloads=None, backends=None)
    assert cmd_parity(args) == 1
    out = capsys.readouterr().out
    assert "0 comparisons made" in out and "pip install -e '.[torch]'" in out
