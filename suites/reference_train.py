"""A float64 numpy training step of any dropout-free ModelSpec: the mean batch loss, every parameter's gradient, and
SGD / Adam updates, the reference each backend's training is proven against.

The gradient is autograd's reverse mode through suites/reference.py's forward (one forward serves both). Adam is in
the torch / Optax form (what the backends implement, see backends/*/optim.py and PARITY_NOTES.md):
m ← b1·m + (1-b1)·g, v ← b2·v + (1-b2)·g², w ← w - lr/(1-b1^t) · m / (sqrt(v)/sqrt(1-b2^t) + eps).
"""

from __future__ import annotations

import dataclasses

import autograd.numpy as anp
import numpy as np
from autograd import value_and_grad
from autograd.scipy.special import logsumexp

from suites.params import Weights
from suites.reference import forward_float64
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec


def batch_loss(outputs: np.ndarray, y: np.ndarray, loss: str) -> np.ndarray:
    """Mean softmax cross-entropy of logits against integer labels ("cross_entropy"), else mean squared error."""
    if loss == "cross_entropy":
        picked = outputs[np.arange(outputs.shape[0]), np.asarray(y).astype(np.int64)]
        return anp.mean(logsumexp(outputs, axis=-1) - picked)
    return anp.mean((outputs - np.asarray(y, np.float64)) ** 2)


def to_float64(weights: Weights) -> Weights:
    """A float64 copy of a neutral weight dict."""
    return {k: np.asarray(v, np.float64) for k, v in weights.items()}


def loss_and_grad(model: ModelSpec, task: TaskSpec, weights: Weights, x: np.ndarray,
                  y: np.ndarray) -> tuple[float, Weights]:
    """The float64 mean batch loss of `task.loss` at `weights` (any float dtype) and its gradient per parameter."""
    if model != model.without_dropout():
        raise ValueError(f"{model.name}: the reference training step needs a dropout-free model (without_dropout)")

    def objective(w: Weights) -> np.ndarray:
        return batch_loss(forward_float64(model, w, x), y, task.loss)

    value, grads = value_and_grad(objective)(to_float64(weights))
    return float(value), {k: np.asarray(g, np.float64) for k, g in grads.items()}


def sgd_step(weights: Weights, grads: Weights, spec: OptimizerSpec) -> Weights:
    """One plain SGD step, w - lr·g (momentum is not modelled: a spec with momentum is refused)."""
    if spec.name != "sgd" or spec.momentum:
        raise ValueError(f"sgd_step models plain SGD only, got {spec}")
    return {k: np.asarray(w, np.float64) - spec.learning_rate * grads[k] for k, w in weights.items()}


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
    """One bias-corrected Adam step (eps outside the corrected square root, no weight decay, no amsgrad)."""
    if spec.name != "adam":
        raise ValueError(f"adam_step needs an Adam spec, got {spec}")
    t = state.step + 1
    m = {k: spec.beta1 * state.m[k] + (1.0 - spec.beta1) * g for k, g in grads.items()}
    v = {k: spec.beta2 * state.v[k] + (1.0 - spec.beta2) * g * g for k, g in grads.items()}
    step_size = spec.learning_rate / (1.0 - spec.beta1 ** t)
    root2 = np.sqrt(1.0 - spec.beta2 ** t)
    new = {k: np.asarray(w, np.float64) - step_size * m[k] / (np.sqrt(v[k]) / root2 + spec.eps)
           for k, w in weights.items()}
    return new, AdamState(m, v, t)


def train(model: ModelSpec, task: TaskSpec, weights: Weights, batches: list[tuple[np.ndarray, np.ndarray]],
          optimizer: OptimizerSpec) -> tuple[list[float], Weights]:
    """The loss at each step (before its update) of plain SGD or Adam over the batches, and the weights after."""
    current, state, losses = to_float64(weights), None, []
    for x, y in batches:
        value, grads = loss_and_grad(model, task, current, x, y)
        losses.append(value)
        if optimizer.name == "adam":
            current, state = adam_step(current, grads, state or AdamState.zeros(current), optimizer)
        else:
            current = sgd_step(current, grads, optimizer)
    return losses, current
