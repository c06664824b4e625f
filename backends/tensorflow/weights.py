"""Neutral ⇄ Keras weight mapping: Keras 3 layouts equal the neutral ones, so this only pairs names with variables."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends.tensorflow.layers import NativeModel
from suites import layers as L
from suites.params import Weights, check_weights
from suites.spec import ModelSpec


def _layer_variables(spec: L.Layer, native: list[Any]) -> dict[str, Any]:
    """One neutral layer's parameters, by neutral local name, as Keras variables."""
    if isinstance(spec, (L.Dense, L.Conv2D, L.Conv1D)):
        layer = native[0]
        out = {"kernel": layer.kernel}
        if layer.bias is not None:
            out["bias"] = layer.bias
        return out
    if isinstance(spec, L.Embedding):
        return {"embeddings": native[0].embeddings}
    if isinstance(spec, L.LSTM):
        out = {}
        for k, lstm in enumerate(native):  # Keras gate blocks i, f, c, o == neutral i, f, g, o; one bias
            out[f"l{k}.kernel"] = lstm.cell.kernel
            out[f"l{k}.recurrent_kernel"] = lstm.cell.recurrent_kernel
            out[f"l{k}.bias"] = lstm.cell.bias
        return out
    if isinstance(spec, L.LayerNorm):
        return {"scale": native[0].gamma, "bias": native[0].beta}
    if isinstance(spec, L.TransformerEncoder):
        block = native[0]
        attn = block.attn  # EinsumDense kernels (D, heads, head_dim) / (heads, head_dim, D) == neutral layout
        out = {}
        for proj, dense in (("query", attn._query_dense), ("key", attn._key_dense), ("value", attn._value_dense),
                            ("out", attn._output_dense)):
            out[f"attn.{proj}.kernel"] = dense.kernel
            out[f"attn.{proj}.bias"] = dense.bias
        for name, norm in (("norm1", block.norm1), ("norm2", block.norm2)):
            out[f"{name}.scale"] = norm.gamma
            out[f"{name}.bias"] = norm.beta
        for name, dense in (("ff1", block.ff1), ("ff2", block.ff2)):
            out[f"{name}.kernel"] = dense.kernel
            out[f"{name}.bias"] = dense.bias
        return out
    return {}


def variable_map(spec: ModelSpec, model: NativeModel) -> dict[str, Any]:
    """Every trainable Keras variable by its neutral name "<layer index>.<local name>", in layer order."""
    out: dict[str, Any] = {}
    for i, (layer, native) in enumerate(zip(spec.layers, model.blocks, strict=True)):
        for local, var in _layer_variables(layer, native).items():
            out[f"{i}.{local}"] = var
    return out


def read_weights(variables: dict[str, Any]) -> Weights:
    """Copy the variables to host numpy arrays (neutral layout, float32)."""
    return {name: np.array(var.numpy(), dtype=np.float32) for name, var in variables.items()}


def write_weights(spec: ModelSpec, variables: dict[str, Any], weights: Weights) -> None:
    """Assign neutral weights to the variables after checking names and shapes."""
    check_weights(spec, weights)
    for name, var in variables.items():
        var.assign(np.asarray(weights[name], dtype=np.float32))
