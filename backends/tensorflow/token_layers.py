"""Keras layers for the neutral token primitives (suites/primitives/tokens.py): patch grid as tokens, class token,
learned positions, token pick. Shapes are static (known at build); learned tensors are float32 variables cast to the
compute dtype in call, so they work under mixed_bfloat16 and in graph, XLA and eager modes alike.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from suites import layers as L
from suites.layers import Shape

_INIT = keras.initializers.RandomNormal(stddev=0.02)  # as the neutral init (ViT / GPT-2); write_weights overrides it


def tokens(in_shape: Shape, dtype: Any) -> keras.layers.Layer:
    """(H, W, C) → (H·W, C), row-major (H, then W): a static Keras Reshape."""
    height, width, channels = in_shape
    return keras.layers.Reshape((height * width, channels), dtype=dtype)


class ClassToken(keras.layers.Layer):
    """(T, D) → (T + 1, D): the learned `token` (D,) put before every sequence of the batch."""

    def __init__(self, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dim = int(dim)

    def build(self, input_shape: Any) -> None:
        self.token = self.add_weight(shape=(self.dim,), initializer=_INIT, name="token")

    def call(self, x: Any) -> Any:
        token = tf.reshape(tf.cast(self.token, x.dtype), (1, 1, self.dim))
        token = tf.broadcast_to(token, tf.stack([tf.shape(x)[0], 1, self.dim]))
        return tf.concat([token, x], axis=1)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, steps, dim = input_shape
        return (batch, None if steps is None else steps + 1, dim)


class LearnedPositions(keras.layers.Layer):
    """x + table[:T]: the learned position `table` (max_len, D) added to a (T, D) sequence."""

    def __init__(self, spec: L.LearnedPositions, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_len, self.dim = spec.max_len, int(dim)

    def build(self, input_shape: Any) -> None:
        self.table = self.add_weight(shape=(self.max_len, self.dim), initializer=_INIT, name="table")

    def call(self, x: Any) -> Any:
        table = tf.cast(self.table, x.dtype)
        steps = x.shape[1]
        return x + (table[:steps] if steps is not None else table[: tf.shape(x)[1]])

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class TakeToken(keras.layers.Layer):
    """(T, D) → (D,): the token at `index` of every sequence."""

    def __init__(self, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = int(index)

    def call(self, x: Any) -> Any:
        return x[:, self.index]

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (input_shape[0], input_shape[2])


class TiedHead(keras.layers.Layer):
    """logits = x · tableᵀ (+ bias), `table` being the source Embedding's own variable, handed over by the model at
    each call (NeutralModel.call) rather than held here: Keras would track it as this layer's too. The layer owns its
    optional bias only."""

    def __init__(self, spec: L.TiedHead, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vocab_size, self.use_bias = spec.vocab_size, spec.use_bias

    def build(self, input_shape: Any) -> None:
        if self.use_bias:
            self.bias = self.add_weight(shape=(self.vocab_size,), initializer="zeros", name="bias")

    def call(self, x: Any, table: Any) -> Any:
        logits = tf.matmul(x, tf.cast(table, x.dtype), transpose_b=True)
        return logits + tf.cast(self.bias, x.dtype) if self.use_bias else logits

    def compute_output_shape(self, input_shape: Any) -> Any:
        return (*input_shape[:-1], self.vocab_size)
