"""Flax NNX modules built from the neutral layer specs, and the one model that chains them.

Native parameter paths are ("layers", <index>, *<neutral local name>.split(".")), except Embedding's `embedding`
(neutral `embeddings`); see weights.py. Dropout takes an explicit jax.random key (None = inference), so a
training step stays a pure function of arrays.

LSTM: an own NNX module holding the fused neutral kernel (I, 4H), recurrent_kernel (H, 4H) and bias (4H) as
nnx.Param, run with jax.lax.scan. Compared with nnx.LSTMCell (eight Linear maps per layer) this maps weights 1:1 and
is faster: the input projection of all time steps is one matmul before the scan, and each step does one (N, H) @
(H, 4H) matmul instead of four.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import itertools
import math
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from suites.layers import (
    LSTM,
    Activation,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePool1D,
    GlobalMaxPool1D,
    Layer,
    LayerNorm,
    MaxPool1D,
    MaxPool2D,
    PositionalEncoding,
    Shape,
    TransformerEncoder,
)
from suites.spec import ModelSpec

Array = jax.Array
Key = jax.Array | None

LSTM_SCAN_UNROLL = 1
"""lax.scan unroll factor of the LSTM time loop (fewer loop iterations on XLA CPU; same result)."""

_scan_unroll: contextvars.ContextVar[int | bool] = contextvars.ContextVar("lstm_scan_unroll", default=LSTM_SCAN_UNROLL)


@contextlib.contextmanager
def unrolled_scans() -> Iterator[None]:
    """Trace LSTM time loops fully unrolled: XLA's cost analysis counts a while-loop body once, not per step."""
    token = _scan_unroll.set(True)
    try:
        yield
    finally:
        _scan_unroll.reset(token)


def _gelu(x: Array) -> Array:
    return jax.nn.gelu(x, approximate=False)


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid, "gelu": _gelu}
"""The neutral activations; gelu is the exact (erf) form (jax.nn.gelu defaults to the tanh approximation)."""


def activate(name: str | None, x: Array) -> Array:
    """Apply a neutral activation by name; None is the identity."""
    return x if name is None else ACTIVATIONS[name](x)


def dropout(x: Array, rate: float, key: Key) -> Array:
    """Inverted dropout with an explicit key; identity when key is None (inference) or rate is 0."""
    if key is None or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, x.shape)
    return jnp.where(mask, x / keep, jnp.zeros((), x.dtype))


