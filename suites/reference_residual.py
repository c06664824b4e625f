"""Float64 reference of Residual (suites/primitives/residual.py): the inference forward and the training forward
(BatchNorms inside on batch statistics, with their running-statistics updates), written with autograd.numpy.

Both take the per-layer rule of the caller (suites/reference.py's apply_layer, suites/reference_train.py's train_layer)
for the body's layers, so a body may hold any layer kind, a Residual too.
"""

from __future__ import annotations

from collections.abc import Callable

import autograd.numpy as np
import numpy as onp

from suites.layers import Layer, Residual
from suites.params import nested
from suites.reference_norm import batch_norm_eval, batch_norm_train

Array = onp.ndarray
Arrays = dict[str, Array]
LayerRule = Callable[[Layer, Arrays, Array], Array]
"""(layer, its local weights, x) → y, in inference mode."""
TrainRule = Callable[[Layer, Arrays, Array], tuple[Array, Arrays]]
"""(layer, its local weights, x) → (y, its state after the batch), in training mode."""


def _project(layer: Residual, w: Arrays, x: Array) -> Array:
    """The projection's 1×1 convolution of stride `stride` (valid, no bias): every stride-th pixel times the kernel."""
    s = layer.stride
    return np.einsum("nhwc,co->nhwo", x[:, ::s, ::s, :], w["proj.kernel"][0, 0])


def residual_eval(layer: Residual, w: Arrays, x: Array, apply: LayerRule) -> Array:
    """body(x) + shortcut(x) in inference mode (BatchNorms on their running statistics)."""
    h = x
    for j, sub in enumerate(layer.body):
        h = apply(sub, nested(w, f"body.{j}"), h)
    if not layer.projection:
        return h + x
    return h + batch_norm_eval(layer.proj_bn, nested(w, "proj_bn"), _project(layer, w, x))


def residual_train(layer: Residual, w: Arrays, x: Array, step: TrainRule) -> tuple[Array, Arrays]:
    """body(x) + shortcut(x) in training mode, and the block's state after the batch (by local name)."""
    h, state = x, {}
    for j, sub in enumerate(layer.body):
        h, new = step(sub, nested(w, f"body.{j}"), h)
        state.update({f"body.{j}.{k}": v for k, v in new.items()})
    if not layer.projection:
        return h + x, state
    short, new = batch_norm_train(layer.proj_bn, nested(w, "proj_bn"), _project(layer, w, x))
    state.update({f"proj_bn.{k}": v for k, v in new.items()})
    return h + short, state
