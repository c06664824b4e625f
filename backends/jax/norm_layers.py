"""The NNX layer of the neutral BatchNorm (suites/primitives/norm.py): nnx.BatchNorm with its batch moments summed in
stages.

nnx.BatchNorm takes the batch moments with one `mean` over the batch and spatial axes at once (flax
nnx/nn/normalization.py, _compute_stats). Its forward value is accurate on XLA CPU (1e-7), but the gradient that
autodiff derives from that one reduction need not be: on resnet_small's parity batch, with XLA running on 2 cores,
the first SGD step's gradient of the last block's conv kernel was off by 1.5e-2 of its largest entry (torch and
Keras: 9.2e-5), and the loss after one Adam step by 5.4e-5 relative (harness/parity_reference.py's ref_gradient and
ref_losses rows); on 1 core the same code gives 9.2e-5, so the error comes with XLA's multi-threaded reduction.
Reducing one axis at a time (W, then H, then the batch; the same biased two-pass estimator) gives 9.2e-5 and 4e-8 on
1 and 2 cores, as Keras' staged moments (backends/tensorflow/norm_layers.py). Everything else is nnx.BatchNorm's
own: the statistics' update, momentum, eps, the float32 promotion and the normalisation's order of operations.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx

from suites import layers as L
from suites.layers import Shape


def staged_mean(x: jax.Array, axes: tuple[int, ...]) -> jax.Array:
    """The mean over `axes` (kept as size 1), one axis at a time from the last."""
    for axis in sorted(axes, reverse=True):
        x = x.mean(axis, keepdims=True)
    return x


class BatchNorm(nnx.BatchNorm):
    """nnx.BatchNorm whose training-mode batch moments are summed axis by axis (module docstring); inference (running
    statistics) and a single reduced axis are nnx.BatchNorm's own path."""

    def __call__(self, x: jax.Array, use_running_average: bool | None = None, *, mask: Any = None) -> jax.Array:
        feature = self.axis % x.ndim if isinstance(self.axis, int) else None
        axes = tuple(i for i in range(x.ndim) if i != feature)
        if use_running_average or mask is not None or feature is None or len(axes) < 2:
            return super().__call__(x, use_running_average, mask=mask)
        dtype = jnp.promote_types(self.dtype or x.dtype, jnp.float32)
        x32 = jnp.asarray(x, dtype)
        mean = staged_mean(x32, axes)
        var = staged_mean(jnp.square(x32 - mean), axes)
        flat_mean, flat_var = mean.reshape(-1), var.reshape(-1)
        self.mean[...] = jax.lax.stop_gradient(self.momentum * self.mean[...] + (1 - self.momentum) * flat_mean)
        self.var[...] = jax.lax.stop_gradient(self.momentum * self.var[...] + (1 - self.momentum) * flat_var)
        y = x32 - mean
        mul = jax.lax.rsqrt(var + self.epsilon)
        if self.scale is not None:
            mul = mul * self.scale[...].reshape(mean.shape)
        y = y * mul
        if self.bias is not None:
            y = y + self.bias[...].reshape(mean.shape)
        return jnp.asarray(y, self.dtype or x.dtype)


def batch_norm(layer: L.BatchNorm, in_shape: Shape, rngs: nnx.Rngs) -> tuple[nnx.Module, Any]:
    """BatchNorm over the last axis: momentum 1 - the neutral one (Flax's is the old value's weight), the spec's eps,
    the two-pass variance; batch statistics in training (a key), running ones in inference; float32 inside, the
    input's dtype out (as Keras)."""
    module = BatchNorm(in_shape[-1], momentum=1.0 - layer.momentum, epsilon=layer.eps, use_fast_variance=False,
                       rngs=rngs)
    return module, lambda m, x, key: m(x, use_running_average=key is None).astype(x.dtype)
