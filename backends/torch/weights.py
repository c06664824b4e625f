"""Neutral (Keras-style, channels-last) ⇄ torch weight mapping for every parameterised layer.

WEIGHT_MAPS maps a parameterised layer kind to its pair of functions (neutral → native, native → neutral) where the
native module keeps another layout; a kind without an entry must name and shape its parameters as the neutral layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from backends.base import unmapped_layout
from backends.torch import NAME
from backends.torch.layers import NeutralModel
from backends.torch.residual import leaf_owners
from suites import layers as L
from suites.params import Weights, check_weights, layer_state_shapes, nested
from suites.spec import ModelSpec

Arrays = dict[str, np.ndarray]
"""Parameter name (native: relative to the owning module; neutral: the layer's local name) → array."""

Rows = np.ndarray | None
"""A Dense kernel's row permutation after a channels-first flatten (NeutralModel.row_orders), else None."""


class WeightMap(NamedTuple):
    """One layer kind's weights: neutral local arrays → native arrays, and back."""

    to_native: Callable[[L.Layer, Arrays, Rows], Arrays]
    from_native: Callable[[L.Layer, Arrays, Rows], Arrays]


def _bias(arrays: Arrays) -> Arrays:
    """{"bias": ...} where the layer has one (use_bias), else nothing."""
    return {"bias": arrays["bias"]} if "bias" in arrays else {}


def _dense_to_native(layer: L.Dense, p: Arrays, rows: Rows) -> Arrays:
    kernel = p["kernel"] if rows is None else p["kernel"][rows]
    out = {"weight": kernel.T}
    if "bias" in p:
        out["bias"] = p["bias"]
    return out


def _dense_from_native(layer: L.Dense, n: Arrays, rows: Rows) -> Arrays:
    kernel = n["weight"].T
    if rows is not None:
        restored = np.empty_like(kernel)
        restored[rows] = kernel
        kernel = restored
    out = {"kernel": kernel}
    if "bias" in n:
        out["bias"] = n["bias"]
    return out


def _lstm_to_native(layer: L.LSTM, p: Arrays, rows: Rows) -> Arrays:
    out: Arrays = {}
    for k in range(layer.num_layers):
        out[f"lstm.weight_ih_l{k}"] = p[f"l{k}.kernel"].T
        out[f"lstm.weight_hh_l{k}"] = p[f"l{k}.recurrent_kernel"].T
        out[f"lstm.bias_ih_l{k}"] = p[f"l{k}.bias"]
        out[f"lstm.bias_hh_l{k}"] = np.zeros_like(p[f"l{k}.bias"])
    return out


def _lstm_from_native(layer: L.LSTM, n: Arrays, rows: Rows) -> Arrays:
    out: Arrays = {}
    for k in range(layer.num_layers):
        out[f"l{k}.kernel"] = n[f"lstm.weight_ih_l{k}"].T
        out[f"l{k}.recurrent_kernel"] = n[f"lstm.weight_hh_l{k}"].T
        out[f"l{k}.bias"] = n[f"lstm.bias_ih_l{k}"] + n[f"lstm.bias_hh_l{k}"]
    return out


def _transformer_to_native(layer: L.TransformerEncoder, p: Arrays, rows: Rows) -> Arrays:
    d = layer.d_model
    qkv = [p[f"attn.{k}.kernel"].reshape(d, d).T for k in ("query", "key", "value")]
    return {
        "self_attn.in_proj_weight": np.concatenate(qkv, axis=0),
        "self_attn.in_proj_bias": np.concatenate([p[f"attn.{k}.bias"].ravel() for k in ("query", "key", "value")]),
        "self_attn.out_proj.weight": p["attn.out.kernel"].reshape(d, d).T,
        "self_attn.out_proj.bias": p["attn.out.bias"],
        "linear1.weight": p["ff1.kernel"].T, "linear1.bias": p["ff1.bias"],
        "linear2.weight": p["ff2.kernel"].T, "linear2.bias": p["ff2.bias"],
        "norm1.weight": p["norm1.scale"], "norm1.bias": p["norm1.bias"],
        "norm2.weight": p["norm2.scale"], "norm2.bias": p["norm2.bias"],
    }


def _transformer_from_native(layer: L.TransformerEncoder, n: Arrays, rows: Rows) -> Arrays:
    d, heads, hd = layer.d_model, layer.num_heads, layer.head_dim
    out: Arrays = {}
    for j, k in enumerate(("query", "key", "value")):
        out[f"attn.{k}.kernel"] = n["self_attn.in_proj_weight"][j * d:(j + 1) * d].T.reshape(d, heads, hd)
        out[f"attn.{k}.bias"] = n["self_attn.in_proj_bias"][j * d:(j + 1) * d].reshape(heads, hd)
    out["attn.out.kernel"] = n["self_attn.out_proj.weight"].T.reshape(heads, hd, d)
    out["attn.out.bias"] = n["self_attn.out_proj.bias"]
    out.update({"norm1.scale": n["norm1.weight"], "norm1.bias": n["norm1.bias"],
                "ff1.kernel": n["linear1.weight"].T, "ff1.bias": n["linear1.bias"],
                "ff2.kernel": n["linear2.weight"].T, "ff2.bias": n["linear2.bias"],
                "norm2.scale": n["norm2.weight"], "norm2.bias": n["norm2.bias"]})
    return out


WEIGHT_MAPS: dict[str, WeightMap] = {
    "dense": WeightMap(_dense_to_native, _dense_from_native),
    "conv2d": WeightMap(lambda layer, p, rows: {"weight": p["kernel"].transpose(3, 2, 0, 1), **_bias(p)},
                        lambda layer, n, rows: {"kernel": n["weight"].transpose(2, 3, 1, 0), **_bias(n)}),
    "conv1d": WeightMap(lambda layer, p, rows: {"weight": p["kernel"].transpose(2, 1, 0), "bias": p["bias"]},
                        lambda layer, n, rows: {"kernel": n["weight"].transpose(2, 1, 0), "bias": n["bias"]}),
    "embedding": WeightMap(lambda layer, p, rows: {"weight": p["embeddings"]},
                           lambda layer, n, rows: {"embeddings": n["weight"]}),
    "lstm": WeightMap(_lstm_to_native, _lstm_from_native),
    "layernorm": WeightMap(lambda layer, p, rows: {"weight": p["scale"], "bias": p["bias"]},
                           lambda layer, n, rows: {"scale": n["weight"], "bias": n["bias"]}),
    "transformer_encoder": WeightMap(_transformer_to_native, _transformer_from_native),
    "batch_norm": WeightMap(
        lambda layer, p, rows: {"weight": p["scale"], "bias": p["bias"], "running_mean": p["running_mean"],
                                "running_var": p["running_var"]},
        lambda layer, n, rows: {"scale": n["weight"], "bias": n["bias"], "running_mean": n["running_mean"],
                                "running_var": n["running_var"]}),
}
"""Parameterised layer kind → its neutral ⇄ torch weight mapping (Conv2D (kH, kW, in, out) ⇄ (out, in, kH, kW),
Dense (in, out) ⇄ (out, in), LSTM with torch's second bias frozen at zero, attention q/k/v stacked, BatchNorm's
weight/bias and its running_mean/running_var buffers)."""

NEUTRAL_LAYOUT = WeightMap(lambda layer, p, rows: dict(p), lambda layer, n, rows: dict(n))
"""A module whose parameters carry the neutral local names and shapes needs no entry (ClassToken's `token` (D,),
LearnedPositions' `table` (max_len, D))."""


def weight_map(layer: L.Layer, owner: nn.Module, in_shape: tuple[int, ...]) -> WeightMap:
    """The layer's weight map: its WEIGHT_MAPS entry, else the neutral layout once the module is seen to keep it."""
    if layer.kind in WEIGHT_MAPS:
        return WEIGHT_MAPS[layer.kind]
    native = {name: tuple(p.shape) for name, p in owner.named_parameters()}
    neutral = layer.param_shapes(in_shape)
    if native != neutral:
        raise unmapped_layout(NAME, layer.kind, native, neutral)
    return NEUTRAL_LAYOUT


def _leaves(model: NeutralModel, spec: ModelSpec) -> list[tuple[str, L.Layer, nn.Module, tuple[int, ...], Rows]]:
    """(neutral name prefix, layer, owning module, input shape, Dense row order) of every weight-owning layer, a
    Residual's sub-layers included ("<index>.body.<j>", "<index>.proj", "<index>.proj_bn")."""
    shapes = spec.layer_shapes()
    return [(name, layer, leaf, in_shape, model.row_orders.get(index) if name == str(index) else None)
            for index, owner in model.owners.items()
            for name, layer, leaf, in_shape in leaf_owners(spec.layers[index], owner, shapes[index][0], str(index))]


def write_weights(model: NeutralModel, spec: ModelSpec, weights: Weights) -> None:
    """Copy neutral-layout weights into the model's parameters in place (compiled graphs stay valid)."""
    check_weights(spec, weights)
    with torch.no_grad():
        for prefix, layer, owner, in_shape, rows in _leaves(model, spec):
            native = weight_map(layer, owner, in_shape).to_native(layer, nested(weights, prefix), rows)
            tensors = {**dict(owner.named_parameters()), **dict(owner.named_buffers())}
            for name, value in native.items():
                tensors[name].copy_(torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32)))


def read_weights(model: NeutralModel, spec: ModelSpec) -> Weights:
    """Every trainable parameter, and the state (running statistics: buffers), of the model in the neutral layout, as
    fresh float32 numpy arrays."""
    weights: Weights = {}
    for prefix, layer, owner, in_shape, rows in _leaves(model, spec):
        from_native = weight_map(layer, owner, in_shape).from_native
        tensors = dict(owner.named_parameters())
        if layer_state_shapes(layer, in_shape):
            tensors.update(owner.named_buffers())
        native = {name: p.detach().to("cpu", copy=True).numpy() for name, p in tensors.items()}
        for local, value in from_native(layer, native, rows).items():
            weights[f"{prefix}.{local}"] = np.ascontiguousarray(value, dtype=np.float32)
    return weights


def trainable_count(model: nn.Module) -> int:
    """Trainable scalars as torch counts them (the LSTM's frozen bias_hh is excluded)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
