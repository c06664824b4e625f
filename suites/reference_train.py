"""A float64 numpy training step of any dropout-free ModelSpec: the mean batch loss, every parameter's gradient, and
SGD / Adam updates, the reference each backend's training is proven against.

The gradient is autograd's reverse mode through the training-mode forward (`forward_train`: suites/reference.py's
forward, with BatchNorm on batch statistics, suites/reference_norm.py, also inside a Residual's body,
suites/reference_residual.py). The non-trainable state (running statistics)
gets no gradient and no optimizer update: each step replaces it by its training-mode update on that batch. Adam is in
the torch / Optax form (what the backends implement, see backends/*/optim.py and PARITY_NOTES.md):
m ← b1·m + (1-b1)·g, v ← b2·v + (1-b2)·g², w ← w - lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps).
"""

from __future__ import annotations

import dataclasses

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp

from suites.layers import Layer, Residual
from suites.padding import padding_for
from suites.params import Weights, layer_weights, split_state
from suites.reference import apply_layer
from suites.reference_norm import train_rule
from suites.reference_residual import residual_train
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec


def batch_loss(outputs: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Mean softmax cross-entropy of logits against integer labels ("cross_entropy": over the last axis, averaged over
    every label, one per sample or one per position), else mean squared error."""
    if loss == "cross_entropy":
        logits = anp.reshape(outputs, (-1, outputs.shape[-1]))
        picked = logits[np.arange(logits.shape[0]), np.asarray(y).astype(np.int64).ravel()]
        return anp.mean(logsumexp(logits, axis=-1) - picked)
    return anp.mean((outputs - np.asarray(y, np.float64)) ** 2)


def to_float64(weights: Weights) -> Weights:
    """A float64 copy of a neutral weight dict."""
    return {k: np.asarray(v, np.float64) for k, v in weights.items()}


def train_layer(layer: Layer, w: Weights, x: np.ndarray, pad: np.ndarray | None = None) -> tuple[np.ndarray, Weights]:
    """One layer in training mode on local weights: its output and its state after the batch (by local name; empty
    for a layer without state). A Residual recurses into its body."""
    if isinstance(layer, Residual):
        return residual_train(layer, w, x, train_layer)
    rule = train_rule(layer)
    if rule is None:
        return apply_layer(layer, w, x, pad), {}
    return rule(layer, w, x)


def forward_train(model: ModelSpec, weights: Weights, x: np.ndarray) -> tuple[np.ndarray, Weights]:
    """Training-mode outputs of a dropout-free model on float64 weights used as given (BatchNorm on batch
    statistics), and its state after this batch (each running statistic by neutral name; empty without state)."""
    if model != model.without_dropout():
        raise ValueError(f"{model.name}: the reference training step needs a dropout-free model (without_dropout)")
    h = x if model.input_dtype == "int32" else np.asarray(x, np.float64)
    state: Weights = {}
    pad = padding_for(model.layers, x)
    for i, layer in enumerate(model.layers):
        h, new = train_layer(layer, layer_weights(model.layers, weights, i), h, pad)
        state.update({f"{i}.{k}": v for k, v in new.items()})
    return h, state


def loss_grad_state(model: ModelSpec, task: TaskSpec, weights: Weights, x: np.ndarray,
                    y: np.ndarray) -> tuple[float, Weights, Weights]:
    """The float64 mean batch loss of `task.loss` in training mode at `weights` (parameters and state, any float
    dtype), its gradient per trainable parameter, and the state after this batch."""
    params, state = split_state(model, to_float64(weights))

    def objective(p: Weights) -> np.ndarray:
        return batch_loss(forward_train(model, {**p, **state}, x)[0], y, task.loss)

    value, grads = value_and_grad(objective)(params)
    new_state = forward_train(model, {**params, **state}, x)[1] if state else {}
    return float(value), {k: np.asarray(g, np.float64) for k, g in grads.items()}, new_state


def loss_and_grad(model: ModelSpec, task: TaskSpec, weights: Weights, x: np.ndarray,
                  y: np.ndarray) -> tuple[float, Weights]:
    """The float64 mean batch loss of `task.loss` at `weights` (any float dtype) and its gradient per trainable
    parameter (loss_grad_state, without the state)."""
    value, grads, _ = loss_grad_state(model, task, weights, x, y)
    return value, grads


def sgd_step(weights: Weights, grads: Weights, spec: OptimizerSpec) -> Weights:
    """One plain SGD step, w - lr·g, on the parameters with a gradient (momentum is not modelled: a spec with
    momentum is refused); any other array (state) is passed through."""
    if spec.name != "sgd" or spec.momentum:
        raise ValueError(f"sgd_step models plain SGD only, got {spec}")
    return {k: np.asarray(w, np.float64) - spec.learning_rate * grads[k] if k in grads else np.asarray(w, np.float64)
            for k, w in weights.items()}


@dataclasses.dataclass
class AdamState:
    """Adam's first and second moments per parameter and the number of steps taken."""

    m: Weights
    v: Weights
    step: int = 0

    @classmethod
    def zeros(cls, weights: Weights) -> AdamState:
        return cls({k: np.zeros(np.shape(w)) for k, w in weights.items()},
                   {k: np.zeros(np.shape(w)) for k, w in weights.items()})


def adam_step(weights: Weights, grads: Weights, state: AdamState, spec: OptimizerSpec) -> tuple[Weights, AdamState]:
    """One bias-corrected Adam step (eps outside the corrected square root, no weight decay, no amsgrad) on the
    parameters with a gradient; any other array (state) is passed through."""
    if spec.name != "adam":
        raise ValueError(f"adam_step needs an Adam spec, got {spec}")
    t = state.step + 1
    m = {k: spec.beta1 * state.m[k] + (1.0 - spec.beta1) * g for k, g in grads.items()}
    v = {k: spec.beta2 * state.v[k] + (1.0 - spec.beta2) * g * g for k, g in grads.items()}
    step_size = spec.learning_rate / (1.0 - spec.beta1 ** t)
    root2 = np.sqrt(1.0 - spec.beta2 ** t)
    new = {k: np.asarray(w, np.float64) - step_size * m[k] / (np.sqrt(v[k]) / root2 + spec.eps) if k in grads
           else np.asarray(w, np.float64) for k, w in weights.items()}
    return new, AdamState(m, v, t)


def train(model: ModelSpec, task: TaskSpec, weights: Weights, batches: list[tuple[np.ndarray, np.ndarray]],
          optimizer: OptimizerSpec) -> tuple[list[float], Weights]:
    """The loss at each step (before its update) of plain SGD or Adam over the batches, and the weights (parameters
    and state) after."""
    current, adam, losses = to_float64(weights), None, []
    for x, y in batches:
        value, grads, new_state = loss_grad_state(model, task, current, x, y)
        losses.append(value)
        if optimizer.name == "adam":
            current, adam = adam_step(current, grads, adam or AdamState.zeros(grads), optimizer)
        else:
            current = sgd_step(current, grads, optimizer)
        current.update(new_state)
    return losses, current
