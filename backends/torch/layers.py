"""Builds a torch nn.Module from a neutral ModelSpec, tracking channels-first/last layout between layers.

LAYER_BUILDERS maps each neutral layer kind to a function (layer, in_shape, channels_first) → the torch modules that
compute it; a parameterised layer's first module owns its weights (see weights.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from backends.base import for_kind
from backends.torch import NAME
from backends.torch.masking import MaskedMeanPool, as_float_mask, forward_padded
from backends.torch.norm_layers import batch_norm
from backends.torch.residual import MoveChannels, ResidualBlock
from backends.torch.token_layers import ClassToken, LearnedPositions, SinusoidalPositions, TakeToken, TiedHead
from suites import layers as L
from suites.layers import Shape
from suites.padding import masks_padding
from suites.params import layer_param_shapes
from suites.spec import ModelSpec

CHANNELS_FIRST = frozenset({"conv2d", "maxpool2d", "conv1d", "maxpool1d", "batch_norm", "zero_pad2d", "residual"})
"""Layer kinds that run in torch's native channels-first layout (N, C, *spatial)."""

LAYOUT_FREE = frozenset({"dropout", "activation"})
"""Element-wise layer kinds that accept either layout unchanged."""

EITHER_LAYOUT = LAYOUT_FREE | {"global_maxpool1d", "global_avgpool1d", "global_avgpool2d"}
"""Layer kinds that take either layout (global pools reduce the time or spatial axes wherever they are)."""


def activation(name: str | None) -> nn.Module | None:
    """The torch module for a neutral activation name (gelu exact erf, gelu_tanh the tanh form); None for none."""
    if name is None:
        return None
    if name == "gelu":
        return nn.GELU(approximate="none")
    if name == "gelu_tanh":
        return nn.GELU(approximate="tanh")
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()


