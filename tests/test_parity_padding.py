"""The padding mask in every backend and mode: equal to the float64 reference (padding at the end, inside, first, and a
row of padding only), bert_encoder's parity across the three frameworks, and planted mask bugs that parity catches.

Run with -s to see which check caught each planted bug.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from backends.registry import BACKENDS, get_backend, load_adapter_class
from harness.parity import compare_case
from harness.parity_worker import ParityCase, measure, parity_case, parity_weights
from suites import layers as L
from suites.padding import PAD_ID
from suites.reference import forward
from suites.reference_train import batch_loss
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec
from tests.conftest import BACKEND_NAMES, perturbed_weights, require_backend
from tests.test_padding_mask import T, masked_model, padded_ids

ALL_MODES = [pytest.param(name, mode, id=f"{name}-{mode}") for name, info in BACKENDS.items() for mode in info.modes]
SGD = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.1), 6, 1)


def causal_then_plain() -> ModelSpec:
    """A causal masked encoder, then a masked post-norm one read by a plain mean: padded queries' outputs count."""
    return ModelSpec("masked_queries", (T,), (
        L.Embedding(12, 8), L.TransformerEncoder(8, 2, 16, activation="gelu_tanh", norm_first=True, causal=True,
                                                 mask_padding=True),
        L.TransformerEncoder(8, 2, 16, mask_padding=True), L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32")


@pytest.mark.parametrize(("backend", "mode"), ALL_MODES)
@pytest.mark.parametrize("make_model", [masked_model, causal_then_plain])
def test_every_mode_masks_padding_as_the_reference(backend: str, mode: str, make_model: Callable[[], ModelSpec]):
    require_backend(backend)
    model, x = make_model(), padded_ids()
    y = np.arange(len(x), dtype=np.int32) % 3
    weights = perturbed_weights(model)
    ref = forward(model, weights, x)
    adapter = load_adapter_class(backend)(mode, "fp32", "cpu")
    adapter.build(model, SGD, weights)
    np.testing.assert_allclose(adapter.to_numpy(adapter.predict(adapter.put(x))), ref, atol=1e-5)
    adapter.build(model.without_dropout(), SGD, weights)  # training mode: the other code paths (no fused kernels)
    np.testing.assert_allclose(adapter.to_numpy(adapter.train_outputs(adapter.put(x))), ref, atol=1e-5)
    loss = float(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    assert loss == pytest.approx(float(batch_loss(ref, y, "cross_entropy")), rel=1e-5)


@pytest.mark.slow
def test_bert_encoder_agrees_across_the_three_frameworks_and_the_reference() -> None:
    installed = [b for b in BACKEND_NAMES[:3] if not get_backend(b).missing()]
    if len(installed) < 2:
        pytest.skip("needs two installed backends")
    case = parity_case("bert_encoder")
    assert (case.x_eval == PAD_ID).any() and (case.x_train == PAD_ID).any()
    rows = compare_case(case, {b: {case.name: measure(b, get_backend(b).default_mode, case)} for b in installed})
    assert rows and all(r["ok"] for r in rows), [(r["a"], r["b"], r["failed"]) for r in rows if not r["ok"]]


# -- planted bugs ----------------------------------------------------------------------------------------------------

def _right_padded(n: int, vocab: int, seed: int) -> np.ndarray:
    """n rows of 1..T tokens (ids 1..vocab-1), right-padded with PAD_ID."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab, (n, T)).astype(np.int32)
    lengths = rng.integers(1, T + 1, n)
    return np.where(np.arange(T)[None, :] < lengths[:, None], x, PAD_ID).astype(np.int32)


@functools.cache
def tiny_bert() -> ParityCase:
    """bert_encoder in miniature (masked pre-norm encoder, final LayerNorm, masked mean) on right-padded ids: 16
    evaluation rows, 320 training rows (a fresh batch of 32 every step)."""
    model = ModelSpec("tiny_bert", (T,), (
        L.Embedding(40, 16), L.LearnedPositions(T),
        L.TransformerEncoder(16, 2, 32, dropout=0.1, activation="gelu", norm_first=True, layer_norm_eps=1e-12,
                             mask_padding=True),
        L.LayerNorm(1e-12), L.GlobalAveragePool1D(mask_padding=True), L.Dense(3)), input_dtype="int32")
    task = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=32, epochs=1)
    x = _right_padded(336, 40, seed=5)
    y = np.random.default_rng(6).integers(0, 3, 320).astype(np.int32)
    return ParityCase("tiny_bert", model, task, parity_weights(model, 0), x[:16], x[16:], y)


@functools.cache
def baseline(backend: str) -> dict[str, Any]:
    """The unmutated backend's parity measurement of tiny_bert."""
    return measure(backend, get_backend(backend).default_mode, tiny_bert())


MASK_FUNCTIONS = {"torch": ("backends.torch.masking", "padding_mask", True),
                  "tensorflow": ("backends.tensorflow.layers", "keep_mask", False),
                  "jax": ("backends.jax.layers", "padding_mask", True)}
"""Where each backend's model finds its mask function, and whether that mask is True at padding (else at tokens)."""


def plant_mask(backend: str, mp: pytest.MonkeyPatch, bug: Callable[[Any, bool], Any]) -> None:
    """Replace the backend's mask of the input ids by bug(its true mask, True-at-padding)."""
    module_name, name, true_at_padding = MASK_FUNCTIONS[backend]
    module = importlib.import_module(module_name)
    original = getattr(module, name)
    mp.setattr(module, name, lambda ids: bug(original(ids), true_at_padding))


MUTATIONS: dict[str, Callable[[Any, bool], Any]] = {
    "padding mask ignored": lambda mask, at_padding: mask & False if at_padding else mask | True,
    "padding mask inverted (the other convention's True)": lambda mask, at_padding: ~mask,
}


@pytest.mark.parametrize("backend", BACKEND_NAMES[:3])
def test_unmutated_tiny_bert_agrees(backend: str) -> None:
    require_backend(backend)
    rows = compare_case(tiny_bert(), {backend: {"tiny_bert": baseline(backend)}})
    assert all(r["ok"] for r in rows), [(r["a"], r["b"], r["failed"]) for r in rows if not r["ok"]]


@pytest.mark.parametrize("backend", BACKEND_NAMES[:3])
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_planted_mask_bug_fails_parity(mutation: str, backend: str) -> None:
    require_backend(backend)
    others = {b: {"tiny_bert": baseline(b)} for b in BACKEND_NAMES[:3] if b != backend and not get_backend(b).missing()}
    with pytest.MonkeyPatch.context() as mp:
        plant_mask(backend, mp, MUTATIONS[mutation])
        mutated = measure(backend, get_backend(backend).default_mode, tiny_bert())
    rows = compare_case(tiny_bert(), {**others, backend: {"tiny_bert": mutated}})
    mine = [r for r in rows if backend in (r["a"], r["b"])]
    assert all(r["ok"] for r in rows if r not in mine), "the unmutated backends must still agree"
    caught = sorted({f"{check} ({'ref' if r['a'] == 'numpy-reference' else 'pair'})"
                     for r in mine for check in r["failed"]})
    worst = max(r.get("output_max_abs", 0.0) for r in mine)
    print(f"\nMASK MUTATION | {mutation} | {backend} | {', '.join(caught) or 'NOT CAUGHT'} | outputs {worst:.3g}")
    assert not all(r["ok"] for r in mine), f"{mutation} in {backend} passed parity"
