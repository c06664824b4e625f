"""The optimizer and loss of a neutral task as Optax / jax functions, every constant from the spec."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import optax

from backends.base import Unsupported
from suites.spec import OptimizerSpec

Loss = Callable[[jax.Array, jax.Array], jax.Array]
"""loss(outputs, labels) → the batch's mean loss."""


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """The Optax optimizer with every constant from the spec (SGD without nesterov, Adam with eps_root=0)."""
    if spec.name == "sgd":
        return optax.sgd(spec.learning_rate, momentum=spec.momentum or None, nesterov=False)
    if spec.name == "adam":
        return optax.adam(spec.learning_rate, b1=spec.beta1, b2=spec.beta2, eps=spec.eps, eps_root=0.0)
    raise Unsupported(f"jax backend has no optimizer {spec.name!r}")


def _cross_entropy(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(outputs, labels).mean()


def _mean_squared_error(outputs: jax.Array, labels: jax.Array) -> jax.Array:
    return jnp.mean(jnp.square(outputs - labels))


def make_loss(name: str) -> Loss:
    """Mean softmax cross-entropy on logits with integer labels ("cross_entropy"), else mean squared error."""
    return _cross_entropy if name == "cross_entropy" else _mean_squared_error
