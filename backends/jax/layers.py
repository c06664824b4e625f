"""Flax NNX modules built from the neutral layer specs, and the one model that chains them.

LAYER_BUILDERS maps each neutral layer kind to a function (layer, in_shape, rngs) → Native(module, apply): the NNX
module owning the layer's parameters (None if it has none) and apply(module, x, key) → y. Native parameter paths are
("layers", <index>, *<neutral local name>.split(".")), renamed per kind by weights.WEIGHT_MAPS. Dropout takes an
explicit jax.random key (None = inference), so a training step stays a pure function of arrays.

LSTM: an own NNX module holding the fused neutral kernel (I, 4H), recurrent_kernel (H, 4H) and bias (4H) as
nnx.Param, run with jax.lax.scan. Compared with nnx.LSTMCell (eight Linear maps per layer) this maps weights 1:1 and
is faster: the input projection of all time steps is one matmul before the scan, and each step does one (N, H) @
(H, 4H) matmul instead of four. The token-sequence layers (tokens, class token, positions) live in token_layers,
max pooling in pooling, the padding mask (and the masked mean) in masking: a layer that reads the padding mask
(suites/padding.py) gets it as apply's fourth argument.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import nnx

from backends.base import for_kind
from backends.jax import NAME, norm_layers
from backends.jax import token_layers as T
from backends.jax.masking import attention_mask, mean_pool, padding_mask
from backends.jax.pooling import max_pool
from backends.jax.residual import ResidualModule
from suites import layers as L
from suites.layers import Shape
from suites.padding import masks_padding
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


ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": jax.nn.relu, "tanh": jnp.tanh, "sigmoid": jax.nn.sigmoid,
    "gelu": functools.partial(jax.nn.gelu, approximate=False),
    "gelu_tanh": functools.partial(jax.nn.gelu, approximate=True)}
"""The neutral activations; gelu is the exact (erf) form (jax.nn.gelu defaults to the tanh approximation, which is
gelu_tanh)."""


def activation(name: str | None) -> Callable[[Array], Array] | None:
    """The jax function for a neutral activation name; None for no activation."""
    return None if name is None else ACTIVATIONS[name]


def activate(name: str | None, x: Array) -> Array:
    """Apply a neutral activation by name; None is the identity."""
    fn = activation(name)
    return x if fn is None else fn(x)


def dropout(x: Array, rate: float, key: Key) -> Array:
    """Inverted dropout with an explicit key; identity when key is None (inference) or rate is 0."""
    if key is None or rate == 0.0:
        return x
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, x.shape)
    return jnp.where(mask, x / keep, jnp.zeros((), x.dtype))


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

    def __init__(self, spec: L.LSTM, in_features: int) -> None:
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

    def __init__(self, spec: L.TransformerEncoder, rngs: nnx.Rngs) -> None:
        d = spec.d_model
        self.rate = spec.dropout
        self.norm_first = spec.norm_first
        self.activation = spec.activation
        self.causal = spec.causal
        # broadcast_dropout=False: an independent mask per batch element and head (flax defaults to a shared one)
        self.attn = nnx.MultiHeadAttention(spec.num_heads, d, d, d, dropout_rate=spec.dropout,
                                           broadcast_dropout=False, decode=False, keep_rngs=False, rngs=rngs)
        # use_fast_variance=False: the two-pass biased variance, as every other backend computes it
        self.norm1 = nnx.LayerNorm(d, epsilon=spec.layer_norm_eps, use_fast_variance=False, rngs=rngs)
        self.norm2 = nnx.LayerNorm(d, epsilon=spec.layer_norm_eps, use_fast_variance=False, rngs=rngs)
        self.ff1 = nnx.Linear(d, spec.ff_dim, rngs=rngs)
        self.ff2 = nnx.Linear(spec.ff_dim, d, rngs=rngs)

    def __call__(self, x: Array, key: Key, pad: Array | None = None) -> Array:
        train = key is not None and self.rate > 0.0
        k_attn, k_res1, k_res2, k_ff = jax.random.split(key, 4) if train else (None,) * 4

        def attention(h: Array) -> Array:
            rngs = nnx.Rngs(k_attn) if train else None
            mask = attention_mask(h[..., 0], pad, self.causal)  # (N, 1, T, T) or None: masking.attention_mask
            return dropout(self.attn(h, mask=mask, deterministic=not train, rngs=rngs), self.rate, k_res1)

        def feed_forward(h: Array) -> Array:
            inner = dropout(activate(self.activation, self.ff1(h)), self.rate, k_ff)
            return dropout(self.ff2(inner), self.rate, k_res2)

        if self.norm_first:
            x = x + attention(self.norm1(x))
            return x + feed_forward(self.norm2(x))
        x = self.norm1(x + attention(x))
        return self.norm2(x + feed_forward(x))


Apply = Callable[[Any, Array, Key], Array]
"""apply(module, x, key) → the layer's output; key is a dropout key in training, None in inference."""


