"""Parity catches planted bugs: each known mistake, planted in one backend in-process, fails that backend's parity
against the unmutated other backends and the float64 reference; the unmutated backends all agree
(tests/test_parity_reference_mutations.py: the reference training step alone catches them too).

Run with -s to see which check caught each bug (outputs / losses / weights).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from backends.registry import get_backend
from harness.parity import compare_case
from harness.parity_worker import ParityCase, measure, parity_weights
from suites import layers as L
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec
from tests.conftest import BACKEND_NAMES, inputs, labels, require_backend

ADAM = OptimizerSpec("adam", learning_rate=1e-3)
SPEC_LN_EPS = 1e-5
WRONG_LN_EPS = 1e-3  # Keras' LayerNormalization default: what an omitted epsilon gives there


def _case(name: str, model: ModelSpec) -> ParityCase:
    """A tiny parity case on random data: 16 evaluation rows, 320 training rows (a fresh batch of 32 every step)."""
    task = TaskSpec("synthetic", "cross_entropy", ADAM, batch_size=32, epochs=1)
    x = inputs(model, 336, seed=5)
    return ParityCase(name, model, task, parity_weights(model, 0), x[:16], x[16:], labels(model, task, 320, seed=6))


CASES: dict[str, Callable[[], ParityCase]] = {
    "tiny_transformer": lambda: _case("tiny_transformer", ModelSpec("tiny_transformer", (8,), (
        L.Embedding(40, 16), L.PositionalEncoding(8),
        L.TransformerEncoder(16, 2, 32, dropout=0.1, layer_norm_eps=SPEC_LN_EPS),
        L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32")),
    "tiny_cnn": lambda: _case("tiny_cnn", ModelSpec("tiny_cnn", (8, 8, 2), (
        L.Conv2D(4, 3, activation="relu"), L.MaxPool2D(2), L.Flatten(), L.Dense(8, "relu"), L.Dropout(0.5),
        L.Dense(3)))),
    "tiny_lstm": lambda: _case("tiny_lstm", ModelSpec("tiny_lstm", (6, 5), (L.LSTM(8), L.Dense(3)))),
}


@functools.cache
def case(name: str) -> ParityCase:
    """The named tiny case (built once)."""
    return CASES[name]()


@functools.cache
def baseline(backend: str, name: str) -> dict[str, Any]:
    """The unmutated backend's parity measurement of a case (measured once, before any planting)."""
    return measure(backend, get_backend(backend).default_mode, case(name))


def _swap(local: str, a: str, b: str) -> str:
    """A local parameter name with prefix a exchanged for b and back (the planted mix-up)."""
    if local.startswith(a):
        return b + local[len(a):]
    if local.startswith(b):
        return a + local[len(b):]
    return local


def plant_swap(backend: str, mp: pytest.MonkeyPatch, kind: str, a: str, b: str) -> None:
    """Swap two parameters of a kind in the backend's weight mapping, consistently in both directions."""
    w = importlib.import_module(f"backends.{backend}.weights")
    if backend == "torch":
        old = w.WEIGHT_MAPS[kind]
        mp.setitem(w.WEIGHT_MAPS, kind, w.WeightMap(
            lambda layer, p, rows: old.to_native(layer, {_swap(k, a, b): v for k, v in p.items()}, rows),
            lambda layer, n, rows: {_swap(k, a, b): v for k, v in old.from_native(layer, n, rows).items()}))
    elif backend == "tensorflow":
        old_vars = w.WEIGHT_MAPS[kind]
        mp.setitem(w.WEIGHT_MAPS, kind, lambda layer, native: {_swap(k, a, b): v
                                                               for k, v in old_vars(layer, native).items()})
    else:  # jax: leaves are paired with neutral names by path, so the mix-up is in that pairing
        old_name = w.neutral_name

        def neutral_name(path: tuple[str | int, ...], spec: ModelSpec) -> str:
            index, local = old_name(path, spec).split(".", 1)
            return f"{index}.{_swap(local, a, b)}"

        mp.setattr(w, "neutral_name", neutral_name)


