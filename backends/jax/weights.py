"""Neutral ⇄ native weight mapping: Flax NNX params are NHWC/(in, out) like the neutral layout, so names only.

The native parameter state is kept as a flat list of arrays in `jax.tree` order (the fastest argument for a jitted
step); `ParamIndex` records which neutral name each list position holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import jax
import numpy as np
from flax import nnx

from suites.params import Weights

NATIVE_RENAMES = {"embeddings": "embedding"}
"""Neutral leaf names whose Flax module calls them differently (nnx.Embed's table is `embedding`)."""


def native_path(neutral: str) -> tuple[str | int, ...]:
    """The native state path of a neutral parameter name "<index>.<local>"."""
    index, local = neutral.split(".", 1)
    parts = local.split(".")
    parts[-1] = NATIVE_RENAMES.get(parts[-1], parts[-1])
    return ("layers", int(index), *parts)


def neutral_name(path: tuple[str | int, ...]) -> str:
    """The neutral parameter name of a native state path ("layers", index, ...)."""
    if len(path) < 3 or path[0] != "layers":
        raise ValueError(f"unexpected native parameter path {path}")
    inverse = {v: k for k, v in NATIVE_RENAMES.items()}
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
    """The neutral name of every leaf of the native parameter state, in `jax.tree` order, and its treedef."""

    names: tuple[str, ...]
    treedef: Any

    @classmethod
    def of(cls, state: nnx.State) -> ParamIndex:
        """Index a parameter state (nnx.split's second part)."""
        pairs, treedef = jax.tree_util.tree_flatten_with_path(state)
        names = []
        for key_path, _ in pairs:
            path = tuple(p for p in (_key_part(e) for e in key_path) if p is not None)
            names.append(neutral_name(path))
        return cls(tuple(names), treedef)

    def unflatten(self, leaves: list[jax.Array]) -> nnx.State:
        """The nnx.State for a flat leaf list (inside a jitted function: free)."""
        return jax.tree.unflatten(self.treedef, leaves)

    def to_leaves(self, weights: Weights, device: jax.Device) -> list[jax.Array]:
        """Neutral weights as device arrays in leaf order (fresh float32 copies: the buffers get donated)."""
        return [jax.device_put(np.array(weights[name], dtype=np.float32, copy=True), device) for name in self.names]

    def to_weights(self, leaves: list[jax.Array]) -> Weights:
        """Device leaves as neutral-layout host arrays."""
        host = jax.device_get(leaves)
        pairs = zip(self.names, host, strict=True)
        return {name: np.array(value, dtype=np.float32, copy=True) for name, value in pairs}
