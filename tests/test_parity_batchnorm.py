"""BatchNorm follows the neutral convention in every backend and mode, and parity catches a wrong one.

Every backend and mode: training-mode outputs (batch statistics) and, step by step, the loss and the running
statistics equal the float64 reference (suites/reference_norm.py); eval mode uses the statistics it trained.
Parity (harness/parity_state.py) compares training-mode outputs and the statistics after training; planted in one
backend, a momentum given in the other framework's direction, Keras' default epsilon, or torch's own unbiased
running variance each fail parity, and the momentum and variance bugs only through the running statistics.

Run with -s to see the figures of each.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import numpy as np
import pytest

from backends.registry import get_backend
from harness import parity_state
from harness.parity import compare_case
from harness.parity_worker import ParityCase, measure
from suites import layers as L
from suites.errors import SpecError
from suites.params import param_shapes, state_shapes
from suites.reference import forward
from suites.reference_train import forward_train, loss_grad_state, sgd_step, to_float64
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec
from tests.conftest import BACKEND_NAMES, require_backend
from tests.test_backend_conformance import ALL_MODES, CONFORMANCE, assert_round_trip
from tests.test_parity_mutations import _case, plant_builder

SGD_TASK = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.05), batch_size=16, epochs=1)
BN_MODELS = [m for m in CONFORMANCE if any(layer.kind == "batch_norm" for layer in m.layers)]
STEPS = 3


def _close(got: np.ndarray, want: np.ndarray, rtol: float, what: str) -> None:
    err = float(np.max(np.abs(np.asarray(got, np.float64) - want)))
    assert err <= rtol * max(1.0, float(np.max(np.abs(want)))), f"{what}: max |got - reference| {err:.3g}"


@pytest.mark.parametrize(("backend", "mode"), ALL_MODES)
@pytest.mark.parametrize("model", BN_MODELS, ids=lambda m: m.name)
def test_batch_norm_trains_like_the_reference(make_adapter: Any, make_weights: Any, make_batch: Any,
                                              backend: str, mode: str, model: ModelSpec) -> None:
    weights = make_weights(model)
    adapter = make_adapter(model, SGD_TASK, weights, mode=mode)
    x, _ = make_batch(model, SGD_TASK, 16, seed=4)
    _close(adapter.to_numpy(adapter.train_outputs(adapter.put(x))), forward_train(model, to_float64(weights), x)[0],
           1e-4, "training-mode outputs")
    assert_round_trip(adapter, weights)  # training-mode outputs alone move no statistic
    current = to_float64(weights)
    for step in range(STEPS):
        xs, ys = make_batch(model, SGD_TASK, 16, seed=10 + step)
        loss = float(adapter.to_numpy(adapter.train_step(adapter.put(xs, ys))))
        ref_loss, grads, state = loss_grad_state(model, SGD_TASK, current, xs, ys)
        assert loss == pytest.approx(ref_loss, rel=1e-5), step
        current = {**sgd_step(current, grads, SGD_TASK.optimizer), **state}
    got = adapter.get_weights()
    assert sorted(got) == sorted(current)
    for name in state_shapes(model):  # the statistics after 3 steps: biased variance, momentum as specified
        _close(got[name], current[name], 1e-5, name)
    for name in param_shapes(model):
        _close(got[name], current[name], 1e-4, name)
    _close(adapter.to_numpy(adapter.predict(adapter.put(x))), forward(model, got, x), 1e-4,
           "eval outputs on the trained statistics")


@pytest.mark.parametrize("model", BN_MODELS[:2], ids=lambda m: m.name)
def test_batch_norm_under_bf16_updates_its_statistics(make_adapter: Any, make_weights: Any, make_batch: Any,
                                                        model: ModelSpec) -> None:
    """bf16 mixed precision: eval outputs near the float64 reference at the bf16 parity tolerance, and a training step
    updates the running statistics as the reference does, up to bf16 rounding of the activations they come from."""
    weights = make_weights(model)
    adapter = make_adapter(model, SGD_TASK, weights, precision="bf16")
    x, y = make_batch(model, SGD_TASK, 16, seed=4)
    _close(adapter.to_numpy(adapter.predict(adapter.put(x))), forward(model, weights, x), 5e-2, "bf16 eval outputs")
    loss = float(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    ref_loss, _, state = loss_grad_state(model, SGD_TASK, weights, x, y)
    assert loss == pytest.approx(ref_loss, rel=0.2)
    got = adapter.get_weights()
    for name in state_shapes(model):
        _close(got[name], state[name], 5e-2, name)


def test_the_reference_running_update_is_the_neutral_formula() -> None:
    model = ModelSpec("bn", (3, 2), (L.BatchNorm(momentum=0.25, eps=1e-3),))
    rng = np.random.default_rng(0)
    x = rng.normal(2.0, 3.0, (5, 3, 2))
    w = {"0.scale": rng.normal(size=2), "0.bias": rng.normal(size=2), "0.running_mean": rng.normal(size=2),
         "0.running_var": rng.uniform(0.5, 2.0, 2)}
    flat = x.reshape(-1, 2)
    mean, biased = flat.mean(0), flat.var(0)  # numpy's var is ÷n
    y, state = forward_train(model, w, x)
    np.testing.assert_allclose(state["0.running_mean"], 0.75 * w["0.running_mean"] + 0.25 * mean, rtol=1e-14)
    np.testing.assert_allclose(state["0.running_var"], 0.75 * w["0.running_var"] + 0.25 * biased, rtol=1e-14)
    np.testing.assert_allclose(y, (x - mean) / np.sqrt(biased + 1e-3) * w["0.scale"] + w["0.bias"], rtol=1e-12)
    eval_y = (x - w["0.running_mean"]) / np.sqrt(w["0.running_var"] + 1e-3) * w["0.scale"] + w["0.bias"]
    np.testing.assert_allclose(forward(model, w, x), eval_y, rtol=1e-12)


def test_spec_checks_momentum_eps_and_rank() -> None:
    with pytest.raises(SpecError, match="BatchNorm.momentum"):
        L.BatchNorm(momentum=1.0)
    with pytest.raises(SpecError, match="BatchNorm.eps"):
        L.BatchNorm(eps=0.0)
    with pytest.raises(SpecError, match="BatchNorm: expects"):
        ModelSpec("bn4", (2, 2, 2, 2), (L.BatchNorm(),)).layer_shapes()
    assert L.BatchNorm().param_shapes((4, 3)) == {"scale": (3,), "bias": (3,)}
    assert L.BatchNorm().state_shapes((4, 3)) == {"running_mean": (3,), "running_var": (3,)}


# -- parity -----------------------------------------------------------------------------------------------------

CASE_MODEL = ModelSpec("tiny_bn", (6, 6, 2), (
    L.Conv2D(4, 3, padding="same"), L.BatchNorm(momentum=0.1, eps=1e-5), L.Activation("relu"), L.MaxPool2D(2),
    L.Flatten(), L.Dense(8), L.BatchNorm(momentum=0.2, eps=1e-5), L.Activation("relu"), L.Dropout(0.2), L.Dense(3)))


@functools.cache
def case() -> ParityCase:
    """A tiny CNN with a 2-D BatchNorm after its conv and a 1-D one on Dense features (batches of 32)."""
    return _case("tiny_bn", CASE_MODEL)


@functools.cache
def baseline(backend: str) -> dict[str, Any]:
    return measure(backend, get_backend(backend).default_mode, case())


def plant_momentum_direction(backend: str, mp: pytest.MonkeyPatch) -> None:
    """The other framework's momentum direction: torch given Keras' 0.9 for a 0.1, Keras and Flax given 0.1."""
    plant_builder(backend, mp, "batch_norm", lambda old: lambda layer, *rest: old(
        dataclasses.replace(layer, momentum=1.0 - layer.momentum), *rest))


def plant_keras_eps(backend: str, mp: pytest.MonkeyPatch) -> None:
    """Epsilon 1e-3, what an omitted epsilon gives in Keras (the spec says 1e-5)."""
    plant_builder(backend, mp, "batch_norm", lambda old: lambda layer, *rest: old(
        dataclasses.replace(layer, eps=1e-3), *rest))


def plant_unbiased_running_variance(backend: str, mp: pytest.MonkeyPatch) -> None:
    """torch's own nn.BatchNorm1d/2d, whose running variance takes the unbiased batch variance."""
    from torch import nn

    plant_builder(backend, mp, "batch_norm", lambda old: lambda layer, in_shape, first: [
        (nn.BatchNorm2d if len(in_shape) == 3 else nn.BatchNorm1d)(in_shape[-1], eps=layer.eps,
                                                                   momentum=layer.momentum)])