def plant_builder(backend: str, mp: pytest.MonkeyPatch, kind: str, make: Callable[[Callable[..., Any]], Any]) -> None:
    """Replace the backend's builder of a layer kind by make(original builder)."""
    layers = importlib.import_module(f"backends.{backend}.layers")
    mp.setitem(layers.LAYER_BUILDERS, kind, make(layers.LAYER_BUILDERS[kind]))


def plant_ln_eps(backend: str, mp: pytest.MonkeyPatch) -> None:
    """The encoder's LayerNorms built with epsilon 1e-3 instead of the spec's 1e-5 (Keras' default when omitted)."""
    plant_builder(backend, mp, "transformer_encoder", lambda old: lambda layer, *rest: old(
        dataclasses.replace(layer, layer_norm_eps=WRONG_LN_EPS), *rest))


def plant_beta2(backend: str, mp: pytest.MonkeyPatch) -> None:
    """Adam built with beta2 0.99 instead of the spec's 0.999 (patched where the adapter looks it up)."""
    for module in (f"backends.{backend}.adapter", f"backends.{backend}.optim"):
        mod = importlib.import_module(module)
        old = mod.make_optimizer

        def make_optimizer(*args: Any, _old: Callable[..., Any] = old) -> Any:
            *rest, spec = args
            return _old(*rest, dataclasses.replace(spec, beta2=0.99) if spec.name == "adam" else spec)

        mp.setattr(mod, "make_optimizer", make_optimizer)


def _swap_gate_blocks(a: np.ndarray, axis: int) -> np.ndarray:
    """Gate blocks i, f, g, o along `axis` reordered to i, g, f, o (an involution)."""
    i, f, g, o = np.split(a, 4, axis=axis)
    return np.concatenate([i, g, f, o], axis=axis)


def plant_lstm_gates(backend: str, mp: pytest.MonkeyPatch) -> None:
    """LSTM gates read in the order i, g, f, o where the neutral layout has i, f, g, o."""
    if backend == "torch":  # the weight map writes torch's (4H, ·) blocks in the wrong order (and reads them back)
        w = importlib.import_module("backends.torch.weights")
        old = w.WEIGHT_MAPS["lstm"]
        mp.setitem(w.WEIGHT_MAPS, "lstm", w.WeightMap(
            lambda layer, p, rows: {k: _swap_gate_blocks(v, 0) for k, v in old.to_native(layer, p, rows).items()},
            lambda layer, n, rows: old.from_native(layer, {k: _swap_gate_blocks(v, 0) for k, v in n.items()},
                                                   rows)))
    elif backend == "tensorflow":  # Keras maps variables 1:1, so the nearest real bug is a cell with another order
        from keras.src.layers.rnn.lstm import LSTMCell

        class GateSwappedCell(LSTMCell):
            def _compute_carry_and_output_fused(self, z: Any, c_tm1: Any) -> Any:
                return super()._compute_carry_and_output_fused((z[0], z[2], z[1], z[3]), c_tm1)

        def make(old: Callable[..., Any]) -> Callable[..., Any]:
            def build(*args: Any) -> Any:
                built = old(*args)
                for lstm in built:
                    lstm.cell.__class__ = GateSwappedCell
                return built
            return build

        plant_builder(backend, mp, "lstm", make)
    else:  # jax keeps the fused neutral arrays, so the nearest real bug is the scan cell slicing gates wrongly
        import jax
        import jax.numpy as jnp

        jl = importlib.import_module("backends.jax.layers")

        class GateSwappedLstm(jl.LstmLayer):
            def __call__(self, xs: Any, keep_sequence: bool) -> Any:
                h, rec = self.units, self.recurrent_kernel[...]
                projected = xs @ self.kernel[...] + self.bias[...]

                def cell(carry: Any, z_x: Any) -> Any:
                    hs, cs = carry
                    z = z_x + hs @ rec
                    i, g, f, o = (z[:, k * h:(k + 1) * h] for k in range(4))
                    cs = jax.nn.sigmoid(f) * cs + jax.nn.sigmoid(i) * jnp.tanh(g)
                    hs = jax.nn.sigmoid(o) * jnp.tanh(cs)
                    return (hs, cs), (hs if keep_sequence else None)

                zeros = jnp.zeros((xs.shape[1], h), projected.dtype)
                (last, _), seq = jax.lax.scan(cell, (zeros, zeros), projected)
                return seq if keep_sequence else last

        mp.setattr(jl, "LstmLayer", GateSwappedLstm)


