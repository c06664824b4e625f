"""The padding mask in Flax NNX (suites/padding.py): computed once from the input ids (bool (N, T), True = padding)
and handed to the layers that read it: nnx.MultiHeadAttention takes it as its `mask` (N, 1, T_q, T_k) (True = may
attend; nnx.make_attention_mask, combined with nnx.make_causal_mask when causal), and the mean pool averages over the
positions that are not padding."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import nnx

from suites.padding import PAD_ID

Array = jax.Array


def padding_mask(ids: Array) -> Array:
    """(N, T) bool, True at padding: ids == PAD_ID, never at the first position."""
    return (ids == PAD_ID) & (jnp.arange(ids.shape[1]) > 0)


def attention_mask(tokens: Array, pad: Array | None, causal: bool) -> Array | None:
    """nnx.MultiHeadAttention's `mask` (N, 1, T, T) for a (N, T) sequence: every query may attend each key that is not
    padding (pad None: every key), and with `causal` only keys s <= query t; None when nothing is masked."""
    causal_mask = nnx.make_causal_mask(tokens) if causal else None
    if pad is None:
        return causal_mask
    keys = nnx.make_attention_mask(jnp.ones_like(pad), ~pad)  # (N, 1, T_q, T_k): key k of every query
    return keys if causal_mask is None else nnx.combine_masks(keys, causal_mask)


def mean_pool(x: Array, pad: Array | None) -> Array:
    """(N, T, C) → (N, C): the mean over time, over the positions that are not padding when `pad` is given."""
    if pad is None:
        return x.mean(axis=1)
    keep = (~pad)[:, :, None].astype(x.dtype)
    return (x * keep).sum(axis=1) / keep.sum(axis=1)