MUTATIONS = {
    "momentum direction": (plant_momentum_direction, BACKEND_NAMES, {"state", "ref_state"}),
    "eps 1e-3 (Keras' default)": (plant_keras_eps, BACKEND_NAMES, {"outputs", "train_outputs"}),
    "unbiased running variance": (plant_unbiased_running_variance, ("torch",), {"state", "ref_state"}),
}
"""Planted bug → (plant, the backends it applies to, the checks that must catch it)."""


def _installed() -> list[str]:
    return [b for b in BACKEND_NAMES if not get_backend(b).missing()]


def test_unmutated_backends_agree_in_training_mode_and_statistics() -> None:
    installed = _installed()
    if not installed:
        pytest.skip("no backend installed")
    rows = compare_case(case(), {b: {"tiny_bn": baseline(b)} for b in installed})
    for r in rows:
        figures = {k: r.get(k) for k in ("output_max_abs", "train_output_max_abs", "state_max_rel",
                                         "ref_state_max_rel", "loss_task_max_rel", "weights_task_max_rel")}
        print(f"\nBN PARITY | {r['a']} vs {r['b']} | {figures}")
    assert rows and all(r["ok"] for r in rows), [(r["a"], r["b"], r["failed"]) for r in rows if not r["ok"]]
    assert all("train_output_max_abs" in r for r in rows)
    assert all("state_max_rel" in r for r in rows if r["a"] != "numpy-reference")
    assert all("ref_state_max_rel" in r for r in rows if r["a"] == "numpy-reference")


