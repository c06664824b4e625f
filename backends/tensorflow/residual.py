"""The Keras layer of the neutral Residual (suites/primitives/residual.py): body(x) + shortcut(x), the body's layers
built by the model's own builders (backends/tensorflow/layers.py) and held as sub-layers.

`natives()` gives each sub-layer's Keras layers under its neutral prefix (body.<j>, proj, proj_bn), so weights.py maps
the block's nested weights with the sub-layers' own weight maps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from suites import layers as L
from suites.layers import Shape

Build = Callable[[L.Layer, Shape], list[keras.layers.Layer]]
"""(layer, in_shape) → the Keras layers that compute it, under the block's dtype policy."""


class ResidualBlock(keras.layers.Layer):
    """body(x) + shortcut(x); the shortcut is x, or the projection's 1×1 conv (no bias) then its BatchNorm. Every
    sub-layer is called with the block's `training` flag (BatchNorm: batch statistics in training only)."""

    def __init__(self, spec: L.Residual, in_shape: Shape, build: Build, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        self.in_shape = tuple(in_shape)
        parts = spec.parts(self.in_shape)
        self.blocks = [build(sub, shape) for prefix, sub, shape in parts if prefix.startswith("body.")]
        self.projection = [layer for prefix, sub, shape in parts if not prefix.startswith("body.")
                           for layer in build(sub, shape)]

    def natives(self) -> dict[str, list[keras.layers.Layer]]:
        """Each sub-layer's Keras layers by neutral prefix."""
        out = {f"body.{j}": block for j, block in enumerate(self.blocks)}
        if self.projection:
            out.update({"proj": [self.projection[0]], "proj_bn": [self.projection[1]]})
        return out

    def call(self, x: Any, training: Any = None) -> Any:
        h = x
        for block in self.blocks:
            for layer in block:
                h = layer(h, training=training)
        shortcut = x
        for layer in self.projection:
            shortcut = layer(shortcut, training=training)
        return h + shortcut

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], *self.spec.output_shape(self.in_shape))
