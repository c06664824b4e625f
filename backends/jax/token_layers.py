"""Flax NNX pieces of the token-sequence layers: patch grid as tokens, class token, learned and sinusoidal positions,
token pick (suites/primitives/tokens.py, PositionalEncoding). Shapes are per batch (N, ...), static under jit; the
learned tensors are nnx.Param (float32, cast to the compute dtype by the adapter under bf16), added or concatenated
in the input's dtype so bf16 stays bf16. layers.LAYER_BUILDERS registers them.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
from flax import nnx

from suites import layers as L
from suites.reference import sinusoidal_table

Array = jax.Array

positions_table = functools.lru_cache(maxsize=32)(sinusoidal_table)
"""suites.reference.sinusoidal_table (float32), cached per (length, dim): traced steps reuse the host table."""


def sinusoidal_positions(layer: L.PositionalEncoding, x: Array) -> Array:
    """x (N, T, D) (times √D if scale_input) plus the fixed sinusoidal table, in x's dtype."""
    if layer.scale_input:
        x = x * jnp.asarray(math.sqrt(x.shape[-1]), x.dtype)
    return x + jnp.asarray(positions_table(x.shape[1], x.shape[2]), x.dtype)  # bf16 stays bf16


def tokens(x: Array) -> Array:
    """(N, H, W, C) → (N, H·W, C): the grid read row by row (H, then W)."""
    return x.reshape(x.shape[0], x.shape[1] * x.shape[2], x.shape[3])


def take_token(x: Array, index: int) -> Array:
    """(N, T, D) → (N, D): the token at `index`."""
    return x[:, index]


class ClassTokenLayer(nnx.Module):
    """(N, T, D) → (N, T + 1, D): the learned `token` (D,) put before every sequence."""

    def __init__(self, dim: int) -> None:
        self.token = nnx.Param(jnp.zeros((dim,), jnp.float32))

    def __call__(self, x: Array) -> Array:
        token = jnp.broadcast_to(self.token[...].astype(x.dtype), (x.shape[0], 1, x.shape[2]))
        return jnp.concatenate([token, x], axis=1)


class LearnedPositionsLayer(nnx.Module):
    """(N, T, D) → x + table[:T]: the learned position `table` (max_len, D)."""

    def __init__(self, max_len: int, dim: int) -> None:
        self.table = nnx.Param(jnp.zeros((max_len, dim), jnp.float32))

    def __call__(self, x: Array) -> Array:
        return x + self.table[...][: x.shape[1]].astype(x.dtype)


class TiedHeadBias(nnx.Module):
    """A TiedHead's own parameter: its `bias` (vocab,); the kernel is its source nnx.Embed's table (tied_head)."""

    def __init__(self, vocab_size: int) -> None:
        self.bias = nnx.Param(jnp.zeros((vocab_size,), jnp.float32))


def tied_head(bias: TiedHeadBias | None, x: Array, source: nnx.Embed) -> Array:
    """logits = x · tableᵀ (+ bias) with the source Embed's own table (nnx.Embed.attend, as Flax's tied heads), in
    x's dtype; the model hands the source over (layers.NeutralModel), so the table is one Param, used twice."""
    logits = x @ source.embedding[...].astype(x.dtype).T
    return logits + bias.bias[...].astype(x.dtype) if bias is not None else logits