@pytest.mark.parametrize(("mutation", "backend"), [(m, b) for m, (_, backends, _) in MUTATIONS.items()
                                                    for b in backends])
def test_a_wrong_batch_norm_convention_fails_parity(mutation: str, backend: str) -> None:
    plant, _, expected = MUTATIONS[mutation]
    require_backend(backend)
    others = {b: {"tiny_bn": baseline(b)} for b in _installed() if b != backend}
    with pytest.MonkeyPatch.context() as mp:
        plant(backend, mp)
        mutated = measure(backend, get_backend(backend).default_mode, case())
    rows = compare_case(case(), {**others, backend: {"tiny_bn": mutated}})
    mine = [r for r in rows if backend in (r["a"], r["b"])]
    assert all(r["ok"] for r in rows if r not in mine), "the unmutated backends must still agree"
    caught = {check.split(" ")[0] for r in mine for check in r["failed"]}
    worst = {k: max(r.get(k, 0.0) for r in mine) for k in ("state_max_rel", "ref_state_max_rel",
                                                             "train_output_max_abs", "output_max_abs")}
    print(f"\nBN MUTATION | {mutation} | {backend} | {sorted(caught)} | {worst}")
    assert expected <= caught, sorted(caught)
    if "outputs" not in expected:  # a statistics-only bug: no output, loss or trained weight shows it
        assert caught <= {"state", "ref_state"}, sorted(caught)


def test_state_checks_apply_only_to_models_with_statistics() -> None:
    assert parity_state.has_state(case())
    plain = ParityCase("p", ModelSpec("p", (3,), (L.Dense(2),)), case().task, {}, case().x_eval[:0, :3],
                       case().x_train[:0, :3], case().y_train[:0])
    assert not parity_state.has_state(plain)
