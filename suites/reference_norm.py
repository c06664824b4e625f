"""Float64 reference of BatchNorm (suites/primitives/norm.py): eval mode (running statistics), training mode (batch
statistics) and the running-statistics update of one training step, in the neutral convention.

Written with autograd.numpy so suites/reference_train.py differentiates the training forward. TRAINING lists the
layer kinds whose training forward differs from their inference forward: (layer, weights, x) → (y, new state).
"""

from __future__ import annotations

from collections.abc import Callable

import autograd.numpy as np
import numpy as onp

from suites.layers import BatchNorm, Layer

Array = onp.ndarray
Arrays = dict[str, Array]


def _normalise(x: Array, mean: Array, var: Array, w: Arrays, eps: float) -> Array:
    return (x - mean) / np.sqrt(var + eps) * w["scale"] + w["bias"]


def batch_moments(x: Array) -> tuple[Array, Array]:
    """Per channel (last axis), over the batch and every other axis: the mean and the biased variance (÷n)."""
    axes = tuple(range(x.ndim - 1))
    mean = np.mean(x, axis=axes)
    return mean, np.mean((x - mean) ** 2, axis=axes)


def batch_norm_eval(layer: BatchNorm, w: Arrays, x: Array) -> Array:
    """Inference: (x - running_mean) / sqrt(running_var + eps) · scale + bias."""
    return _normalise(x, w["running_mean"], w["running_var"], w, layer.eps)


def running_update(layer: BatchNorm, w: Arrays, mean: Array, var: Array) -> Arrays:
    """The state after one training batch: (1 - momentum)·running + momentum·batch, the biased batch variance."""
    keep = 1.0 - layer.momentum
    return {"running_mean": keep * w["running_mean"] + layer.momentum * mean,
            "running_var": keep * w["running_var"] + layer.momentum * var}


def batch_norm_train(layer: BatchNorm, w: Arrays, x: Array) -> tuple[Array, Arrays]:
    """Training: normalise with the batch mean and biased batch variance; the running statistics after the batch."""
    mean, var = batch_moments(x)
    return _normalise(x, mean, var, w, layer.eps), running_update(layer, w, mean, var)


TRAINING: dict[str, Callable[..., tuple[Array, Arrays]]] = {"batch_norm": batch_norm_train}
"""Layer kind → its training-mode forward (layer, weights, x) → (y, new state), where it differs from inference."""


def train_rule(layer: Layer) -> Callable[..., tuple[Array, Arrays]] | None:
    """The layer's training-mode rule, or None when its training forward is its inference forward."""
    return TRAINING.get(layer.kind)
