"""The Keras layer of the neutral BatchNorm (suites/primitives/norm.py): keras.layers.BatchNormalization with its
batch moments summed in stages.

Keras takes the batch moments from tf.nn.moments: one reduce_mean over the batch and spatial axes at once, which
TensorFlow's CPU kernel accumulates in float32 along the reduced axes. On resnet_small's first BatchNorm (32 × 32 × 32
values per channel) that variance is off by 8e-5 relative (its output by 2.4e-4 absolute, torch's and the float64
reference's agree to 5e-7). Reducing one axis at a time (W, then H, then the batch) gives 1.7e-7: the same
estimator (biased, two-pass, the mean's gradient stopped in the variance as tf.nn.moments does), summed in shorter
runs. Everything else (momentum, eps, the moving-statistics update, bf16 upcast) is Keras' own.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from suites import layers as L
from suites.layers import Shape


def staged_mean(x: Any, axes: list[int]) -> Any:
    """The mean over `axes` (kept as size 1), one axis at a time from the last."""
    for axis in sorted(axes, reverse=True):
        x = tf.reduce_mean(x, axis=axis, keepdims=True)
    return x


class BatchNormalization(keras.layers.BatchNormalization):
    """keras.layers.BatchNormalization whose batch moments are summed axis by axis (module docstring)."""

    def _moments(self, inputs: Any, mask: Any) -> tuple[Any, Any]:
        if mask is not None or len(self._reduction_axes) < 2:
            return super()._moments(inputs, mask)
        axes = list(self._reduction_axes)
        mean = staged_mean(inputs, axes)
        variance = staged_mean(tf.math.squared_difference(inputs, tf.stop_gradient(mean)), axes)
        return tf.squeeze(mean, axes), tf.squeeze(variance, axes)


def batch_norm(layer: L.BatchNorm, in_shape: Shape, dtype: Any) -> list[keras.layers.Layer]:
    """BatchNormalization over the last axis: momentum 1 - the neutral one (Keras' is the old value's weight), the
    spec's epsilon (Keras' default is 1e-3); it updates its moving statistics with the biased batch variance."""
    return [BatchNormalization(axis=-1, momentum=1.0 - layer.momentum, epsilon=layer.eps, dtype=dtype)]
