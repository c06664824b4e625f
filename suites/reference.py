"""A float64 numpy forward pass of any ModelSpec: the independent reference each backend is proven against.

One function per layer kind, `(layer, weights, x) -> y` in inference mode, listed in REFERENCE by the layer's kind.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import erf

from suites.layers import (
    LSTM,
    Activation,
    Conv1D,
    Conv2D,
    Dense,
    Embedding,
    Layer,
    LayerNorm,
    MaxPool1D,
    MaxPool2D,
    PositionalEncoding,
    TransformerEncoder,
)
from suites.params import Weights
from suites.spec import ModelSpec

Array = np.ndarray


def activate(name: str | None, x: Array) -> Array:
    """relu, tanh, sigmoid or exact (erf) gelu; None is the identity."""
    if name is None:
        return x
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "tanh":
        return np.tanh(x)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-x))
    if name == "gelu":
        return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))
    raise ValueError(f"unknown activation {name!r}")


def sinusoidal_table(length: int, dim: int) -> Array:
    """pe[pos, 2i] = sin(pos / 10000^(2i/D)), pe[pos, 2i+1] = cos(...), as float32 (what every backend adds)."""
    pos = np.arange(length, dtype=np.float64)[:, None]
    rates = np.power(10000.0, -np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((length, dim), np.float64)
    table[:, 0::2] = np.sin(pos * rates)
    table[:, 1::2] = np.cos(pos * rates)
    return table.astype(np.float32)


def _same_pad(x: Array, k: int, axes: tuple[int, ...]) -> Array:
    pad = [(0, 0)] * x.ndim
    for axis in axes:
        pad[axis] = (k // 2, k // 2)
    return np.pad(x, pad)


def _conv2d(layer: Conv2D, w: Weights, x: Array) -> Array:
    k, s = layer.kernel_size, layer.stride
    if layer.padding == "same":
        x = _same_pad(x, k, (1, 2))
    win = sliding_window_view(x, (k, k), axis=(1, 2))[:, ::s, ::s]  # (N, H', W', C, k, k)
    out = np.einsum("nhwcij,ijco->nhwo", win, w["kernel"]) + w["bias"]
    return activate(layer.activation, out)


def _conv1d(layer: Conv1D, w: Weights, x: Array) -> Array:
    k, s = layer.kernel_size, layer.stride
    if layer.padding == "same":
        x = _same_pad(x, k, (1,))
    win = sliding_window_view(x, k, axis=1)[:, ::s]  # (N, T', C, k)
    out = np.einsum("ntck,kco->nto", win, w["kernel"]) + w["bias"]
    return activate(layer.activation, out)


def _maxpool(x: Array, pool: int, stride: int, axes: tuple[int, ...]) -> Array:
    win = sliding_window_view(x, (pool,) * len(axes), axis=axes)
    index = tuple(slice(None, None, stride) if a in axes else slice(None) for a in range(x.ndim))
    return win[index].max(axis=tuple(range(-len(axes), 0)))


def _sigmoid(x: Array) -> Array:
    return 1.0 / (1.0 + np.exp(-x))


def _lstm(layer: LSTM, w: Weights, x: Array) -> Array:
    seq = x
    for k in range(layer.num_layers):
        kernel, rec, bias = w[f"l{k}.kernel"], w[f"l{k}.recurrent_kernel"], w[f"l{k}.bias"]
        n, h = seq.shape[0], layer.units
        hs, cs, outs = np.zeros((n, h)), np.zeros((n, h)), []
        for t in range(seq.shape[1]):
            z = seq[:, t] @ kernel + hs @ rec + bias
            i, f, g, o = (z[:, j * h:(j + 1) * h] for j in range(4))
            cs = _sigmoid(f) * cs + _sigmoid(i) * np.tanh(g)
            hs = _sigmoid(o) * np.tanh(cs)
            outs.append(hs)
        seq = np.stack(outs, axis=1)
    return seq if layer.return_sequences else seq[:, -1]


def _layernorm(x: Array, scale: Array, bias: Array, eps: float) -> Array:
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * scale + bias


def _attention(layer: TransformerEncoder, w: Weights, x: Array) -> Array:
    q = np.einsum("ntd,dhk->nhtk", x, w["attn.query.kernel"]) + w["attn.query.bias"][None, :, None, :]
    k = np.einsum("ntd,dhk->nhtk", x, w["attn.key.kernel"]) + w["attn.key.bias"][None, :, None, :]
    v = np.einsum("ntd,dhk->nhtk", x, w["attn.value.kernel"]) + w["attn.value.bias"][None, :, None, :]
    scores = np.einsum("nhtk,nhsk->nhts", q, k) / math.sqrt(layer.head_dim)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probs = scores / scores.sum(-1, keepdims=True)
    ctx = np.einsum("nhts,nhsk->nhtk", probs, v)
    return np.einsum("nhtk,hkd->ntd", ctx, w["attn.out.kernel"]) + w["attn.out.bias"]


def _transformer(layer: TransformerEncoder, w: Weights, x: Array) -> Array:
    def ff(h: Array) -> Array:
        return activate(layer.activation, h @ w["ff1.kernel"] + w["ff1.bias"]) @ w["ff2.kernel"] + w["ff2.bias"]

    def norm(h: Array, which: str) -> Array:
        return _layernorm(h, w[f"{which}.scale"], w[f"{which}.bias"], layer.layer_norm_eps)

    if layer.norm_first:
        x = x + _attention(layer, w, norm(x, "norm1"))
        return x + ff(norm(x, "norm2"))
    x = norm(x + _attention(layer, w, x), "norm1")
    return norm(x + ff(x), "norm2")


def _dense(layer: Dense, w: Weights, x: Array) -> Array:
    return activate(layer.activation, x @ w["kernel"] + (w["bias"] if layer.use_bias else 0.0))


def _maxpool2d(layer: MaxPool2D, w: Weights, x: Array) -> Array:
    return _maxpool(x, layer.pool_size, layer.effective_stride, (1, 2))


def _maxpool1d(layer: MaxPool1D, w: Weights, x: Array) -> Array:
    return _maxpool(x, layer.pool_size, layer.effective_stride, (1,))


def _flatten(layer: Layer, w: Weights, x: Array) -> Array:
    return x.reshape(x.shape[0], -1)


def _identity(layer: Layer, w: Weights, x: Array) -> Array:
    return x


def _activation(layer: Activation, w: Weights, x: Array) -> Array:
    return activate(layer.name, x)


def _global_max(layer: Layer, w: Weights, x: Array) -> Array:
    return x.max(axis=1)


def _global_mean(layer: Layer, w: Weights, x: Array) -> Array:
    return x.mean(axis=1)


def _embedding(layer: Embedding, w: Weights, x: Array) -> Array:
    return w["embeddings"][x.astype(np.int64)]


def _layernorm_layer(layer: LayerNorm, w: Weights, x: Array) -> Array:
    return _layernorm(x, w["scale"], w["bias"], layer.eps)


def _positional(layer: PositionalEncoding, w: Weights, x: Array) -> Array:
    if layer.scale_input:
        x = x * math.sqrt(x.shape[-1])
    return x + sinusoidal_table(x.shape[1], x.shape[2])


REFERENCE: dict[str, Callable[..., Array]] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": _maxpool2d,
    "flatten": _flatten,
    "dropout": _identity,  # inference mode
    "activation": _activation,
    "embedding": _embedding,
    "conv1d": _conv1d,
    "maxpool1d": _maxpool1d,
    "global_maxpool1d": _global_max,
    "global_avgpool1d": _global_mean,
    "lstm": _lstm,
    "layernorm": _layernorm_layer,
    "positional_encoding": _positional,
    "transformer_encoder": _transformer,
}
"""Layer kind → `(layer, weights, x) -> y`; covers every entry of suites.layers.LAYER_KINDS (tests/test_spec.py)."""


def apply_layer(layer: Layer, w: Weights, x: Array) -> Array:
    """One layer in inference mode on a batch (float64, except embedding ids)."""
    rule = REFERENCE.get(layer.kind)
    if rule is None:
        raise TypeError(f"reference has no rule for {type(layer).__name__}")
    return rule(layer, w, x)


def forward(model: ModelSpec, weights: Weights, x: Array) -> Array:
    """Model outputs for a batch in inference mode, computed in float64."""
    h: Array = x if model.input_dtype == "int32" else np.asarray(x, np.float64)
    for i, layer in enumerate(model.layers):
        local = {name.split(".", 1)[1]: np.asarray(v, np.float64) for name, v in weights.items()
                 if name.split(".", 1)[0] == str(i)}
        h = apply_layer(layer, local, h)
    return h
