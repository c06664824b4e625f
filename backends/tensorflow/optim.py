"""The optimizer and loss of a neutral task as Keras objects, every constant from the spec."""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ INFO/WARNING noise down; errors still show

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from suites.spec import OptimizerSpec  # noqa: E402


class BiasCorrectedAdam(keras.optimizers.Adam):
    """Adam in the torch/optax form: p -= lr * m_hat / (sqrt(v_hat) + eps), m_hat = m/(1-b1^t), v_hat = v/(1-b2^t).

    Keras' own Adam applies eps to the uncorrected sqrt(v) ("epsilon-hat"), i.e. its eps equals torch's
    eps * sqrt(1 - b2^t); this subclass only rewrites the update so the constants mean what OptimizerSpec says.
    Sparse (IndexedSlices) gradients are densified, so every row's moments decay as in torch and optax.
    """

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        dtype = variable.dtype
        lr = tf.cast(learning_rate, dtype)
        grad = tf.cast(tf.convert_to_tensor(gradient), dtype)
        step = tf.cast(self.iterations + 1, dtype)
        correction1 = 1.0 - tf.pow(tf.cast(self.beta_1, dtype), step)
        correction2 = 1.0 - tf.pow(tf.cast(self.beta_2, dtype), step)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign_add(m, (grad - m.value) * (1.0 - self.beta_1))
        self.assign_add(v, (tf.square(grad) - v.value) * (1.0 - self.beta_2))
        denom = tf.sqrt(v.value) / tf.sqrt(correction2) + tf.cast(self.epsilon, dtype)
        self.assign_sub(variable, (lr / correction1) * m.value / denom)


def make_optimizer(spec: OptimizerSpec) -> keras.optimizers.Optimizer:
    """The Keras optimizer with every constant from the spec (SGD momentum without Nesterov, or torch-form Adam)."""
    if spec.name == "sgd":
        return keras.optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum, nesterov=False)
    return BiasCorrectedAdam(learning_rate=spec.learning_rate, beta_1=spec.beta1, beta_2=spec.beta2,
                             epsilon=spec.eps, amsgrad=False)


def make_loss(name: str) -> keras.losses.Loss:
    """Mean softmax cross-entropy on logits with integer labels, or mean squared error, computed in float32."""
    if name == "cross_entropy":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float32")
    return keras.losses.MeanSquaredError(dtype="float32")


def reset_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    """Zero the step counter and every slot (momentum / Adam moments); the learning rate stays."""
    learning_rate = getattr(optimizer, "_learning_rate", None)
    for var in optimizer.variables:
        if var is not learning_rate:
            var.assign(tf.zeros(var.shape, var.dtype))