def plant_flatten(backend: str, mp: pytest.MonkeyPatch) -> None:
    """Flatten in C, H, W order while the Dense rows stay in the neutral H, W, C order."""
    if backend == "torch":  # the classic: NCHW flatten without permuting the first Dense's rows
        mp.setattr(importlib.import_module("backends.torch.layers"), "flatten_row_order",
                   lambda shape: np.arange(math.prod(shape)))
    elif backend == "tensorflow":  # Keras has no NCHW tensor here: a Flatten told the data is channels-first
        import keras
        plant_builder(backend, mp, "flatten", lambda old: lambda layer, in_shape, o: [
            keras.layers.Flatten(data_format="channels_first", dtype=o.dtype)])
    else:  # jax: no NCHW tensor either: a reshape that moves channels first before flattening
        import jax.numpy as jnp
        jl = importlib.import_module("backends.jax.layers")
        plant_builder(backend, mp, "flatten", lambda old: jl._stateless(
            lambda layer, x, key: jnp.moveaxis(x, -1, 1).reshape(x.shape[0], -1)))


def plant_conv_transpose(backend: str, mp: pytest.MonkeyPatch) -> None:
    """The conv kernel's spatial axes transposed (kH ⇄ kW)."""
    if backend == "torch":  # the weight map writes (out, in, kW, kH) instead of (out, in, kH, kW)
        w = importlib.import_module("backends.torch.weights")
        mp.setitem(w.WEIGHT_MAPS, "conv2d", w.WeightMap(
            lambda layer, p, rows: {"weight": p["kernel"].transpose(3, 2, 1, 0), "bias": p["bias"]},
            lambda layer, n, rows: {"kernel": n["weight"].transpose(3, 2, 1, 0), "bias": n["bias"]}))
    elif backend == "tensorflow":  # Keras keeps the neutral layout: a conv that transposes its kernel when applied
        import keras
        tl = importlib.import_module("backends.tensorflow.layers")

        class TransposedConv2D(keras.layers.Conv2D):
            def convolution_op(self, inputs: Any, kernel: Any) -> Any:
                return super().convolution_op(inputs, keras.ops.transpose(kernel, (1, 0, 2, 3)))

        plant_builder(backend, mp, "conv2d", lambda old: tl._conv(TransposedConv2D))
    else:  # jax keeps the neutral layout too: nnx.Conv given a convolution that transposes its kernel
        import jax
        import jax.numpy as jnp

        def make(old: Callable[..., Any]) -> Callable[..., Any]:
            def build(*args: Any) -> Any:
                native = old(*args)
                native.module.conv_general_dilated = lambda lhs, rhs, *a, **k: jax.lax.conv_general_dilated(
                    lhs, jnp.swapaxes(rhs, 0, 1), *a, **k)
                return native
            return build

        plant_builder(backend, mp, "conv2d", make)


