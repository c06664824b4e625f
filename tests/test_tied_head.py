"""The tied LM head (suites TiedHead): one table, two uses, in every backend; parity catches a head that does not
share the table's gradient (a copy, or the table's gradient stopped in the head: an "untied" head in disguise).

Run with -s to see which check caught it.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from backends.registry import get_backend, load_adapter_class
from harness.parity import compare_case
from harness.parity_worker import ParityCase, measure
from suites import layers as L
from suites.params import param_count
from suites.spec import ModelSpec
from tests.conftest import BACKEND_NAMES, require_backend
from tests.test_parity_mutations import _case

TIED = ModelSpec("tiny_tied_lm", (8,), (
    L.Embedding(24, 16), L.LearnedPositions(8),
    L.TransformerEncoder(16, 2, 32, dropout=0.0, activation="gelu_tanh", norm_first=True, causal=True),
    L.LayerNorm(), L.TiedHead(24, use_bias=True)), input_dtype="int32")


@functools.cache
def _tied_case() -> ParityCase:
    return _case("tiny_tied_lm", TIED)


@functools.cache
def _baseline(backend: str) -> dict[str, Any]:
    return measure(backend, get_backend(backend).default_mode, _tied_case())


def _installed() -> list[str]:
    return [b for b in BACKEND_NAMES if not get_backend(b).missing()]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_the_table_is_counted_once(backend: str) -> None:
    require_backend(backend)
    adapter = load_adapter_class(backend)(get_backend(backend).default_mode, "fp32", "cpu")
    adapter.build(TIED, _tied_case().task, _tied_case().weights)
    assert adapter.trainable_param_count() == param_count(TIED)  # 24·16 once, plus the head's bias (24)
    assert sorted(adapter.get_weights()) == sorted(_tied_case().weights)


def test_unmutated_backends_agree_on_the_tied_model() -> None:
    installed = _installed()
    if not installed:
        pytest.skip("no backend installed")
    rows = compare_case(_tied_case(), {b: {TIED.name: _baseline(b)} for b in installed})
    assert rows and all(r["ok"] for r in rows), [(r["a"], r["b"], r["failed"]) for r in rows if not r["ok"]]


def _stop_gradient_in_head(backend: str, mp: pytest.MonkeyPatch) -> None:
    """The head reads the table with its gradient stopped: the table learns from the lookup only."""
    if backend == "torch":
        from torch import nn

        from backends.torch.token_layers import TiedHead

        mp.setattr(TiedHead, "forward", lambda self, x: nn.functional.linear(x, self._source[0].weight.detach(),
                                                                             self.bias))
    elif backend == "tensorflow":
        import tensorflow as tf

        from backends.tensorflow.token_layers import TiedHead as KerasTiedHead

        original = KerasTiedHead.call
        mp.setattr(KerasTiedHead, "call", lambda self, x, table: original(self, x, tf.stop_gradient(table)))
    else:
        import jax

        from backends.jax import token_layers

        original_head = token_layers.tied_head

        class Frozen:
            def __init__(self, source: Any) -> None:
                self.embedding = jax.lax.stop_gradient(source.embedding[...])

        mp.setattr(token_layers, "tied_head", lambda bias, x, source: original_head(bias, x, Frozen(source)))


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_head_that_does_not_share_the_gradient_fails_parity(backend: str) -> None:
    require_backend(backend)
    others = {b: {TIED.name: _baseline(b)} for b in _installed() if b != backend}
    with pytest.MonkeyPatch.context() as mp:
        _stop_gradient_in_head(backend, mp)
        mutated = measure(backend, get_backend(backend).default_mode, _tied_case())
    rows = compare_case(_tied_case(), {**others, backend: {TIED.name: mutated}})
    mine = [r for r in rows if backend in (r["a"], r["b"])]
    caught = sorted({check.split(" ")[0] for r in mine for check in r["failed"]})
    print(f"\nTIED MUTATION | stop-gradient in the head | {backend} | {caught}")
    assert "ref_gradient" in caught and all(r["ok"] for r in rows if r not in mine), caught
    assert not any(c.startswith("outputs") for c in caught)  # the forward is right: only training shows it
