"""Neutral (Keras-style, channels-last) ⇄ torch weight mapping for every parameterised layer."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from backends.torch.layers import NeutralNet
from suites.layers import LSTM, Conv1D, Conv2D, Dense, Embedding, LayerNorm, TransformerEncoder
from suites.params import Weights, check_weights
from suites.spec import ModelSpec

Arrays = dict[str, np.ndarray]
"""Native torch parameter name (relative to the owning module) → array in torch's layout."""


def _dense_to_native(p: Arrays, rows: np.ndarray | None) -> Arrays:
    kernel = p["kernel"] if rows is None else p["kernel"][rows]
    out = {"weight": kernel.T}
    if "bias" in p:
        out["bias"] = p["bias"]
    return out


def _dense_from_native(n: Arrays, rows: np.ndarray | None) -> Arrays:
    kernel = n["weight"].T
    if rows is not None:
        restored = np.empty_like(kernel)
        restored[rows] = kernel
        kernel = restored
    out = {"kernel": kernel}
    if "bias" in n:
        out["bias"] = n["bias"]
    return out


def _transformer_to_native(p: Arrays, d: int) -> Arrays:
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


def _transformer_from_native(n: Arrays, spec: TransformerEncoder) -> Arrays:
    d, heads, hd = spec.d_model, spec.num_heads, spec.head_dim
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


def layer_to_native(layer: object, p: Arrays, rows: np.ndarray | None) -> Arrays:
    """One layer's neutral parameters (local names) as torch arrays keyed by the owner's parameter names."""
    if isinstance(layer, Dense):
        return _dense_to_native(p, rows)
    if isinstance(layer, Conv2D):
        return {"weight": p["kernel"].transpose(3, 2, 0, 1), "bias": p["bias"]}
    if isinstance(layer, Conv1D):
        return {"weight": p["kernel"].transpose(2, 1, 0), "bias": p["bias"]}
    if isinstance(layer, Embedding):
        return {"weight": p["embeddings"]}
    if isinstance(layer, LSTM):
        out: Arrays = {}
        for k in range(layer.num_layers):
            out[f"lstm.weight_ih_l{k}"] = p[f"l{k}.kernel"].T
            out[f"lstm.weight_hh_l{k}"] = p[f"l{k}.recurrent_kernel"].T
            out[f"lstm.bias_ih_l{k}"] = p[f"l{k}.bias"]
            out[f"lstm.bias_hh_l{k}"] = np.zeros_like(p[f"l{k}.bias"])
        return out
    if isinstance(layer, LayerNorm):
        return {"weight": p["scale"], "bias": p["bias"]}
    if isinstance(layer, TransformerEncoder):
        return _transformer_to_native(p, layer.d_model)
    raise TypeError(f"{type(layer).__name__} has no weights")


def layer_from_native(layer: object, n: Arrays, rows: np.ndarray | None) -> Arrays:
    """One layer's torch parameters back in the neutral layout (local names)."""
    if isinstance(layer, Dense):
        return _dense_from_native(n, rows)
    if isinstance(layer, Conv2D):
        return {"kernel": n["weight"].transpose(2, 3, 1, 0), "bias": n["bias"]}
    if isinstance(layer, Conv1D):
        return {"kernel": n["weight"].transpose(2, 1, 0), "bias": n["bias"]}
    if isinstance(layer, Embedding):
        return {"embeddings": n["weight"]}
    if isinstance(layer, LSTM):
        out: Arrays = {}
        for k in range(layer.num_layers):
            out[f"l{k}.kernel"] = n[f"lstm.weight_ih_l{k}"].T
            out[f"l{k}.recurrent_kernel"] = n[f"lstm.weight_hh_l{k}"].T
            out[f"l{k}.bias"] = n[f"lstm.bias_ih_l{k}"] + n[f"lstm.bias_hh_l{k}"]
        return out
    if isinstance(layer, LayerNorm):
        return {"scale": n["weight"], "bias": n["bias"]}
    if isinstance(layer, TransformerEncoder):
        return _transformer_from_native(n, layer)
    raise TypeError(f"{type(layer).__name__} has no weights")


def _local(weights: Weights, index: int) -> Arrays:
    prefix = f"{index}."
    return {name[len(prefix):]: value for name, value in weights.items() if name.startswith(prefix)}


def load_weights(net: NeutralNet, model: ModelSpec, weights: Weights) -> None:
    """Copy neutral-layout weights into the net's parameters in place (compiled graphs stay valid)."""
    check_weights(model, weights)
    with torch.no_grad():
        for index, owner in net.owners.items():
            native = layer_to_native(model.layers[index], _local(weights, index), net.row_orders.get(index))
            tensors = dict(owner.named_parameters())
            for name, value in native.items():
                target = tensors[name]
                source = torch.from_numpy(np.ascontiguousarray(value, dtype=np.float32))
                target.copy_(source)


def read_weights(net: NeutralNet, model: ModelSpec) -> Weights:
    """Every trainable parameter of the net in the neutral layout, as fresh float32 numpy arrays."""
    weights: Weights = {}
    for index, owner in net.owners.items():
        native = {name: p.detach().to("cpu", copy=True).numpy() for name, p in owner.named_parameters()}
        for local, value in layer_from_native(model.layers[index], native, net.row_orders.get(index)).items():
            weights[f"{index}.{local}"] = np.ascontiguousarray(value, dtype=np.float32)
    return weights


def trainable_count(net: nn.Module) -> int:
    """Trainable scalars as torch counts them (the LSTM's frozen bias_hh is excluded)."""
    return sum(p.numel() for p in net.parameters() if p.requires_grad)

