"""The neutral weight layout: parameter names, shapes and one seeded numpy initialisation for every backend.

Names are "<layer index>.<parameter>". Layouts follow Keras (channels-last):
  Dense      kernel (in, out), bias (out,)
  Conv2D     kernel (k, k, in, out), bias (out,)        Conv1D  kernel (k, in, out), bias (out,)
  Embedding  embeddings (vocab, dim)
  LSTM       l<k>.kernel (in, 4H), l<k>.recurrent_kernel (H, 4H), l<k>.bias (4H,); gate blocks i, f, g, o
  LayerNorm  scale (D,), bias (D,)
  ClassToken token (D,)                                 LearnedPositions  table (max_len, D)
  BatchNorm  scale (C,), bias (C,); state running_mean (C,) (init 0), running_var (C,) (init 1)
  TransformerEncoder  attn.{query,key,value}.kernel (D, heads, head_dim), attn.{query,key,value}.bias (heads, head_dim),
             attn.out.kernel (heads, head_dim, D), attn.out.bias (D,), norm1/norm2.{scale,bias} (D,),
             ff1.kernel (D, F), ff1.bias (F,), ff2.kernel (F, D), ff2.bias (D,)
  Residual   its sub-layers' arrays nested under the block's index: "<i>.body.<j>.<local>" for body layer j (e.g.
             3.body.0.kernel, 3.body.1.scale, 3.body.1.running_mean), "<i>.proj.kernel" (1, 1, in, out) for the
             projection's 1×1 conv (no bias), "<i>.proj_bn.<local>" for its BatchNorm (suites/primitives/residual.py)
The first Dense after a Flatten of a (H, W, C) tensor takes rows in H, W, C order.
Each layer class defines its own layout (its param_shapes, suites/primitives/); the table above summarises them.

Non-trainable state (BatchNorm's running statistics; a layer that is a suites.primitives.norm.Stateful) lives in the
same weight dict under the same "<layer index>.<name>" naming, so it travels with the weights between backends, but
it is listed apart: `param_shapes` / `param_count` are the trainable parameters only (what an optimizer updates and
what every backend's trainable count must equal), `state_shapes` / `state_count` the state, `weight_shapes` both
(what `init_weights`, `check_weights` and every backend's get_weights / set_weights cover).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TypeVar

import numpy as np

from suites.layers import Layer, Shape
from suites.primitives.norm import Stateful
from suites.spec import ModelSpec

Weights = dict[str, np.ndarray]
V = TypeVar("V")


def nested(named: Mapping[str, V], prefix: str) -> dict[str, V]:
    """The entries named "<prefix>.<local>", by <local>: one layer's (prefix "3") or one sub-layer's ("3.body.1")
    weights, state or shapes."""
    start = prefix + "."
    return {name[len(start):]: value for name, value in named.items() if name.startswith(start)}


def layer_weights(layers: Sequence[Layer], weights: Mapping[str, V], index: int) -> dict[str, V]:
    """Layer `index`'s entries by local name (nested), plus what it shares: a TiedHead's `embeddings`, the table of
    its source Embedding (the same array, not a copy)."""
    own = nested(weights, str(index))
    layer = layers[index]
    if layer.kind == "tied_head":
        own["embeddings"] = weights[f"{layer.source}.embeddings"]
    return own


def layer_param_shapes(layer: Layer, in_shape: Shape) -> dict[str, Shape]:
    """The parameters one layer owns, by local name, in the neutral layout (the layer's own param_shapes)."""
    return layer.param_shapes(in_shape)


def _by_layer(model: ModelSpec, owned: Callable[[Layer, Shape], dict[str, Shape]]) -> dict[str, Shape]:
    """What `owned` gives for each layer (at its input shape), named '<layer index>.<local name>', in layer order."""
    return {f"{i}.{local}": shape
            for i, (layer, (in_shape, _)) in enumerate(zip(model.layers, model.layer_shapes(), strict=True))
            for local, shape in owned(layer, in_shape).items()}


def param_shapes(model: ModelSpec) -> dict[str, Shape]:
    """Every trainable parameter of the model, by neutral name, in layer order."""
    return _by_layer(model, layer_param_shapes)


def param_count(model: ModelSpec) -> int:
    """The number of trainable scalars the spec defines (state is not counted: see state_count)."""
    return sum(math.prod(s) for s in param_shapes(model).values())


def layer_state_shapes(layer: Layer, in_shape: Shape) -> dict[str, Shape]:
    """The non-trainable state one layer owns, by local name (empty unless the layer is Stateful)."""
    return layer.state_shapes(in_shape) if isinstance(layer, Stateful) else {}


def state_shapes(model: ModelSpec) -> dict[str, Shape]:
    """Every non-trainable state array of the model (running statistics), by neutral name, in layer order."""
    return _by_layer(model, layer_state_shapes)


def state_count(model: ModelSpec) -> int:
    """The number of non-trainable state scalars (running statistics) the spec defines."""
    return sum(math.prod(s) for s in state_shapes(model).values())


def weight_shapes(model: ModelSpec) -> dict[str, Shape]:
    """Every array of the neutral weight dict: the trainable parameters, then the state."""
    return {**param_shapes(model), **state_shapes(model)}


def split_state(model: ModelSpec, weights: Weights) -> tuple[Weights, Weights]:
    """(trainable parameters, state) of a neutral weight dict."""
    state = state_shapes(model)
    return ({k: v for k, v in weights.items() if k not in state}, {k: v for k, v in weights.items() if k in state})


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
    if leaf in ("token", "table"):
        return rng.normal(0.0, 0.02, size=shape).astype(np.float32)  # ViT / GPT-2: N(0, 0.02)
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


def _init_state(local: str, shape: Shape) -> np.ndarray:
    """Running statistics start as the identity: mean 0, variance 1 (every framework's default)."""
    if local.endswith("running_var"):
        return np.ones(shape, np.float32)
    if local.endswith("running_mean"):
        return np.zeros(shape, np.float32)
    raise ValueError(f"no initial value for state {local!r}")


def init_weights(model: ModelSpec, seed: int) -> Weights:
    """One deterministic initialisation (Glorot-uniform kernels, orthogonal recurrences) loaded into every backend,
    plus the initial state (running mean 0, running variance 1)."""
    weights: Weights = {}
    for index, (name, shape) in enumerate(param_shapes(model).items()):
        rng = np.random.default_rng([seed, index])
        weights[name] = _init_one(rng, name.split(".", 1)[1], shape)
    for name, shape in state_shapes(model).items():
        weights[name] = _init_state(name.split(".", 1)[1], shape)
    return weights


def check_weights(model: ModelSpec, weights: Weights) -> None:
    """Raise ValueError naming every missing, extra or misshapen parameter or state array."""
    expected = weight_shapes(model)
    problems = [f"missing {n}" for n in expected if n not in weights]
    problems += [f"unexpected {n}" for n in weights if n not in expected]
    problems += [f"{n}: shape {tuple(weights[n].shape)} != {s}" for n, s in expected.items()
                 if n in weights and tuple(weights[n].shape) != s]
    if problems:
        raise ValueError(f"weights do not match {model.name}: " + "; ".join(problems))
