"""A float64 numpy forward pass of any ModelSpec: the independent reference each backend is proven against."""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.special import erf

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


def apply_layer(layer: Layer, w: Weights, x: Array) -> Array:
    """One layer in inference mode on a batch (float64, except embedding ids)."""
    if isinstance(layer, Dense):
        out = x @ w["kernel"] + (w["bias"] if layer.use_bias else 0.0)
        return activate(layer.activation, out)
    if isinstance(layer, Conv2D):
        return _conv2d(layer, w, x)
    if isinstance(layer, Conv1D):
        return _conv1d(layer, w, x)
    if isinstance(layer, MaxPool2D):
        return _maxpool(x, layer.pool_size, layer.effective_stride, (1, 2))
    if isinstance(layer, MaxPool1D):
        return _maxpool(x, layer.pool_size, layer.effective_stride, (1,))
    if isinstance(layer, Flatten):
        return x.reshape(x.shape[0], -1)
    if isinstance(layer, (Dropout,)):
        return x
    if isinstance(layer, Activation):
        return activate(layer.name, x)
    if isinstance(layer, Embedding):
        return w["embeddings"][x.astype(np.int64)]
    if isinstance(layer, GlobalMaxPool1D):
        return x.max(axis=1)
    if isinstance(layer, GlobalAveragePool1D):
        return x.mean(axis=1)
    if isinstance(layer, LSTM):
        return _lstm(layer, w, x)
    if isinstance(layer, LayerNorm):
        return _layernorm(x, w["scale"], w["bias"], layer.eps)
    if isinstance(layer, PositionalEncoding):
        if layer.scale_input:
            x = x * math.sqrt(x.shape[-1])
        return x + sinusoidal_table(x.shape[1], x.shape[2])
    if isinstance(layer, TransformerEncoder):
        return _transformer(layer, w, x)
    raise TypeError(f"reference has no rule for {type(layer).__name__}")


def forward(model: ModelSpec, weights: Weights, x: Array) -> Array:
    """Model outputs for a batch in inference mode, computed in float64."""
    h: Array = x if model.input_dtype == "int32" else np.asarray(x, np.float64)
    for i, layer in enumerate(model.layers):
        local = {name.split(".", 1)[1]: np.asarray(v, np.float64) for name, v in weights.items()
                 if name.split(".", 1)[0] == str(i)}
        h = apply_layer(layer, local, h)
    return h