class TanhGELU(nn.Module):
    """GELU's tanh approximation for nn.TransformerEncoderLayer: deliberately not an nn.GELU, which the layer would
    take for exact GELU (activation_relu_or_gelu = 2) and run erf on its inference fast path; this keeps it off."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x, approximate="tanh")


class GlobalPool(nn.Module):
    """Max or mean over the time axis of an (N, T, C) or (N, C, T) tensor (or the spatial axes of an image)."""

    def __init__(self, reduce_max: bool, dim: int | tuple[int, ...]) -> None:
        super().__init__()
        self.reduce_max = reduce_max
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dim) if self.reduce_max else x.mean(dim=self.dim)


class StackedLSTM(nn.Module):
    """nn.LSTM (batch_first) with one bias per gate: bias_hh is frozen at zero; optionally the last step only."""

    def __init__(self, in_features: int, spec: L.LSTM) -> None:
        super().__init__()
        self.lstm = nn.LSTM(in_features, spec.units, num_layers=spec.num_layers, batch_first=True)
        self.return_sequences = spec.return_sequences
        with torch.no_grad():
            for k in range(spec.num_layers):
                bias_hh = getattr(self.lstm, f"bias_hh_l{k}")
                bias_hh.zero_()
                bias_hh.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(x)
        return out if self.return_sequences else out[:, -1]


def _conv_padding(padding: str) -> str | int:
    return "same" if padding == "same" else 0


def _activated(owner: nn.Module, name: str | None) -> list[nn.Module]:
    act = activation(name)
    return [owner] if act is None else [owner, act]


def _dense(layer: L.Dense, in_shape: Shape, first: bool) -> list[nn.Module]:
    return _activated(nn.Linear(in_shape[-1], layer.units, bias=layer.use_bias), layer.activation)


def _conv2d(layer: L.Conv2D, in_shape: Shape, first: bool) -> list[nn.Module]:
    return _activated(nn.Conv2d(in_shape[-1], layer.filters, layer.kernel_size, stride=layer.stride,
                                padding=_conv_padding(layer.padding), bias=layer.use_bias), layer.activation)


def layout(kind: str) -> bool | None:
    """The layout a kind runs in: True channels-first, False channels-last, None either."""
    return None if kind in EITHER_LAYOUT else kind in CHANNELS_FIRST


def _conv1d(layer: L.Conv1D, in_shape: Shape, first: bool) -> list[nn.Module]:
    return _activated(nn.Conv1d(in_shape[-1], layer.filters, layer.kernel_size, stride=layer.stride,
                                padding=_conv_padding(layer.padding)), layer.activation)


class CausalEncoderLayer(nn.TransformerEncoderLayer):
    """nn.TransformerEncoderLayer whose every call masks future keys (key s > query t): same parameters and names."""

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        mask = nn.Transformer.generate_square_subsequent_mask(src.shape[1], device=src.device, dtype=src.dtype)
        padding = as_float_mask(src_key_padding_mask, mask.dtype)  # None without a padding mask
        return super().forward(src, src_mask=mask, src_key_padding_mask=padding, is_causal=True)


def _transformer(layer: L.TransformerEncoder, in_shape: Shape, first: bool) -> list[nn.Module]:
    act: str | nn.Module = TanhGELU() if layer.activation == "gelu_tanh" else layer.activation
    cls = CausalEncoderLayer if layer.causal else nn.TransformerEncoderLayer
    return [cls(layer.d_model, layer.num_heads, layer.ff_dim, dropout=layer.dropout, activation=act,
                layer_norm_eps=layer.layer_norm_eps, batch_first=True, norm_first=layer.norm_first)]


def _activation_layer(layer: L.Activation, in_shape: Shape, first: bool) -> list[nn.Module]:
    act = activation(layer.name)
    assert act is not None
    return [act]


Builder = Callable[..., list[nn.Module]]

LAYER_BUILDERS: dict[str, Builder] = {
    "dense": _dense,
    "conv2d": _conv2d,
    "maxpool2d": lambda layer, in_shape, first: [nn.MaxPool2d(layer.pool_size, stride=layer.effective_stride)],
    "flatten": lambda layer, in_shape, first: [nn.Flatten(1)],
    "dropout": lambda layer, in_shape, first: [nn.Dropout(layer.rate)] if layer.rate > 0 else [],
    "activation": _activation_layer,
    "embedding": lambda layer, in_shape, first: [nn.Embedding(layer.vocab_size, layer.dim)],
    "conv1d": _conv1d,
    "maxpool1d": lambda layer, in_shape, first: [nn.MaxPool1d(layer.pool_size, stride=layer.effective_stride)],
    "global_maxpool1d": lambda layer, in_shape, first: [GlobalPool(True, dim=2 if first else 1)],
    "global_avgpool1d": lambda layer, in_shape, first: [
        MaskedMeanPool(2 if first else 1) if layer.mask_padding else GlobalPool(False, dim=2 if first else 1)],
    "lstm": lambda layer, in_shape, first: [StackedLSTM(in_shape[-1], layer)],
    "layernorm": lambda layer, in_shape, first: [nn.LayerNorm(in_shape[-1], eps=layer.eps)],
    "positional_encoding": lambda layer, in_shape, first: [SinusoidalPositions(layer, in_shape[-1])],
    "transformer_encoder": _transformer,
    "tokens": lambda layer, in_shape, first: [nn.Flatten(1, 2)],
    "class_token": lambda layer, in_shape, first: [ClassToken(in_shape[-1])],
    "learned_positions": lambda layer, in_shape, first: [LearnedPositions(layer.max_len, in_shape[-1])],
    "take_token": lambda layer, in_shape, first: [TakeToken(layer.index)],
    "batch_norm": lambda layer, in_shape, first: [batch_norm(layer, in_shape)],
    "zero_pad2d": lambda layer, in_shape, first: [nn.ZeroPad2d(layer.pad)],
    "global_avgpool2d": lambda layer, in_shape, first: [GlobalPool(False, dim=(2, 3) if first else (1, 2))],
    "residual": lambda layer, in_shape, first: [ResidualBlock(layer, in_shape, first, build_layer, layout)],
    "tied_head": lambda layer, in_shape, first: [TiedHead(layer)],  # tied to its source in NeutralModel._build
}
"""Neutral layer kind → (layer, in_shape, channels_first) → its torch modules (the owner of its weights first)."""


def build_layer(layer: L.Layer, in_shape: Shape, channels_first: bool = False) -> list[nn.Module]:
    """The torch modules that compute one neutral layer on an input in the given layout."""
    return for_kind(LAYER_BUILDERS, layer.kind, NAME)(layer, in_shape, channels_first)


def _feeds_dense(layers: tuple[L.Layer, ...], start: int) -> int | None:
    """Index of the Dense that consumes layer `start`'s output through layout-free layers only, else None."""
    for j in range(start, len(layers)):
        if layers[j].kind == "dense":
            return j
        if layers[j].kind not in LAYOUT_FREE:
            return None
    return None


