"""Builds a torch nn.Module from a neutral ModelSpec, tracking channels-first/last layout between layers."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from suites.layers import (
    LSTM,
    Activation,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePool1D,
    GlobalMaxPool1D,
    Layer,
    LayerNorm,
    MaxPool1D,
    MaxPool2D,
    PositionalEncoding,
    Shape,
    TransformerEncoder,
)
from suites.spec import ModelSpec

CHANNELS_FIRST = (Conv2D, MaxPool2D, Conv1D, MaxPool1D)
"""Layers that run in torch's native channels-first layout (N, C, *spatial)."""

LAYOUT_FREE = (Dropout, Activation)
"""Element-wise layers that accept either layout unchanged."""


def activation_module(name: str | None) -> nn.Module | None:
    """The torch module for a neutral activation name (gelu is the exact erf form)."""
    if name is None:
        return None
    if name == "gelu":
        return nn.GELU(approximate="none")
    return {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}[name]()


class MoveChannels(nn.Module):
    """Moves the channel axis between last (neutral) and position 1 (torch conv layout)."""

    def __init__(self, to_first: bool) -> None:
        super().__init__()
        self.to_first = to_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1) if self.to_first else x.movedim(1, -1)


class GlobalPool(nn.Module):
    """Max or mean over the time axis of an (N, T, C) or (N, C, T) tensor."""

    def __init__(self, reduce_max: bool, dim: int) -> None:
        super().__init__()
        self.reduce_max = reduce_max
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.amax(dim=self.dim) if self.reduce_max else x.mean(dim=self.dim)


class StackedLSTM(nn.Module):
    """nn.LSTM (batch_first) with one bias per gate: bias_hh is frozen at zero; optionally the last step only."""

    def __init__(self, in_features: int, spec: LSTM) -> None:
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


def sinusoid_table(max_len: int, dim: int) -> np.ndarray:
    """pe[pos, 2i] = sin(pos / 10000^(2i/D)), pe[pos, 2i+1] = cos(...), computed in float64, returned float32."""
    pos = np.arange(max_len, dtype=np.float64)[:, None]
    rates = np.power(10000.0, -np.arange(0, dim, 2, dtype=np.float64) / dim)
    table = np.zeros((max_len, dim), dtype=np.float64)
    table[:, 0::2] = np.sin(pos * rates)
    table[:, 1::2] = np.cos(pos * rates)
    return table.astype(np.float32)