class Native(NamedTuple):
    """One neutral layer in NNX: the module owning its parameters (None if it has none) and its forward pass."""

    module: nnx.Module | None
    apply: Apply


def _call(module: Any, x: Array, key: Key) -> Array:
    return module(x)


def _keyed_call(module: Any, x: Array, key: Key) -> Array:
    return module(x, key)


def _activated(module: nnx.Module, name: str | None) -> Native:
    return Native(module, lambda m, x, key: activate(name, m(x)))


def _conv(layer: L.Conv2D | L.Conv1D, in_shape: Shape, rngs: nnx.Rngs) -> Native:
    dims = 2 if layer.kind == "conv2d" else 1
    return _activated(nnx.Conv(in_shape[-1], layer.filters, (layer.kernel_size,) * dims, (layer.stride,) * dims,
                               padding=layer.padding.upper(), use_bias=getattr(layer, "use_bias", True), rngs=rngs),
                      layer.activation)


def _tied_by_model(module: Any, x: Array, key: Key) -> Array:
    raise TypeError("a TiedHead is applied by NeutralModel, which hands it its source Embed (token_layers.tied_head)")


def _stateless(apply: Callable[[L.Layer, Array, Key], Array]) -> Callable[[L.Layer, Shape, nnx.Rngs], Native]:
    """The builder of a parameter-free layer from apply(layer, x, key)."""
    return lambda layer, in_shape, rngs: Native(None, lambda module, x, key: apply(layer, x, key))


LAYER_BUILDERS: dict[str, Callable[[Any, Shape, nnx.Rngs], Native]] = {
    "dense": lambda layer, in_shape, rngs: _activated(
        nnx.Linear(in_shape[-1], layer.units, use_bias=layer.use_bias, rngs=rngs), layer.activation),
    "conv2d": _conv,
    "maxpool2d": _stateless(lambda layer, x, key: max_pool(x, layer.pool_size, layer.effective_stride, (1, 2),
                                                           key is not None)),
    "flatten": _stateless(lambda layer, x, key: x.reshape(x.shape[0], -1)),
    "dropout": _stateless(lambda layer, x, key: dropout(x, layer.rate, key)),
    "activation": _stateless(lambda layer, x, key: activate(layer.name, x)),
    "embedding": lambda layer, in_shape, rngs: Native(nnx.Embed(layer.vocab_size, layer.dim, rngs=rngs), _call),
    "conv1d": _conv,
    "maxpool1d": _stateless(lambda layer, x, key: max_pool(x, layer.pool_size, layer.effective_stride, (1,),
                                                           key is not None)),
    "global_maxpool1d": _stateless(lambda layer, x, key: x.max(axis=1)),
    "global_avgpool1d": lambda layer, in_shape, rngs: Native(None, lambda m, x, key, pad=None: mean_pool(x, pad)),
    "lstm": lambda layer, in_shape, rngs: Native(StackedLstm(layer, in_shape[-1]), _call),
    "layernorm": lambda layer, in_shape, rngs: Native(
        nnx.LayerNorm(in_shape[-1], epsilon=layer.eps, use_fast_variance=False, rngs=rngs), _call),
    "positional_encoding": _stateless(lambda layer, x, key: T.sinusoidal_positions(layer, x)),
    "transformer_encoder": lambda layer, in_shape, rngs: Native(EncoderLayer(layer, rngs),
                                                                lambda m, x, key, pad=None: m(x, key, pad)),
    "tokens": _stateless(lambda layer, x, key: T.tokens(x)),
    "class_token": lambda layer, in_shape, rngs: Native(T.ClassTokenLayer(in_shape[-1]), _call),
    "learned_positions": lambda layer, in_shape, rngs: Native(T.LearnedPositionsLayer(layer.max_len, in_shape[-1]),
                                                               _call),
    "take_token": _stateless(lambda layer, x, key: T.take_token(x, layer.index)),
    "batch_norm": lambda layer, in_shape, rngs: Native(*norm_layers.batch_norm(layer, in_shape, rngs)),
    "zero_pad2d": _stateless(lambda layer, x, key: jnp.pad(x, ((0, 0), (layer.pad,) * 2, (layer.pad,) * 2, (0, 0)))),
    "global_avgpool2d": _stateless(lambda layer, x, key: x.mean(axis=(1, 2))),
    "residual": lambda layer, in_shape, rngs: Native(
        ResidualModule(layer, in_shape, build_layer, lambda kind: kind in STOCHASTIC | PHASED, rngs), _keyed_call),
    "tied_head": lambda layer, in_shape, rngs: Native(T.TiedHeadBias(layer.vocab_size) if layer.use_bias else None,
                                                      _tied_by_model),
}
"""Neutral layer kind → (layer, in_shape, rngs) → Native(module owning its parameters or None, apply)."""