def _input_channels_first(model: ModelSpec) -> bool:
    """Whether `put` should hand the model a channels-first input (its first layout-bound layer is a conv/pool)."""
    if len(model.input_shape) < 2 or model.input_dtype != "float32":
        return False
    for layer in model.layers:
        if layer.kind not in LAYOUT_FREE:
            return layer.kind in CHANNELS_FIRST
    return False


def flatten_row_order(shape: Shape) -> np.ndarray:
    """Per row of a channels-first flatten of a (*spatial, C) sample, its row in the neutral (*spatial, C) order."""
    neutral = np.arange(math.prod(shape)).reshape(shape)
    return np.moveaxis(neutral, -1, 0).ravel()


class NeutralModel(nn.Module):
    """A neutral model as one nn.Sequential; `owners` maps layer index → the module holding its weights."""

    def __init__(self, model: ModelSpec) -> None:
        super().__init__()
        self.spec = model
        self.input_channels_first = _input_channels_first(model)
        self.owners: dict[int, nn.Module] = {}
        self.row_orders: dict[int, np.ndarray] = {}
        self.readers: set[int] = set()  # indices into body of the modules that read the padding mask
        self.embeddings: dict[int, nn.Module] = {}  # layer index → nn.Embedding, the tables a TiedHead may use
        self.body = nn.Sequential(*self._build(model))

    def _build(self, model: ModelSpec) -> list[nn.Module]:
        mods: list[nn.Module] = []
        first = self.input_channels_first
        for i, (layer, (in_shape, out_shape)) in enumerate(zip(model.layers, model.layer_shapes(), strict=True)):
            if layer.kind == "flatten" and first:
                dense = _feeds_dense(model.layers, i + 1)
                if dense is None:
                    mods.append(MoveChannels(to_first=False))
                else:
                    self.row_orders[dense] = flatten_row_order(in_shape)
                mods.append(nn.Flatten(1))
                first = False
                continue
            wants_first = layer.kind in CHANNELS_FIRST
            if len(in_shape) >= 2 and layer.kind not in EITHER_LAYOUT and wants_first != first:
                mods.append(MoveChannels(to_first=wants_first))
                first = wants_first
            built = build_layer(layer, in_shape, first)
            if isinstance(layer, L.TiedHead):
                built[0].tie(self.embeddings[layer.source])
            if layer.kind == "embedding":
                self.embeddings[i] = built[0]
            if layer_param_shapes(layer, in_shape):
                self.owners[i] = built[0]
            if masks_padding(layer):
                self.readers.add(len(mods))
            mods.extend(built)
            if len(out_shape) < 2:
                first = False
        if first:
            mods.append(MoveChannels(to_first=False))
        return mods

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return forward_padded(self.body, self.readers, x) if self.readers else self.body(x)


def build_model(spec: ModelSpec) -> NeutralModel:
    """The torch module for a neutral spec (placeholder initial values: load weights with weights.write_weights)."""
    return NeutralModel(spec)