def plant_dropout_in_eval(backend: str, mp: pytest.MonkeyPatch) -> None:
    """Dropout that keeps dropping at inference."""
    if backend == "torch":
        from torch import nn
        from torch.nn import functional as F

        class AlwaysDropout(nn.Dropout):
            def forward(self, x: Any) -> Any:
                return F.dropout(x, self.p, training=True)

        plant_builder(backend, mp, "dropout", lambda old: lambda layer, in_shape, first: (
            [AlwaysDropout(layer.rate)] if layer.rate > 0 else []))
    elif backend == "tensorflow":
        tl = importlib.import_module("backends.tensorflow.layers")

        class AlwaysDropoutTF(tl.PhiloxDropout):
            def call(self, x: Any, training: Any = None) -> Any:
                return super().call(x, training=True)

        plant_builder(backend, mp, "dropout", lambda old: lambda layer, in_shape, o: [
            AlwaysDropoutTF(layer.rate, dtype=o.dtype)])
    else:  # jax: inference is "no key"; the bug draws a mask from a fixed key instead
        import jax
        jl = importlib.import_module("backends.jax.layers")
        plant_builder(backend, mp, "dropout", lambda old: jl._stateless(lambda layer, x, key: jl.dropout(
            x, layer.rate, jax.random.PRNGKey(0) if key is None else key)))


MUTATIONS: dict[str, tuple[str, Callable[[str, pytest.MonkeyPatch], None]]] = {
    "q/k biases swapped": ("tiny_transformer", lambda b, mp: plant_swap(
        b, mp, "transformer_encoder", "attn.query.bias", "attn.key.bias")),
    "norm1/norm2 swapped": ("tiny_transformer", lambda b, mp: plant_swap(
        b, mp, "transformer_encoder", "norm1.", "norm2.")),
    "LayerNorm eps 1e-3 (spec 1e-5)": ("tiny_transformer", plant_ln_eps),
    "Adam beta2 0.99 (spec 0.999)": ("tiny_cnn", plant_beta2),
    "flatten order C,H,W": ("tiny_cnn", plant_flatten),
    "conv kernel kH/kW transposed": ("tiny_cnn", plant_conv_transpose),
    "LSTM gate order i,g,f,o": ("tiny_lstm", plant_lstm_gates),
    "dropout on in eval": ("tiny_cnn", plant_dropout_in_eval),
}


@functools.cache
def mutated(backend: str, mutation: str) -> dict[str, Any]:
    """The backend's parity measurement of the mutation's case with the bug planted (measured once)."""
    name, plant = MUTATIONS[mutation]
    with pytest.MonkeyPatch.context() as mp:
        plant(backend, mp)
        return measure(backend, get_backend(backend).default_mode, case(name))


def _others(backend: str, name: str) -> dict[str, dict[str, Any]]:
    """Unmutated measurements of the other installed backends."""
    return {b: {name: baseline(b, name)} for b in BACKEND_NAMES if b != backend and not get_backend(b).missing()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_unmutated_backends_agree(name: str) -> None:
    installed = [b for b in BACKEND_NAMES if not get_backend(b).missing()]
    if not installed:
        pytest.skip("no backend installed")
    rows = compare_case(case(name), {b: {name: baseline(b, name)} for b in installed})
    assert rows and all(r["ok"] for r in rows), [(r["a"], r["b"], r["failed"]) for r in rows if not r["ok"]]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize("mutation", list(MUTATIONS))
def test_a_planted_bug_fails_parity(mutation: str, backend: str) -> None:
    require_backend(backend)
    name = MUTATIONS[mutation][0]
    others = _others(backend, name)  # measured before planting
    rows = compare_case(case(name), {**others, backend: {name: mutated(backend, mutation)}})
    mine = [r for r in rows if backend in (r["a"], r["b"])]
    assert all(r["ok"] for r in rows if r not in mine), "the unmutated backends must still agree"
    caught = sorted({f"{check} ({'ref' if r['a'] == 'numpy-reference' else 'pair'})"
                     for r in mine for check in r["failed"]})
    worst = {k: max(r.get(k, 0.0) for r in mine) for k in ("loss_task_max_rel", "weights_task_max_rel")}
    print(f"\nMUTATION | {mutation} | {backend} | {', '.join(caught) or 'NOT CAUGHT'} | {worst}")
    assert not all(r["ok"] for r in mine), f"{mutation} in {backend} passed parity"

