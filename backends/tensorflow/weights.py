"""Neutral ⇄ Keras weight mapping: Keras 3 layouts equal the neutral ones, so this only pairs names with variables.

WEIGHT_MAPS maps a parameterised layer kind to a function (layer, its Keras layers) → {neutral local name: variable}
where the Keras names differ; a kind without an entry must name and shape its variables as the neutral layout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from backends.base import unmapped_layout
from backends.tensorflow import NAME
from backends.tensorflow.layers import NeutralModel
from suites import layers as L
from suites.params import Weights, check_weights, layer_param_shapes
from suites.spec import ModelSpec

Variables = dict[str, Any]
"""Neutral parameter name → the Keras variable holding it."""


def _kernel_bias(layer: L.Dense | L.Conv2D | L.Conv1D, native: list[Any]) -> Variables:
    out = {"kernel": native[0].kernel}
    if native[0].bias is not None:
        out["bias"] = native[0].bias
    return out


def _lstm(layer: L.LSTM, native: list[Any]) -> Variables:
    out = {}
    for k, lstm in enumerate(native):  # Keras gate blocks i, f, c, o == neutral i, f, g, o; one bias
        out[f"l{k}.kernel"] = lstm.cell.kernel
        out[f"l{k}.recurrent_kernel"] = lstm.cell.recurrent_kernel
        out[f"l{k}.bias"] = lstm.cell.bias
    return out


def _transformer(layer: L.TransformerEncoder, native: list[Any]) -> Variables:
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


def _residual(layer: L.Residual, native: list[Any]) -> Variables:
    """The block's sub-layers' variables, each by its own map, under "<prefix>.<local>" (body.<j>, proj, proj_bn)."""
    block = native[0]
    natives, out = block.natives(), {}
    for prefix, sub, shape in layer.parts(block.in_shape):
        if layer_param_shapes(sub, shape):
            variables = layer_variables(sub, natives[prefix], shape)
            out.update({f"{prefix}.{local}": var for local, var in variables.items()})
    return out


WEIGHT_MAPS: dict[str, Callable[[Any, list[Any]], Variables]] = {
    "dense": _kernel_bias,
    "conv2d": _kernel_bias,
    "conv1d": _kernel_bias,
    "embedding": lambda layer, native: {"embeddings": native[0].embeddings},
    "lstm": _lstm,
    "layernorm": lambda layer, native: {"scale": native[0].gamma, "bias": native[0].beta},
    "transformer_encoder": _transformer,
    "class_token": lambda layer, native: {"token": native[0].token},
    "learned_positions": lambda layer, native: {"table": native[0].table},
    "batch_norm": lambda layer, native: {"scale": native[0].gamma, "bias": native[0].beta,
                                         "running_mean": native[0].moving_mean,
                                         "running_var": native[0].moving_variance},
    "residual": _residual,
}
"""Parameterised layer kind → (layer, its Keras layers) → its variables by neutral local name (BatchNorm's
non-trainable moving statistics included: they travel with the weights)."""


def layer_variables(layer: Any, native: list[Any], in_shape: tuple[int, ...]) -> Variables:
    """A layer's variables by neutral local name: from its WEIGHT_MAPS entry, else by the variables' own names once
    they are seen to have the neutral names and shapes."""
    if layer.kind in WEIGHT_MAPS:
        return WEIGHT_MAPS[layer.kind](layer, native)
    found = {var.name: var for keras_layer in native for var in keras_layer.trainable_weights}
    neutral = layer_param_shapes(layer, in_shape)
    if {name: tuple(var.shape) for name, var in found.items()} != neutral:
        raise unmapped_layout(NAME, layer.kind, {name: tuple(var.shape) for name, var in found.items()}, neutral)
    return found


def variable_map(model: NeutralModel, spec: ModelSpec) -> Variables:
    """Every trainable Keras variable, and every state variable (running statistics), by its neutral name
    "<layer index>.<local name>", in layer order."""
    out: Variables = {}
    layers = zip(spec.layers, spec.layer_shapes(), model.blocks, strict=True)
    for i, (layer, (in_shape, _), native) in enumerate(layers):
        if not layer_param_shapes(layer, in_shape):
            continue
        for local, var in layer_variables(layer, native, in_shape).items():
            out[f"{i}.{local}"] = var
    return out


def write_weights(model: NeutralModel, spec: ModelSpec, weights: Weights) -> None:
    """Assign neutral weights to the model's variables after checking names and shapes."""
    check_weights(spec, weights)
    for name, var in variable_map(model, spec).items():
        var.assign(np.asarray(weights[name], dtype=np.float32))


def read_weights(model: NeutralModel, spec: ModelSpec) -> Weights:
    """Every trainable and state variable as a host numpy array (neutral layout, float32)."""
    return {name: np.array(var.numpy(), dtype=np.float32) for name, var in variable_map(model, spec).items()}


def trainable_count(model: NeutralModel) -> int:
    """Trainable scalars as Keras counts them."""
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
