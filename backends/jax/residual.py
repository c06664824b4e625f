"""The NNX module of the neutral Residual (suites/primitives/residual.py): body(x) + shortcut(x), the body's layers
built by the model's own builders (backends/jax/layers.py).

Native paths nest under the block: ("layers", i, "body", j, ...) for body layer j, ("layers", i, "proj", "kernel") and
("layers", i, "proj_bn", ...): the neutral "<i>.body.<j>.<local>", "<i>.proj.kernel", "<i>.proj_bn.<local>"
(weights.py renames BatchNorm's leaves as for a plain BatchNorm).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
from flax import nnx

from suites import layers as L
from suites.layers import Shape

Array = jax.Array
Key = jax.Array | None
Build = Callable[[L.Layer, Shape, nnx.Rngs], Any]
"""build_layer(layer, in_shape, rngs) → Native(module or None, apply(module, x, key))."""


class ResidualModule(nnx.Module):
    """body(x) + shortcut(x); the shortcut is x, or the projection's 1×1 conv (no bias) then its BatchNorm. A key is
    given exactly in training; each keyed body layer gets its own (fold_in by position), BatchNorms batch statistics."""

    def __init__(self, spec: L.Residual, in_shape: Shape, build: Build, keyed: Callable[[str], bool],
                 rngs: nnx.Rngs) -> None:
        parts = spec.parts(in_shape)
        body = [build(sub, shape, rngs) for prefix, sub, shape in parts if prefix.startswith("body.")]
        self.body = nnx.List([native.module for native in body])
        self.applies = tuple(native.apply for native in body)
        self.keyed = tuple(keyed(sub.kind) for sub in spec.body)
        shortcut = [build(sub, shape, rngs) for prefix, sub, shape in parts if not prefix.startswith("body.")]
        self.proj = shortcut[0].module if shortcut else None
        self.proj_bn = shortcut[1].module if shortcut else None
        self.shortcut_applies = tuple(native.apply for native in shortcut)

    def __call__(self, x: Array, key: Key) -> Array:
        h = x
        for j, (module, apply, keyed) in enumerate(zip(self.body, self.applies, self.keyed, strict=True)):
            h = apply(module, h, jax.random.fold_in(key, j) if key is not None and keyed else None)
        if not self.shortcut_applies:
            return h + x
        conv, norm = self.shortcut_applies
        return h + norm(self.proj_bn, conv(self.proj, x, None), key)
