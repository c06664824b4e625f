"""The padding mask in Keras (suites/padding.py): computed once from the input ids as a Keras mask (bool (N, T), True
= a position to keep, Keras' own convention) and passed as `mask=` to the layers that read it: the encoder layer turns
it into MultiHeadAttention's `attention_mask` (N, 1, T) (broadcast over queries and heads), and
GlobalAveragePooling1D takes it natively (its masked mean)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from suites.layers import Layer
from suites.padding import PAD_ID, masks_padding


def keep_mask(ids: Any) -> tf.Tensor:
    """(N, T) bool, True where a position is not padding: ids != PAD_ID, and always the first position."""
    first = tf.equal(tf.range(tf.shape(ids)[1]), 0)
    return tf.logical_or(tf.not_equal(ids, PAD_ID), first[None, :])


def key_mask(keep: tf.Tensor | None) -> tf.Tensor | None:
    """A (N, T) keep mask as MultiHeadAttention's `attention_mask` (N, 1, T): every query may attend key s where keep
    is True; None stays None."""
    return None if keep is None else keep[:, None, :]


def reader_indices(blocks: Sequence[Sequence[Any]], layers: Sequence[Layer]) -> tuple[int, ...]:
    """Indices into the flattened blocks (NeutralModel.chain) of the Keras layers that read the padding mask: the
    first (only) Keras layer of each neutral layer with mask_padding."""
    readers, start = [], 0
    for block, layer in zip(blocks, layers, strict=True):
        if masks_padding(layer):
            readers.append(start)
        start += len(block)
    return tuple(readers)
