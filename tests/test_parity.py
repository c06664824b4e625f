"""Parity, the proof: every workload and pair agrees with each other and the numpy reference; a wrong mapping fails."""

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backends.registry import BackendInfo
from commands.measure import cmd_parity
from harness.parity import (
    BF16_LOSS_RTOL,
    BF16_OUTPUT_RTOL,
    FP32_REFERENCE,
    OUTPUT_RTOL,
    WEIGHT_RTOL,
    compare_workload,
    reference_outputs,
    update_rel,
)
from harness.parity_reference import reference_training
from harness.parity_worker import REFERENCE_RUNS, TRAIN_STEPS, parity_case
from store import Store
from suites.reference import forward
from suites.registry import OFFLINE_WORKLOADS

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
def test_parity_command_agrees_for_every_workload_and_pair():
    out = subprocess.run([sys.executable, "run_bench.py", "parity"], cwd=REPO, capture_output=True, text=True,
                         timeout=1200)
    lines = out.stdout.splitlines()
    differ = [" ".join(lines[i:i + 2]) for i, line in enumerate(lines) if "DIFFER" in line]  # a row wraps onto 2 lines
    assert out.returncode == 0, "\n".join(differ) + "\n" + out.stdout[-1500:] + out.stderr[-2000:]
    comparisons = 6 * len(OFFLINE_WORKLOADS)  # every offline workload x (3 vs reference + 3 pairs)
    assert f"{comparisons}/{comparisons} comparisons agree" in out.stdout


def _fake_results(outputs, params, losses, weights, workload="linear_regression"):
    """A side's results: the given outputs, count, losses and weights, and the reference runs as fp32 would give."""
    ref = reference_training(parity_case(workload))
    runs = {f"{key}_{run}": ref[f"{key}_{run}"] for key in ("losses", "weights") for run in REFERENCE_RUNS}
    return {"params_native": params, "outputs": outputs, "losses_sgd": losses, "losses_task": losses,
            "weights_sgd": weights, "weights_task": weights, **runs}


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
    results = {"good": {"mnist_cnn": _fake_results(right, 225_034, [1.0] * 10, case.weights, "mnist_cnn")},
               "bad": {"mnist_cnn": _fake_results(wrong, 225_034, [1.0] * 10, case.weights, "mnist_cnn")}}
    verdicts = {(r["a"], r["b"]): r for r in compare_workload("mnist_cnn", results)}
    assert verdicts[("numpy-reference", "good")]["ok"] and not verdicts[("numpy-reference", "bad")]["ok"]
    assert verdicts[("good", "bad")]["failed"] == ["outputs"]


def test_a_loss_drift_or_param_mismatch_is_caught():
    case = parity_case("linear_regression")
    ref, w = reference_outputs(case), case.weights
    results = {"a": {"linear_regression": _fake_results(ref, 11, [1.0] * TRAIN_STEPS, w, "linear_regression")},
               "b": {"linear_regression": _fake_results(ref, 11, [1.0] * (TRAIN_STEPS - 1) + [1.01], w,
                                                         "linear_regression")},
               "c": {"linear_regression": _fake_results(ref, 12, [1.0] * TRAIN_STEPS, w, "linear_regression")}}
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


def test_sides_apply_modes_to_the_backends_that_have_them():
    from harness.parity import sides

    assert sides(["torch", "tensorflow", "jax"], None) == [("torch", "eager"), ("tensorflow", "graph"),
                                                           ("jax", "jit")]
    assert sides(["torch", "tensorflow", "jax"], ["eager", "compile", "xla"]) == [
        ("torch", "eager"), ("torch", "compile"), ("tensorflow", "eager"), ("tensorflow", "xla")]  # jax: no such mode


def test_rows_record_mode_precision_and_device():
    case = parity_case("linear_regression")
    ref, w = reference_outputs(case), case.weights
    fp32 = {"torch:compile": {"linear_regression": {**_fake_results(ref, 11, [1.0] * TRAIN_STEPS, w), "device": "cpu"}},
            "jax:jit": {"linear_regression": {**_fake_results(ref, 11, [1.0] * TRAIN_STEPS, w), "device": "cpu"}}}
    rows = compare_workload("linear_regression", fp32)
    pair = rows[-1]
    assert (pair["a"], pair["mode_a"], pair["b"], pair["mode_b"]) == ("torch", "compile", "jax", "jit")
    assert (pair["precision"], pair["device_a"], pair["device_b"], pair["ok"]) == ("fp32", "cpu", "cpu", True)
    assert (rows[0]["a"], rows[0]["mode_a"], rows[0]["device_a"]) == ("numpy-reference", None, None)