class SinusoidalPositions(nn.Module):
    """x * sqrt(D) (optional) + the fixed sinusoidal table, on (N, T, D)."""

    def __init__(self, spec: PositionalEncoding, dim: int) -> None:
        super().__init__()
        self.scale = math.sqrt(dim) if spec.scale_input else 1.0
        self.register_buffer("pe", torch.from_numpy(sinusoid_table(spec.max_len, dim)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1.0:
            x = x * self.scale
        return x + self.pe[: x.shape[1]]


def _conv_padding(padding: str) -> str | int:
    return "same" if padding == "same" else 0


def _param_layer(layer: Layer, in_shape: Shape) -> nn.Module:
    """The torch module that owns a parameterised layer's weights."""
    if isinstance(layer, Dense):
        return nn.Linear(in_shape[-1], layer.units, bias=layer.use_bias)
    if isinstance(layer, Conv2D):
        return nn.Conv2d(in_shape[-1], layer.filters, layer.kernel_size, stride=layer.stride,
                         padding=_conv_padding(layer.padding))
    if isinstance(layer, Conv1D):
        return nn.Conv1d(in_shape[-1], layer.filters, layer.kernel_size, stride=layer.stride,
                         padding=_conv_padding(layer.padding))
    if isinstance(layer, Embedding):
        return nn.Embedding(layer.vocab_size, layer.dim)
    if isinstance(layer, LSTM):
        return StackedLSTM(in_shape[-1], layer)
    if isinstance(layer, LayerNorm):
        return nn.LayerNorm(in_shape[-1], eps=layer.eps)
    if isinstance(layer, TransformerEncoder):
        return nn.TransformerEncoderLayer(layer.d_model, layer.num_heads, layer.ff_dim, dropout=layer.dropout,
                                          activation=layer.activation, layer_norm_eps=layer.layer_norm_eps,
                                          batch_first=True, norm_first=layer.norm_first)
    raise TypeError(f"{type(layer).__name__} has no parameters")


def _feeds_dense(layers: tuple[Layer, ...], start: int) -> int | None:
    """Index of the Dense that consumes layer `start`'s output through layout-free layers only, else None."""
    for j in range(start, len(layers)):
        if isinstance(layers[j], Dense):
            return j
        if not isinstance(layers[j], LAYOUT_FREE):
            return None
    return None


def _input_channels_first(model: ModelSpec) -> bool:
    """Whether `put` should hand the model a channels-first input (its first layout-bound layer is a conv/pool)."""
    if len(model.input_shape) < 2 or model.input_dtype != "float32":
        return False
    for layer in model.layers:
        if not isinstance(layer, LAYOUT_FREE):
            return isinstance(layer, CHANNELS_FIRST)
    return False


def flatten_row_order(shape: Shape) -> np.ndarray:
    """Per row of a channels-first flatten of a (*spatial, C) sample, its row in the neutral (*spatial, C) order."""
    neutral = np.arange(math.prod(shape)).reshape(shape)
    return np.moveaxis(neutral, -1, 0).ravel()


class NeutralNet(nn.Module):
    """A neutral model as one nn.Sequential; `owners` maps layer index → the module holding its weights."""

    def __init__(self, model: ModelSpec) -> None:
        super().__init__()
        self.spec = model
        self.input_channels_first = _input_channels_first(model)
        self.owners: dict[int, nn.Module] = {}
        self.row_orders: dict[int, np.ndarray] = {}
        self.body = nn.Sequential(*self._build(model))

    def _build(self, model: ModelSpec) -> list[nn.Module]:
        mods: list[nn.Module] = []
        first = self.input_channels_first
        for i, (layer, (in_shape, out_shape)) in enumerate(zip(model.layers, model.layer_shapes(), strict=True)):
            if isinstance(layer, Flatten) and first:
                dense = _feeds_dense(model.layers, i + 1)
                if dense is None:
                    mods.append(MoveChannels(to_first=False))
                else:
                    self.row_orders[dense] = flatten_row_order(in_shape)
                mods.append(nn.Flatten(1))
                first = False
                continue
            layout_bound = not isinstance(layer, LAYOUT_FREE + (GlobalMaxPool1D, GlobalAveragePool1D))
            wants_first = isinstance(layer, CHANNELS_FIRST)
            if len(in_shape) >= 2 and layout_bound and wants_first != first:
                mods.append(MoveChannels(to_first=wants_first))
                first = wants_first
            mods.extend(self._layer_modules(i, layer, in_shape, first))
            if len(out_shape) < 2:
                first = False
        if first:
            mods.append(MoveChannels(to_first=False))
        return mods

    def _layer_modules(self, i: int, layer: Layer, in_shape: Shape, first: bool) -> list[nn.Module]:
        if isinstance(layer, (Dense, Conv2D, Conv1D, Embedding, LSTM, LayerNorm, TransformerEncoder)):
            owner = _param_layer(layer, in_shape)
            self.owners[i] = owner
            act = activation_module(getattr(layer, "activation", None)) if isinstance(
                layer, (Dense, Conv2D, Conv1D)) else None
            return [owner] if act is None else [owner, act]
        if isinstance(layer, MaxPool2D):
            return [nn.MaxPool2d(layer.pool_size, stride=layer.effective_stride)]
        if isinstance(layer, MaxPool1D):
            return [nn.MaxPool1d(layer.pool_size, stride=layer.effective_stride)]
        if isinstance(layer, Flatten):
            return [nn.Flatten(1)]
        if isinstance(layer, Dropout):
            return [nn.Dropout(layer.rate)] if layer.rate > 0 else []
        if isinstance(layer, Activation):
            act = activation_module(layer.name)
            assert act is not None
            return [act]
        if isinstance(layer, (GlobalMaxPool1D, GlobalAveragePool1D)):
            return [GlobalPool(isinstance(layer, GlobalMaxPool1D), dim=2 if first else 1)]
        if isinstance(layer, PositionalEncoding):
            return [SinusoidalPositions(layer, in_shape[-1])]
        raise TypeError(f"torch backend cannot build layer {type(layer).__name__}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)
