"""The neutral weight layout: parameter names, shapes and one seeded numpy initialisation for every backend.

Names are "<layer index>.<parameter>". Layouts follow Keras (channels-last):
  Dense      kernel (in, out), bias (out,)
  Conv2D     kernel (k, k, in, out), bias (out,)        Conv1D  kernel (k, in, out), bias (out,)
  Embedding  embeddings (vocab, dim)
  LSTM       l<k>.kernel (in, 4H), l<k>.recurrent_kernel (H, 4H), l<k>.bias (4H,); gate blocks i, f, g, o
  LayerNorm  scale (D,), bias (D,)
  TransformerEncoder  attn.{query,key,value}.kernel (D, heads, head_dim), attn.{query,key,value}.bias (heads, head_dim),
             attn.out.kernel (heads, head_dim, D), attn.out.bias (D,), norm1/norm2.{scale,bias} (D,),
             ff1.kernel (D, F), ff1.bias (F,), ff2.kernel (F, D), ff2.bias (D,)
The first Dense after a Flatten of a (H, W, C) tensor takes rows in H, W, C order.
"""

from __future__ import annotations

import math
import re

import numpy as np

from suites.layers import (
    LSTM,
    Conv1D,
    Conv2D,
    Dense,
    Embedding,
    Layer,
    LayerNorm,
    Shape,
    TransformerEncoder,
)
from suites.spec import ModelSpec

Weights = dict[str, np.ndarray]


def layer_param_shapes(layer: Layer, in_shape: Shape) -> dict[str, Shape]:
    """The parameters one layer owns, by local name, in the neutral layout."""
    if isinstance(layer, Dense):
        shapes: dict[str, Shape] = {"kernel": (in_shape[-1], layer.units)}
        if layer.use_bias:
            shapes["bias"] = (layer.units,)
        return shapes
    if isinstance(layer, Conv2D):
        k = layer.kernel_size
        return {"kernel": (k, k, in_shape[-1], layer.filters), "bias": (layer.filters,)}
    if isinstance(layer, Conv1D):
        return {"kernel": (layer.kernel_size, in_shape[-1], layer.filters), "bias": (layer.filters,)}
    if isinstance(layer, Embedding):
        return {"embeddings": (layer.vocab_size, layer.dim)}
    if isinstance(layer, LSTM):
        shapes, width, h = {}, in_shape[-1], layer.units
        for k in range(layer.num_layers):
            shapes[f"l{k}.kernel"] = (width, 4 * h)
            shapes[f"l{k}.recurrent_kernel"] = (h, 4 * h)
            shapes[f"l{k}.bias"] = (4 * h,)
            width = h
        return shapes
    if isinstance(layer, LayerNorm):
        return {"scale": (in_shape[-1],), "bias": (in_shape[-1],)}
    if isinstance(layer, TransformerEncoder):
        d, heads, hd, f = layer.d_model, layer.num_heads, layer.head_dim, layer.ff_dim
        shapes = {}
        for proj in ("query", "key", "value"):
            shapes[f"attn.{proj}.kernel"] = (d, heads, hd)
            shapes[f"attn.{proj}.bias"] = (heads, hd)
        shapes.update({"attn.out.kernel": (heads, hd, d), "attn.out.bias": (d,),
                       "norm1.scale": (d,), "norm1.bias": (d,),
                       "ff1.kernel": (d, f), "ff1.bias": (f,), "ff2.kernel": (f, d), "ff2.bias": (d,),
                       "norm2.scale": (d,), "norm2.bias": (d,)})
        return shapes
    return {}


def param_shapes(model: ModelSpec) -> dict[str, Shape]:
    """Every trainable parameter of the model, by neutral name, in layer order."""
    shapes: dict[str, Shape] = {}
    for i, (layer, (in_shape, _)) in enumerate(zip(model.layers, model.layer_shapes(), strict=True)):
        for local, shape in layer_param_shapes(layer, in_shape).items():
            shapes[f"{i}.{local}"] = shape
    return shapes


def param_count(model: ModelSpec) -> int:
    """The number of trainable scalars the spec defines."""
    return sum(math.prod(s) for s in param_shapes(model).values())


def _glorot(rng: np.random.Generator, shape: Shape, fan_in: int, fan_out: int) -> np.ndarray:
    limit = math.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def _orthogonal(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q = q * np.sign(np.diag(r))
    return (q if rows >= cols else q.T)[:rows, :cols].astype(np.float32)


def _init_one(rng: np.random.Generator, local: str, shape: Shape) -> np.ndarray:
    leaf = local.rsplit(".", 1)[-1]
    if re.fullmatch(r"l\d+\.bias", local):
        bias = np.zeros(shape, np.float32)  # LSTM: forget-gate bias 1 (Jozefowicz et al.), as Keras does
        h = shape[0] // 4
        bias[h:2 * h] = 1.0
        return bias
    if leaf == "bias":
        return np.zeros(shape, np.float32)
    if leaf == "scale":
        return np.ones(shape, np.float32)
    if leaf == "embeddings":
        return rng.uniform(-0.05, 0.05, size=shape).astype(np.float32)
    if leaf == "recurrent_kernel":
        return _orthogonal(rng, shape[0], shape[1])
    if local.startswith("attn.") and local != "attn.out.kernel":
        return _glorot(rng, shape, shape[0], shape[1] * shape[2])
    if local == "attn.out.kernel":
        return _glorot(rng, shape, shape[0] * shape[1], shape[2])
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return _glorot(rng, shape, shape[-2] * receptive, shape[-1] * receptive)


def init_weights(model: ModelSpec, seed: int) -> Weights:
    """One deterministic initialisation (Glorot-uniform kernels, orthogonal recurrences) loaded into every backend."""
    weights: Weights = {}
    for index, (name, shape) in enumerate(param_shapes(model).items()):
        rng = np.random.default_rng([seed, index])
        weights[name] = _init_one(rng, name.split(".", 1)[1], shape)
    return weights


def check_weights(model: ModelSpec, weights: Weights) -> None:
    """Raise ValueError naming every missing, extra or misshapen parameter."""
    expected = param_shapes(model)
    problems = [f"missing {n}" for n in expected if n not in weights]
    problems += [f"unexpected {n}" for n in weights if n not in expected]
    problems += [f"{n}: shape {tuple(weights[n].shape)} != {s}" for n, s in expected.items()
                 if n in weights and tuple(weights[n].shape) != s]
    if problems:
        raise ValueError(f"weights do not match {model.name}: " + "; ".join(problems))
