"""A float64 numpy forward pass of any ModelSpec: the independent reference each backend is proven against.

One function per layer kind, `(layer, weights, x) -> y` in inference mode, listed in REFERENCE by the layer's kind
(BatchNorm's lives in suites/reference_norm.py with its training-mode forward).
Written with `autograd.numpy` (numpy's functions, returning plain numpy arrays for plain inputs) and only ops
autograd can differentiate (slices and stacks, no strided views or in-place writes), so suites/reference_train.py
takes the gradient of this same forward.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import autograd.numpy as np
import numpy as onp
from autograd.scipy.special import erf

from suites.layers import (
    LSTM,
    Activation,
    Conv1D,
    Conv2D,
    Dense,
    Embedding,
    Layer,
    LayerNorm,
    LearnedPositions,
    MaxPool1D,
    MaxPool2D,
    PositionalEncoding,
    Residual,
    TakeToken,
    TransformerEncoder,
    ZeroPad2D,
)
from suites.padding import masks_padding, padding_for
from suites.params import Weights, layer_weights
from suites.reference_norm import batch_norm_eval
from suites.reference_residual import residual_eval
from suites.spec import ModelSpec

Array = onp.ndarray


def activate(name: str | None, x: Array) -> Array:
    """relu, tanh, sigmoid, exact (erf) gelu or its tanh approximation; None is the identity."""
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
    if name == "gelu_tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    raise ValueError(f"unknown activation {name!r}")


def sinusoidal_table(length: int, dim: int) -> Array:
    """pe[pos, 2i] = sin(pos / 10000^(2i/D)), pe[pos, 2i+1] = cos(...), as float32 (what every backend adds)."""
    pos = onp.arange(length, dtype=onp.float64)[:, None]
    rates = onp.power(10000.0, -onp.arange(0, dim, 2, dtype=onp.float64) / dim)
    table = onp.zeros((length, dim), onp.float64)
    table[:, 0::2] = onp.sin(pos * rates)
    table[:, 1::2] = onp.cos(pos * rates)
    return table.astype(onp.float32)


def _same_pad(x: Array, k: int, axes: tuple[int, ...]) -> Array:
    pad = [(0, 0)] * x.ndim
    for axis in axes:
        pad[axis] = (k // 2, k // 2)
    return np.pad(x, pad, mode="constant")


def _windows(x: Array, k: int, stride: int, axes: tuple[int, ...]) -> Array:
    """Every (k, ..., k) window offset of x along `axes` at the given stride, stacked first: (k**len(axes), *out)."""
    counts = [(x.shape[a] - k) // stride + 1 for a in axes]
    slices = []
    for offsets in itertools.product(range(k), repeat=len(axes)):
        index = [slice(None)] * x.ndim
        for axis, offset, count in zip(axes, offsets, counts, strict=True):
            index[axis] = slice(offset, offset + stride * (count - 1) + 1, stride)
        slices.append(x[tuple(index)])
    return np.stack(slices)


def _conv2d(layer: Conv2D, w: Weights, x: Array) -> Array:
    k, s = layer.kernel_size, layer.stride
    if layer.padding == "same":
        x = _same_pad(x, k, (1, 2))
    win = _windows(x, k, s, (1, 2))  # (k*k, N, H', W', C), offsets in (i, j) order
    kernel = np.reshape(w["kernel"], (k * k,) + tuple(w["kernel"].shape[2:]))
    out = np.einsum("pnhwc,pco->nhwo", win, kernel) + (w["bias"] if layer.use_bias else 0.0)
    return activate(layer.activation, out)


def _conv1d(layer: Conv1D, w: Weights, x: Array) -> Array:
    k, s = layer.kernel_size, layer.stride
    if layer.padding == "same":
        x = _same_pad(x, k, (1,))
    win = _windows(x, k, s, (1,))  # (k, N, T', C)
    out = np.einsum("pntc,pco->nto", win, w["kernel"]) + w["bias"]
    return activate(layer.activation, out)


def _maxpool(x: Array, pool: int, stride: int, axes: tuple[int, ...]) -> Array:
    return np.max(_windows(x, pool, stride, axes), axis=0)


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


def _attention(layer: TransformerEncoder, w: Weights, x: Array, pad: Array | None = None) -> Array:
    q = np.einsum("ntd,dhk->nhtk", x, w["attn.query.kernel"]) + w["attn.query.bias"][None, :, None, :]
    k = np.einsum("ntd,dhk->nhtk", x, w["attn.key.kernel"]) + w["attn.key.bias"][None, :, None, :]
    v = np.einsum("ntd,dhk->nhtk", x, w["attn.value.kernel"]) + w["attn.value.bias"][None, :, None, :]
    scores = np.einsum("nhtk,nhsk->nhts", q, k) / math.sqrt(layer.head_dim)
    if layer.causal:  # key s > query t is masked out (exp(-inf) = 0)
        t = x.shape[1]
        scores = scores + onp.where(onp.triu(onp.ones((t, t), bool), k=1), -onp.inf, 0.0)
    if pad is not None:  # a padded key s gets no weight from any query, in any head (exp(-inf) = 0)
        scores = scores + onp.where(pad, -onp.inf, 0.0)[:, None, None, :]
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    probs = scores / scores.sum(-1, keepdims=True)
    ctx = np.einsum("nhts,nhsk->nhtk", probs, v)
    return np.einsum("nhtk,hkd->ntd", ctx, w["attn.out.kernel"]) + w["attn.out.bias"]


def _transformer(layer: TransformerEncoder, w: Weights, x: Array, pad: Array | None = None) -> Array:
    def ff(h: Array) -> Array:
        return activate(layer.activation, h @ w["ff1.kernel"] + w["ff1.bias"]) @ w["ff2.kernel"] + w["ff2.bias"]

    def norm(h: Array, which: str) -> Array:
        return _layernorm(h, w[f"{which}.scale"], w[f"{which}.bias"], layer.layer_norm_eps)

    if layer.norm_first:
        x = x + _attention(layer, w, norm(x, "norm1"), pad)
        return x + ff(norm(x, "norm2"))
    x = norm(x + _attention(layer, w, x, pad), "norm1")
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


def _global_mean(layer: Layer, w: Weights, x: Array, pad: Array | None = None) -> Array:
    if pad is None:
        return x.mean(axis=1)
    keep = (~pad)[:, :, None]  # the mean over the positions that are not padding
    return (x * keep).sum(axis=1) / keep.sum(axis=1)


def _embedding(layer: Embedding, w: Weights, x: Array) -> Array:
    return w["embeddings"][onp.asarray(x).astype(onp.int64)]


def _layernorm_layer(layer: LayerNorm, w: Weights, x: Array) -> Array:
    return _layernorm(x, w["scale"], w["bias"], layer.eps)


def _positional(layer: PositionalEncoding, w: Weights, x: Array) -> Array:
    if layer.scale_input:
        x = x * math.sqrt(x.shape[-1])
    return x + sinusoidal_table(x.shape[1], x.shape[2])


def _tokens(layer: Layer, w: Weights, x: Array) -> Array:
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])


def _class_token(layer: Layer, w: Weights, x: Array) -> Array:
    token = w["token"][None, None, :] + np.zeros((x.shape[0], 1, x.shape[2]))  # autograd: no leading-axis broadcast_to
    return np.concatenate([token, x], axis=1)


def _learned_positions(layer: LearnedPositions, w: Weights, x: Array) -> Array:
    return x + w["table"][: x.shape[1]]


def _take_token(layer: TakeToken, w: Weights, x: Array) -> Array:
    return x[:, layer.index]


def _zero_pad2d(layer: ZeroPad2D, w: Weights, x: Array) -> Array:
    p = layer.pad
    return np.pad(x, [(0, 0), (p, p), (p, p), (0, 0)], mode="constant")


def _residual(layer: Residual, w: Weights, x: Array) -> Array:
    return residual_eval(layer, w, x, apply_layer)


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
    "tokens": _tokens,
    "class_token": _class_token,
    "learned_positions": _learned_positions,
    "take_token": _take_token,
    "batch_norm": batch_norm_eval,  # inference mode: running statistics (training mode: reference_norm.TRAINING)
    "zero_pad2d": _zero_pad2d,
    "global_avgpool2d": lambda layer, w, x: x.mean(axis=(1, 2)),
    "residual": _residual,  # suites/reference_residual.py (training mode: reference_train.train_layer)
    "tied_head": lambda layer, w, x: x @ w["embeddings"].T + (w["bias"] if layer.use_bias else 0.0),  # the source
    # Embedding's table, handed over by params.layer_weights
}
"""Layer kind → `(layer, weights, x) -> y`; covers every entry of suites.layers.LAYER_KINDS (tests/test_spec.py). A
layer whose mask_padding is set gets the padding mask too: `(layer, weights, x, pad) -> y` (apply_layer)."""


def apply_layer(layer: Layer, w: Weights, x: Array, pad: Array | None = None) -> Array:
    """One layer in inference mode on a batch (float64, except embedding ids); `pad` is the batch's padding mask
    (suites/padding.py), given to a layer that reads it."""
    rule = REFERENCE.get(layer.kind)
    if rule is None:
        raise TypeError(f"reference has no rule for {type(layer).__name__}")
    return rule(layer, w, x, pad) if masks_padding(layer) else rule(layer, w, x)


def forward(model: ModelSpec, weights: Weights, x: Array) -> Array:
    """Model outputs for a batch in inference mode, computed in float64."""
    return forward_float64(model, {k: onp.asarray(v, onp.float64) for k, v in weights.items()}, x)


def forward_float64(model: ModelSpec, weights: Weights, x: Array) -> Array:
    """forward on float64 weights used as given (plain arrays or autograd's traced boxes: not copied or cast)."""
    h: Array = x if model.input_dtype == "int32" else onp.asarray(x, onp.float64)
    pad = padding_for(model.layers, x)
    for i, layer in enumerate(model.layers):
        h = apply_layer(layer, layer_weights(model.layers, weights, i), h, pad)
    return h