def max_pool(x: Array, pool: int, stride: int, axes: tuple[int, ...]) -> Array:
    """Max pooling (VALID, floor) over `axes`, built from strided slices; the gradient goes to the first maximum.

    Same values and gradient as flax's max_pool (reduce_window, whose backward is select_and_scatter: first
    maximum in row-major window order), but the backward is elementwise selects instead of select_and_scatter,
    which XLA CPU runs about 15x slower.
    """
    outs = [(x.shape[a] - pool) // stride + 1 for a in axes]
    elements = []
    for offsets in itertools.product(range(pool), repeat=len(axes)):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        for axis, offset, out in zip(axes, offsets, outs, strict=True):
            start[axis], limit[axis], strides[axis] = offset, offset + stride * (out - 1) + 1, stride
        elements.append(jax.lax.slice(x, start, limit, strides))
    peak = jax.lax.stop_gradient(functools.reduce(jnp.maximum, elements))
    result = elements[-1]
    for element in reversed(elements[:-1]):  # earlier window positions win ties
        result = jnp.where(element == peak, element, result)
    return result


@functools.lru_cache(maxsize=32)
def sinusoidal_table(length: int, dim: int) -> np.ndarray:
    """pe[pos, 2i] = sin(pos / 10000^(2i/D)), pe[pos, 2i+1] = cos(...), computed in float64, returned as float32."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    rates = np.power(10000.0, -np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((length, dim), np.float64)
    table[:, 0::2] = np.sin(pos * rates)
    table[:, 1::2] = np.cos(pos * rates)
    return table.astype(np.float32)


class LstmLayer(nnx.Module):
    """One LSTM layer with the fused neutral weights (gates i, f, g, o); runs time-major with lax.scan."""

    def __init__(self, in_features: int, units: int) -> None:
        self.units = units
        self.kernel = nnx.Param(jnp.zeros((in_features, 4 * units), jnp.float32))
        self.recurrent_kernel = nnx.Param(jnp.zeros((units, 4 * units), jnp.float32))
        self.bias = nnx.Param(jnp.zeros((4 * units,), jnp.float32))

    def __call__(self, xs: Array, keep_sequence: bool) -> Array:
        """xs (T, N, I) → hidden states (T, N, H), or the last one (N, H) when keep_sequence is False."""
        h = self.units
        projected = xs @ self.kernel[...] + self.bias[...]  # all time steps in one matmul
        recurrent = self.recurrent_kernel[...]

        def cell(carry: tuple[Array, Array], z_x: Array) -> tuple[tuple[Array, Array], Array | None]:
            hs, cs = carry
            z = z_x + hs @ recurrent
            i = jax.nn.sigmoid(z[:, :h])
            f = jax.nn.sigmoid(z[:, h:2 * h])
            g = jnp.tanh(z[:, 2 * h:3 * h])
            o = jax.nn.sigmoid(z[:, 3 * h:])
            cs = f * cs + i * g
            hs = o * jnp.tanh(cs)
            return (hs, cs), (hs if keep_sequence else None)

        zeros = jnp.zeros((xs.shape[1], h), projected.dtype)
        (last, _), seq = jax.lax.scan(cell, (zeros, zeros), projected, unroll=_scan_unroll.get())
        return seq if keep_sequence else last


class StackedLstm(nnx.Module):
    """Stacked LSTM over (N, T, F) with zero initial state; layers are attributes l0, l1, ... (neutral names)."""

    def __init__(self, spec: LSTM, in_features: int) -> None:
        self.num_layers = spec.num_layers
        self.return_sequences = spec.return_sequences
        width = in_features
        for k in range(spec.num_layers):
            setattr(self, f"l{k}", LstmLayer(width, spec.units))
            width = spec.units

    def __call__(self, x: Array) -> Array:
        seq = jnp.swapaxes(x, 0, 1)  # time-major for the scan
        for k in range(self.num_layers):
            top = k == self.num_layers - 1
            seq = getattr(self, f"l{k}")(seq, keep_sequence=not top or self.return_sequences)
        return jnp.swapaxes(seq, 0, 1) if self.return_sequences else seq


class EncoderLayer(nnx.Module):
    """A TransformerEncoder layer: nnx.MultiHeadAttention + feed-forward, post- or pre-norm, dropout everywhere."""

    def __init__(self, spec: TransformerEncoder, rngs: nnx.Rngs) -> None:
        d = spec.d_model
        self.rate = spec.dropout
        self.norm_first = spec.norm_first
        self.activation = spec.activation
        # broadcast_dropout=False: an independent mask per batch element and head (flax defaults to a shared one)
        self.attn = nnx.MultiHeadAttention(spec.num_heads, d, d, d, dropout_rate=spec.dropout,
                                           broadcast_dropout=False, decode=False, keep_rngs=False, rngs=rngs)
        # use_fast_variance=False: the two-pass biased variance, as every other backend computes it
        self.norm1 = nnx.LayerNorm(d, epsilon=spec.layer_norm_eps, use_fast_variance=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d, epsilon=spec.layer_norm_eps, use_fast_variance=False, rngs=rngs)
        self.ff1 = nnx.Linear(d, spec.ff_dim, rngs=rngs)
        self.ff2 = nnx.Linear(spec.ff_dim, d, rngs=rngs)

    def __call__(self, x: Array, key: Key) -> Array:
        train = key is not None and self.rate > 0.0
        k_attn, k_res1, k_res2, k_ff = jax.random.split(key, 4) if train else (None,) * 4

        def attention(h: Array) -> Array:
            rngs = nnx.Rngs(k_attn) if train else None
            return dropout(self.attn(h, deterministic=not train, rngs=rngs), self.rate, k_res1)

        def feed_forward(h: Array) -> Array:
            inner = dropout(activate(self.activation, self.ff1(h)), self.rate, k_ff)
            return dropout(self.ff2(inner), self.rate, k_res2)

        if self.norm_first:
            x = x + attention(self.norm1(x))
            return x + feed_forward(self.norm2(x))
        x = self.norm1(x + attention(x))
        return self.norm2(x + feed_forward(x))


def build_layer(layer: Layer, in_shape: Shape, rngs: nnx.Rngs) -> nnx.Module | None:
    """The native module owning a layer's parameters, or None for a parameter-free layer."""
    width = in_shape[-1] if in_shape else 0
    if isinstance(layer, Dense):
        return nnx.Linear(width, layer.units, use_bias=layer.use_bias, rngs=rngs)
    if isinstance(layer, (Conv2D, Conv1D)):
        dims = 2 if isinstance(layer, Conv2D) else 1
        return nnx.Conv(width, layer.filters, (layer.kernel_size,) * dims, (layer.stride,) * dims,
                        padding=layer.padding.upper(), rngs=rngs)
    if isinstance(layer, Embedding):
        return nnx.Embed(layer.vocab_size, layer.dim, rngs=rngs)
    if isinstance(layer, LSTM):
        return StackedLstm(layer, width)
    if isinstance(layer, LayerNorm):
        return nnx.LayerNorm(width, epsilon=layer.eps, use_fast_variance=False, rngs=rngs)
    if isinstance(layer, TransformerEncoder):
        return EncoderLayer(layer, rngs)
    if isinstance(layer, (MaxPool2D, MaxPool1D, Flatten, Dropout, Activation, GlobalMaxPool1D,
                          GlobalAveragePool1D, PositionalEncoding)):
        return None
    raise TypeError(f"jax backend has no rule for layer {type(layer).__name__}")


def apply_layer(layer: Layer, module: Any, x: Array, key: Key) -> Array:
    """One layer's forward pass; key is a dropout key in training, None in inference."""
    if isinstance(layer, (Dense, Conv2D, Conv1D)):
        return activate(layer.activation, module(x))
    if isinstance(layer, (Embedding, LSTM, LayerNorm)):
        return module(x)
    if isinstance(layer, TransformerEncoder):
        return module(x, key)
    if isinstance(layer, MaxPool2D):
        return max_pool(x, layer.pool_size, layer.effective_stride, (1, 2))
    if isinstance(layer, MaxPool1D):
        return max_pool(x, layer.pool_size, layer.effective_stride, (1,))
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(layer, Dropout):
        return dropout(x, layer.rate, key)
    if isinstance(layer, Activation):
        return activate(layer.name, x)
    if isinstance(layer, GlobalMaxPool1D):
        return x.max(axis=1)
    if isinstance(layer, GlobalAveragePool1D):
        return x.mean(axis=1)
    if isinstance(layer, PositionalEncoding):
        if layer.scale_input:
            x = x * jnp.asarray(math.sqrt(x.shape[-1]), x.dtype)
        return x + jnp.asarray(sinusoidal_table(x.shape[1], x.shape[2]), x.dtype)  # bf16 stays bf16
    raise TypeError(f"jax backend has no rule for layer {type(layer).__name__}")


class NeutralModel(nnx.Module):
    """A ModelSpec as one NNX module: `layers[i]` owns layer i's parameters (None where it has none)."""

    def __init__(self, spec: ModelSpec) -> None:
        rngs = nnx.Rngs(0)  # placeholder initial values only: weights are always loaded from the neutral layout
        self.specs = tuple(spec.layers)
        shapes = [in_shape for in_shape, _ in spec.layer_shapes()]
        modules = [build_layer(layer, shape, rngs) for layer, shape in zip(spec.layers, shapes, strict=True)]
        self.layers = nnx.List(modules)

    def __call__(self, x: Array, key: Key = None) -> Array:
        """Outputs for a batch; dropout is on only when a key is given."""
        for i, (layer, module) in enumerate(zip(self.specs, self.layers, strict=True)):
            random = key is not None and isinstance(layer, (Dropout, TransformerEncoder))
            x = apply_layer(layer, module, x, jax.random.fold_in(key, i) if random else None)
        return x