STOCHASTIC = frozenset({"dropout", "transformer_encoder"})
"""Layer kinds that draw dropout masks: only they get a (per-layer) key in training."""
PHASED = frozenset({"maxpool2d", "maxpool1d", "batch_norm", "residual"})
"""Kinds with an equal-valued training path: they get a key in training (None in inference) to tell phases apart."""


def build_layer(layer: L.Layer, in_shape: Shape, rngs: nnx.Rngs) -> Native:
    """The NNX module owning a layer's parameters (None for a parameter-free layer) and its forward pass."""
    return for_kind(LAYER_BUILDERS, layer.kind, NAME)(layer, in_shape, rngs)


class NeutralModel(nnx.Module):
    """A ModelSpec as one NNX module: `layers[i]` owns layer i's parameters (None where it has none)."""

    def __init__(self, spec: ModelSpec) -> None:
        rngs = nnx.Rngs(0)  # placeholder initial values only: weights are always loaded from the neutral layout
        shapes = [in_shape for in_shape, _ in spec.layer_shapes()]
        built = [build_layer(layer, shape, rngs) for layer, shape in zip(spec.layers, shapes, strict=True)]
        self.layers = nnx.List([native.module for native in built])
        self.applies = tuple(native.apply for native in built)
        self.keyed = tuple(layer.kind in STOCHASTIC | PHASED for layer in spec.layers)
        self.readers = frozenset(i for i, layer in enumerate(spec.layers) if masks_padding(layer))
        self.tied = {i: layer.source for i, layer in enumerate(spec.layers) if isinstance(layer, L.TiedHead)}

    def __call__(self, x: Array, key: Key = None) -> Array:
        """Outputs for a batch; a key is given exactly in training: dropout is on, pools take their training path. A
        layer that reads the padding mask also gets the input ids' mask (masking.padding_mask)."""
        pad = padding_mask(x) if self.readers else None
        for i, (module, apply, keyed) in enumerate(zip(self.layers, self.applies, self.keyed, strict=True)):
            random = key is not None and keyed
            layer_key = jax.random.fold_in(key, i) if random else None
            if i in self.tied:
                x = T.tied_head(module, x, self.layers[self.tied[i]])
            else:
                x = apply(module, x, layer_key, pad) if i in self.readers else apply(module, x, layer_key)
        return x


def build_model(spec: ModelSpec) -> NeutralModel:
    """The abstract NNX model of a neutral spec (shapes only, no initial values: weights come from the neutral
    layout through weights.write_weights). A kind without a builder is Unsupported before any tracing."""
    for layer in spec.layers:
        for_kind(LAYER_BUILDERS, layer.kind, NAME)
    return nnx.eval_shape(lambda: NeutralModel(spec))
