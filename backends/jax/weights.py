"""Neutral ⇄ native weight mapping: Flax NNX params are NHWC/(in, out) like the neutral layout, so names only.

The native parameter state is kept outside the module, as a flat list of arrays in `jax.tree` order (the fastest
argument for a jitted step); `ParamIndex` records which neutral name each list position holds. So the functions of
the contract take that list (and its index) where the other backends take their model object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from flax import nnx

from backends.base import unmapped_layout
from backends.jax import NAME
from suites.params import Weights, check_weights, nested, param_shapes, weight_shapes
from suites.spec import ModelSpec

SAME_NAMES: dict[str, str] = {}
"""No renames: the NNX module's leaves carry the neutral local names (the default for a kind without an entry)."""

WEIGHT_MAPS: dict[str, dict[str, str]] = {
    "dense": SAME_NAMES,  # nnx.Linear kernel (in, out), bias
    "conv2d": SAME_NAMES,  # nnx.Conv kernel (kH, kW, in, out), bias
    "conv1d": SAME_NAMES,
    "embedding": {"embeddings": "embedding"},  # nnx.Embed's table is `embedding`
    "lstm": SAME_NAMES,  # layers.StackedLstm: l<k>.kernel / recurrent_kernel / bias, fused gates i, f, g, o
    "layernorm": SAME_NAMES,  # nnx.LayerNorm scale, bias
    "transformer_encoder": SAME_NAMES,  # nnx.MultiHeadAttention query/key/value/out (E, heads, hd) like Keras
    "class_token": SAME_NAMES,  # token_layers.ClassTokenLayer token (D,)
    "learned_positions": SAME_NAMES,  # token_layers.LearnedPositionsLayer table (max_len, D)
    "batch_norm": {"running_mean": "mean", "running_var": "var"},  # nnx.BatchNorm scale, bias; BatchStat mean, var
}
"""Parameterised layer kind → {neutral leaf name: native leaf name} where the NNX module names a leaf differently;
a kind without an entry keeps the neutral names (ParamIndex.of checks names and shapes)."""
WEIGHT_MAPS["residual"] = {neutral: native for renames in list(WEIGHT_MAPS.values()) for neutral, native in
                           renames.items()}
"""A Residual's sub-layers keep their own kinds' leaf renames (every kind's, by leaf name: no two kinds disagree)."""


def _renames(spec: ModelSpec, index: int) -> dict[str, str]:
    return WEIGHT_MAPS.get(spec.layers[index].kind, SAME_NAMES)


def native_path(neutral: str, spec: ModelSpec) -> tuple[str | int, ...]:
    """The native state path of a neutral parameter name "<index>.<local>"."""
    index, local = neutral.split(".", 1)
    parts = local.split(".")
    parts[-1] = _renames(spec, int(index)).get(parts[-1], parts[-1])
    return ("layers", int(index), *parts)


def neutral_name(path: tuple[str | int, ...], spec: ModelSpec) -> str:
    """The neutral parameter name of a native state path ("layers", index, ...)."""
    if len(path) < 3 or path[0] != "layers":
        raise ValueError(f"unexpected native parameter path {path}")
    inverse = {v: k for k, v in _renames(spec, int(path[1])).items()}
    parts = [str(p) for p in path[2:]]
    parts[-1] = inverse.get(parts[-1], parts[-1])
    return f"{path[1]}." + ".".join(parts)


def _key_part(entry: Any) -> str | int | None:
    """One jax key-path entry as a plain name; None for a Variable's `.value` attribute."""
    if isinstance(entry, jax.tree_util.DictKey):
        return entry.key
    if isinstance(entry, jax.tree_util.SequenceKey):
        return entry.idx
    if isinstance(entry, jax.tree_util.GetAttrKey):
        return None if entry.name == "value" else entry.name
    raise ValueError(f"unexpected key-path entry {entry!r}")


@dataclass(frozen=True)
class ParamIndex:
    """The neutral name of every leaf of one native state (the nnx.Param leaves, or the nnx.BatchStat leaves), in
    `jax.tree` order, and its treedef."""

    names: tuple[str, ...]
    treedef: Any

    @classmethod
    def of(cls, state: nnx.State, spec: ModelSpec,
           expected: dict[str, tuple[int, ...]] | None = None) -> ParamIndex:
        """Index one state of the model built from `spec` (nnx.split's part), checked per layer against `expected`:
        the spec's trainable parameters by default, suites.params.state_shapes for the BatchStat part."""
        pairs, treedef = jax.tree_util.tree_flatten_with_path(state)
        names: list[str] = []
        shapes: dict[str, tuple[int, ...]] = {}
        for key_path, leaf in pairs:
            path = tuple(p for p in (_key_part(e) for e in key_path) if p is not None)
            names.append(neutral_name(path, spec))
            shapes[names[-1]] = tuple(leaf.shape)
        expected = param_shapes(spec) if expected is None else expected
        for i, layer in enumerate(spec.layers):
            native, neutral = nested(shapes, str(i)), nested(expected, str(i))
            if native != neutral:
                raise unmapped_layout(NAME, layer.kind, native, neutral)
        return cls(tuple(names), treedef)

    def unflatten(self, leaves: list[jax.Array]) -> nnx.State:
        """The nnx.State for a flat leaf list (inside a jitted function: free)."""
        return jax.tree.unflatten(self.treedef, leaves)


def write_weights(index: ParamIndex, spec: ModelSpec, weights: Weights, device: jax.Device) -> list[jax.Array]:
    """Neutral weights (checked against the spec) as device leaves in `index` order: fresh float32 copies, since
    the training step donates their buffers."""
    check_weights(spec, weights)
    return [jax.device_put(np.array(weights[name], dtype=np.float32, copy=True), device) for name in index.names]


def read_weights(index: ParamIndex, spec: ModelSpec, leaves: list[jax.Array]) -> Weights:
    """Device leaves as neutral-layout float32 host arrays, in the spec's weight order (the index's names only)."""
    host = dict(zip(index.names, jax.device_get(leaves), strict=True))
    return {name: np.array(host[name], dtype=np.float32, copy=True) for name in weight_shapes(spec) if name in host}


def trainable_count(leaves: list[jax.Array]) -> int:
    """Trainable scalars: every parameter leaf's size."""
    return sum(int(leaf.size) for leaf in leaves)