def test_bf16_compares_with_the_fp32_references_at_bf16_tolerances():
    case = parity_case("linear_regression")
    ref, w = reference_outputs(case), case.weights
    scale = max(1.0, float(np.max(np.abs(ref))))
    fp32 = {"torch:eager": {"linear_regression": _fake_results(ref, 11, [1.0] * TRAIN_STEPS, w, "linear_regression")}}
    near = ref + 0.5 * BF16_OUTPUT_RTOL * scale  # bf16-sized rounding: agrees at bf16, not at fp32 tolerance
    assert 0.5 * BF16_OUTPUT_RTOL * scale > OUTPUT_RTOL * scale
    bf16 = {"torch:eager": {"linear_regression": _fake_results(near, 11, [1.0] * TRAIN_STEPS, w)}}
    [row] = compare_workload("linear_regression", bf16, "bf16", fp32)
    assert row["ok"] and (row["a"], row["b"], row["mode_b"], row["precision"]) == (FP32_REFERENCE, "torch",
                                                                                   "eager", "bf16")
    far = ref + 3 * BF16_OUTPUT_RTOL * scale
    drift = [1.0] * (TRAIN_STEPS - 1) + [1.0 + 3 * BF16_LOSS_RTOL]
    bf16 = {"torch:eager": {"linear_regression": _fake_results(far, 11, drift, w)}}
    [row] = compare_workload("linear_regression", bf16, "bf16", fp32)
    assert row["failed"] == ["outputs", "losses"]
    [row] = compare_workload("linear_regression", bf16, "bf16", {})
    assert row["failed"] == ["error"] and "no fp32 run" in row["error"]


def test_parity_options_are_checked(tmp_path):
    for flags, message in ((["--precisions", "fp16"], "unknown precision 'fp16'"),
                           (["--modes", "turbo"], "unknown mode 'turbo'")):
        out = subprocess.run([sys.executable, "run_bench.py", "parity", "--workloads", "mnist_mlp", "--db",
                              str(tmp_path / "p.sqlite"), *flags], cwd=REPO, capture_output=True, text=True,
                             timeout=120)
        assert out.returncode == 2 and message in out.stderr and len(out.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_parity_per_mode_and_precision_is_stored_with_its_configuration(tmp_path):
    db = tmp_path / "parity.sqlite"
    out = subprocess.run([sys.executable, "run_bench.py", "parity", "--workloads", "mnist_mlp", "--backends",
                          "torch,tensorflow", "--modes", "eager,compile,graph,xla", "--precisions", "fp32,bf16",
                          "--device", "cpu", "--db", str(db)], cwd=REPO, capture_output=True, text=True, timeout=1200)
    lines = out.stdout.splitlines()
    differ = [" ".join(lines[i:i + 2]) for i, line in enumerate(lines) if "DIFFER" in line]  # a row wraps onto 2 lines
    assert out.returncode == 0, "\n".join(differ) + "\n" + out.stdout[-1500:] + out.stderr[-2000:]
    assert "20/20 comparisons agree" in out.stdout  # fp32: 5 sides vs reference + 10 pairs; bf16: 5 vs fp32
    parity = Store(db).latest_parity()
    assert parity and parity["git_sha"] and parity["config"]["precisions"] == ["fp32", "bf16"]
    configs = {(r["b"], r["mode_b"], r["precision"], r["device_b"]) for r in parity["rows"]}
    sides = (("torch", "eager"), ("torch", "compile"), ("tensorflow", "eager"), ("tensorflow", "graph"),
             ("tensorflow", "xla"))  # eager applies to both backends, as in `run --modes`
    assert configs == {(b, m, p, "cpu") for b, m in sides for p in ("fp32", "bf16")}
    assert all(r["git_sha"] == parity["git_sha"] for r in parity["rows"])
