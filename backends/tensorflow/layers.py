"""Native Keras 3 layers built from the neutral layer specs, and the model that chains them.

LAYER_BUILDERS maps each neutral layer kind to a function (layer, in_shape, options) → the Keras layers (usually one)
that compute it; weights.py finds a layer's variables in them. The token layers (ViT) live in token_layers.py.

Every layer gets its dtype policy explicitly (float32, or mixed_bfloat16: float32 variables, bfloat16 compute): Keras 3
gives a layer built without `dtype` the process-global policy, so sub-layers do not inherit their parent's.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ INFO/WARNING noise down; errors still show

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from backends.base import for_kind  # noqa: E402
from backends.tensorflow import NAME  # noqa: E402
from backends.tensorflow.masking import keep_mask, key_mask, reader_indices  # noqa: E402
from backends.tensorflow.norm_layers import batch_norm  # noqa: E402
from backends.tensorflow.residual import ResidualBlock  # noqa: E402
from backends.tensorflow.token_layers import ClassToken, LearnedPositions, TakeToken, TiedHead, tokens  # noqa: E402
from suites import layers as L  # noqa: E402
from suites.layers import Shape  # noqa: E402
from suites.reference import sinusoidal_table  # noqa: E402
from suites.spec import ModelSpec  # noqa: E402

CL = "channels_last"
Policy = keras.DTypePolicy


def dtype_policy(precision: str) -> Policy:
    """The Keras policy for a precision: float32, or mixed_bfloat16 (float32 variables, bfloat16 compute)."""
    return Policy("mixed_bfloat16" if precision == "bf16" else "float32")


def activation(name: str | None) -> Callable[[Any], Any] | None:
    """The Keras activation for a neutral name; gelu is the exact erf form, gelu_tanh the tanh approximation."""
    if name is None:
        return None
    if name == "gelu":
        return lambda x: keras.activations.gelu(x, approximate=False)
    if name == "gelu_tanh":
        return lambda x: keras.activations.gelu(x, approximate=True)
    return {"relu": keras.activations.relu, "tanh": keras.activations.tanh,
            "sigmoid": keras.activations.sigmoid}[name]


class PhiloxDropout(keras.layers.Layer):
    """Inverted dropout with an explicit Philox generator (a Keras SeedGenerator supplies the per-call seeds).

    keras.layers.Dropout asks for rng_alg "auto_select", which XLA on CPU lowers to ThreeFry: about 10x slower than
    Philox, which is what non-XLA TF already picks on CPU/GPU. Pinning Philox also gives the same masks in every mode.
    """

    def __init__(self, rate: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate = float(rate)
        self.supports_masking = True  # as keras.layers.Dropout: a mask (MHA's causal one) passes through unchanged
        self.seed_generator = keras.random.SeedGenerator()  # drawn from keras.utils.set_random_seed's state

    def call(self, x: Any, training: Any = None) -> Any:
        if not training or self.rate == 0.0:
            return x
        seed = tf.cast(tf.math.floormod(self.seed_generator.next(), tf.int32.max - 1), tf.int32)
        return tf.nn.experimental.stateless_dropout(x, rate=self.rate, seed=seed, rng_alg="philox")

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """keras.layers.MultiHeadAttention whose attention-probability dropout is PhiloxDropout."""

    def _build_attention(self, rank: int) -> None:
        super()._build_attention(rank)
        self._dropout_layer = PhiloxDropout(self._dropout, dtype=self.dtype_policy)


class PositionalEncoding(keras.layers.Layer):
    """x * sqrt(D) (if scale_input) + the fixed sinusoidal table (float32, cast to x's dtype); no weights."""

    def __init__(self, spec: L.PositionalEncoding, dim: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = math.sqrt(dim) if spec.scale_input else None
        self.table = sinusoidal_table(spec.max_len, dim)

    def call(self, x: Any) -> Any:
        steps = x.shape[1]
        pe = tf.constant(self.table[:steps]) if steps is not None else tf.constant(self.table)[: tf.shape(x)[1]]
        pe = tf.cast(pe, x.dtype)
        if self.scale is not None:
            x = x * tf.cast(self.scale, x.dtype)
        return x + pe

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


class TransformerEncoder(keras.layers.Layer):
    """One encoder layer composed of Keras MultiHeadAttention, dropout, LayerNormalization and a Dense FF block.

    Post-norm: x = LN1(x + Drop(MHA(x))); x = LN2(x + Drop(FF(x))).  Pre-norm: x = x + Drop(MHA(LN1(x))); x = x +
    Drop(FF(LN2(x))).  FF(x) = W2 · Drop(act(W1 x + b1)) + b2; MHA drops its attention probabilities at the same rate.
    """

    def __init__(self, spec: L.TransformerEncoder, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = spec
        rate, dtype = spec.dropout, self.dtype_policy
        self.attn = MultiHeadAttention(spec.num_heads, key_dim=spec.head_dim, dropout=rate, dtype=dtype)
        self.norm1 = keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, dtype=dtype)
        self.norm2 = keras.layers.LayerNormalization(epsilon=spec.layer_norm_eps, dtype=dtype)
        self.ff1 = keras.layers.Dense(spec.ff_dim, activation=activation(spec.activation), dtype=dtype)
        self.ff2 = keras.layers.Dense(spec.d_model, dtype=dtype)
        self.drop_attn = PhiloxDropout(rate, dtype=dtype)
        self.drop_ff_inner = PhiloxDropout(rate, dtype=dtype)
        self.drop_ff_out = PhiloxDropout(rate, dtype=dtype)

    def build(self, input_shape: Any) -> None:
        shape = tuple(input_shape)
        self.attn.build(shape, shape)
        self.norm1.build(shape)
        self.norm2.build(shape)
        self.ff1.build(shape)
        self.ff2.build((*shape[:-1], self.spec.ff_dim))

    def _attention(self, x: Any, training: Any, mask: Any) -> Any:
        attended = self.attn(x, x, attention_mask=key_mask(mask), training=training, use_causal_mask=self.spec.causal)
        return self.drop_attn(attended, training=training)

    def _feed_forward(self, x: Any, training: Any) -> Any:
        hidden = self.drop_ff_inner(self.ff1(x), training=training)
        return self.drop_ff_out(self.ff2(hidden), training=training)

    def call(self, x: Any, training: Any = None, mask: Any = None) -> Any:
        """`mask`: the padding mask (N, T), True = not padding (masking.keep_mask), or None (no padding mask)."""
        if self.spec.norm_first:
            x = x + self._attention(self.norm1(x), training, mask)
            return x + self._feed_forward(self.norm2(x), training)
        x = self.norm1(x + self._attention(x, training, mask))
        return self.norm2(x + self._feed_forward(x, training))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> None:
        """No Keras mask on the output: the model hands the padding mask to each layer that reads it."""
        return None

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape


def lstm_stack(spec: L.LSTM, use_cudnn: bool | str, unroll: bool, dtype: Policy) -> list[keras.layers.Layer]:
    """Stacked Keras LSTMs (gates i, f, c, o = neutral i, f, g, o; fused-gate implementation 2); all but the top
    return sequences."""
    return [keras.layers.LSTM(spec.units, activation="tanh", recurrent_activation="sigmoid", use_bias=True,
                              unit_forget_bias=False, return_sequences=spec.return_sequences or k < spec.num_layers - 1,
                              implementation=2, use_cudnn=use_cudnn, unroll=unroll, dtype=dtype)
            for k in range(spec.num_layers)]


@dataclass(frozen=True)
class Options:
    """How every layer of one model is built: its dtype policy and the LSTM implementation choices."""

    dtype: Policy
    use_cudnn: bool | str = "auto"
    lstm_unroll: bool = False


def _conv(cls: type[keras.layers.Layer]) -> Callable[..., list[keras.layers.Layer]]:
    def build(layer: L.Conv2D | L.Conv1D, in_shape: Shape, o: Options) -> list[keras.layers.Layer]:
        return [cls(layer.filters, layer.kernel_size, strides=layer.stride, padding=layer.padding,
                    activation=activation(layer.activation), use_bias=getattr(layer, "use_bias", True),
                    data_format=CL, dtype=o.dtype)]
    return build


def _pool(cls: type[keras.layers.Layer]) -> Callable[..., list[keras.layers.Layer]]:
    def build(layer: L.MaxPool2D | L.MaxPool1D, in_shape: Shape, o: Options) -> list[keras.layers.Layer]:
        return [cls(layer.pool_size, strides=layer.effective_stride, padding="valid", data_format=CL, dtype=o.dtype)]
    return build


def _dense(layer: L.Dense, in_shape: Shape, o: Options) -> list[keras.layers.Layer]:
    return [keras.layers.Dense(layer.units, activation=activation(layer.activation), use_bias=layer.use_bias,
                               dtype=o.dtype)]


Builder = Callable[[Any, Shape, Options], list[keras.layers.Layer]]

LAYER_BUILDERS: dict[str, Builder] = {
    "dense": _dense,
    "conv2d": _conv(keras.layers.Conv2D),
    "maxpool2d": _pool(keras.layers.MaxPooling2D),
    "flatten": lambda layer, in_shape, o: [keras.layers.Flatten(data_format=CL, dtype=o.dtype)],
    "dropout": lambda layer, in_shape, o: [PhiloxDropout(layer.rate, dtype=o.dtype)],
    "activation": lambda layer, in_shape, o: [keras.layers.Activation(activation(layer.name), dtype=o.dtype)],
    "embedding": lambda layer, in_shape, o: [keras.layers.Embedding(layer.vocab_size, layer.dim, dtype=o.dtype)],
    "conv1d": _conv(keras.layers.Conv1D),
    "maxpool1d": _pool(keras.layers.MaxPooling1D),
    "global_maxpool1d": lambda layer, in_shape, o: [keras.layers.GlobalMaxPooling1D(data_format=CL, dtype=o.dtype)],
    "global_avgpool1d": lambda layer, in_shape, o: [keras.layers.GlobalAveragePooling1D(data_format=CL,
                                                                                         dtype=o.dtype)],
    "lstm": lambda layer, in_shape, o: lstm_stack(layer, o.use_cudnn, o.lstm_unroll, o.dtype),
    "layernorm": lambda layer, in_shape, o: [keras.layers.LayerNormalization(epsilon=layer.eps, dtype=o.dtype)],
    "positional_encoding": lambda layer, in_shape, o: [PositionalEncoding(layer, in_shape[-1], dtype=o.dtype)],
    "transformer_encoder": lambda layer, in_shape, o: [TransformerEncoder(layer, dtype=o.dtype)],
    "tokens": lambda layer, in_shape, o: [tokens(in_shape, o.dtype)],
    "class_token": lambda layer, in_shape, o: [ClassToken(in_shape[-1], dtype=o.dtype)],
    "learned_positions": lambda layer, in_shape, o: [LearnedPositions(layer, in_shape[-1], dtype=o.dtype)],
    "take_token": lambda layer, in_shape, o: [TakeToken(layer.index, dtype=o.dtype)],
    "batch_norm": lambda layer, in_shape, o: batch_norm(layer, in_shape, o.dtype),
    "zero_pad2d": lambda layer, in_shape, o: [keras.layers.ZeroPadding2D(layer.pad, data_format=CL, dtype=o.dtype)],
    "global_avgpool2d": lambda layer, in_shape, o: [keras.layers.GlobalAveragePooling2D(data_format=CL,
                                                                                         dtype=o.dtype)],
    "residual": lambda layer, in_shape, o: [ResidualBlock(
        layer, in_shape, lambda sub, shape: for_kind(LAYER_BUILDERS, sub.kind, NAME)(sub, shape, o), dtype=o.dtype)],
    "tied_head": lambda layer, in_shape, o: [TiedHead(layer, dtype=o.dtype)],  # its table: NeutralModel.call
}
"""Neutral layer kind → (layer, in_shape, options) → the Keras layers that compute it."""


def build_layer(layer: L.Layer, in_shape: Shape, *, use_cudnn: bool | str = "auto", lstm_unroll: bool = False,
                dtype: Policy | None = None) -> list[keras.layers.Layer]:
    """The Keras layers (usually one) that compute one neutral layer, under `dtype` (default float32)."""
    options = Options(dtype or Policy("float32"), use_cudnn, lstm_unroll)
    return for_kind(LAYER_BUILDERS, layer.kind, NAME)(layer, in_shape, options)


class NeutralModel(keras.Model):
    """The neutral layer stack as Keras layers called in order; `blocks[i]` holds the layers of neutral layer i."""

    def __init__(self, blocks: list[list[keras.layers.Layer]], dtype: Policy | None = None,
                 readers: tuple[int, ...] = (), tied: dict[int, int] | None = None) -> None:
        super().__init__(dtype=dtype)
        self.blocks = blocks
        self.chain = [layer for block in blocks for layer in block]
        self.readers = readers  # indices into chain of the layers given the padding mask as `mask=`
        self.tied = dict(tied or {})  # chain index of a TiedHead → the neutral index of its source Embedding

    def call(self, x: Any, training: Any = None) -> Any:
        keep = keep_mask(x) if self.readers else None
        for i, layer in enumerate(self.chain):
            if i in self.tied:
                x = layer(x, self.blocks[self.tied[i]][0].embeddings)
            elif i in self.readers:
                x = layer(x, training=training, mask=keep)
            else:
                x = layer(x, training=training)
        return x


def build_model(spec: ModelSpec, *, use_cudnn: bool | str = "auto", lstm_unroll: bool = False,
                dtype: Policy | None = None) -> NeutralModel:
    """Build and materialise (one zero batch) the Keras model for a neutral spec on the current device scope, every
    layer under `dtype` (default float32; outputs come in its compute dtype)."""
    dtype = dtype or Policy("float32")
    blocks = [build_layer(layer, in_shape, use_cudnn=use_cudnn, lstm_unroll=lstm_unroll, dtype=dtype)
              for layer, (in_shape, _) in zip(spec.layers, spec.layer_shapes(), strict=True)]
    starts = itertools.accumulate((len(b) for b in blocks), initial=0)  # each neutral layer's first chain index
    tied = {start: layer.source for start, layer in zip(starts, spec.layers, strict=False)
            if isinstance(layer, L.TiedHead)}
    model = NeutralModel(blocks, dtype=dtype, readers=reader_indices(blocks, spec.layers), tied=tied)
    model(tf.zeros((1, *spec.input_shape), dtype=spec.input_dtype), training=False)
    return model
