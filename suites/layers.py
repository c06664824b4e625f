"""The neutral layer vocabulary: frozen, validated layer specs and their shape rules.

Shapes are per sample (no batch axis) in the neutral channels-last layout:
images (H, W, C), sequences (T, F), token ids (T,).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from suites.errors import SpecError

ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu")
"""Activations every backend implements; gelu is the exact (erf) form everywhere."""

PADDINGS = ("valid", "same")

Shape = tuple[int, ...]


def _require(ok: bool, owner: str, field: str, allowed: str) -> None:
    if not ok:
        raise SpecError(f"{owner}.{field}: must be {allowed}")


def _positive(owner: str, field: str, value: object) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value > 0, owner, field,
             f"a positive integer, got {value!r}")


def _activation(owner: str, value: str | None) -> None:
    _require(value is None or value in ACTIVATIONS, owner, "activation",
             f"one of {', '.join(ACTIVATIONS)} or None, got {value!r}")


def _rank(owner: str, shape: Shape, rank: int, what: str) -> None:
    if len(shape) != rank:
        raise SpecError(f"{owner}: expects {what} (rank {rank} per sample), got shape {shape}")


def _window_out(size: int, window: int, stride: int, padding: str) -> int:
    if padding == "same":
        return math.ceil(size / stride)
    return (size - window) // stride + 1


@dataclass(frozen=True)
class Dense:
    """Affine map on the last axis, optionally followed by an activation."""

    units: int
    activation: str | None = None
    use_bias: bool = True
    kind: ClassVar[str] = "dense"

    def __post_init__(self) -> None:
        _positive("Dense", "units", self.units)
        _activation("Dense", self.activation)

    def output_shape(self, shape: Shape) -> Shape:
        if not shape:
            raise SpecError("Dense: needs an input with at least one axis")
        return (*shape[:-1], self.units)


@dataclass(frozen=True)
class Conv2D:
    """2-D convolution over (H, W, C); 'same' padding needs an odd kernel and stride 1."""

    filters: int
    kernel_size: int
    stride: int = 1
    padding: str = "valid"
    activation: str | None = None
    kind: ClassVar[str] = "conv2d"

    def __post_init__(self) -> None:
        _positive("Conv2D", "filters", self.filters)
        _positive("Conv2D", "kernel_size", self.kernel_size)
        _positive("Conv2D", "stride", self.stride)
        _require(self.padding in PADDINGS, "Conv2D", "padding", f"one of {PADDINGS}, got {self.padding!r}")
        _require(self.padding == "valid" or (self.kernel_size % 2 == 1 and self.stride == 1), "Conv2D",
                 "padding", "'valid' unless kernel_size is odd and stride is 1 (even 'same' pads differ by framework)")
        _activation("Conv2D", self.activation)

    def output_shape(self, shape: Shape) -> Shape:
        _rank("Conv2D", shape, 3, "(H, W, C)")
        h, w, _ = shape
        oh = _window_out(h, self.kernel_size, self.stride, self.padding)
        ow = _window_out(w, self.kernel_size, self.stride, self.padding)
        if oh < 1 or ow < 1:
            raise SpecError(f"Conv2D: kernel {self.kernel_size} does not fit input {shape}")
        return (oh, ow, self.filters)


@dataclass(frozen=True)
class MaxPool2D:
    """Max pooling over (H, W); stride defaults to the pool size; floor on odd sizes."""

    pool_size: int = 2
    stride: int | None = None
    kind: ClassVar[str] = "maxpool2d"

    def __post_init__(self) -> None:
        _positive("MaxPool2D", "pool_size", self.pool_size)
        if self.stride is not None:
            _positive("MaxPool2D", "stride", self.stride)

    @property
    def effective_stride(self) -> int:
        return self.stride or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        _rank("MaxPool2D", shape, 3, "(H, W, C)")
        h, w, c = shape
        s = self.effective_stride
        oh, ow = (h - self.pool_size) // s + 1, (w - self.pool_size) // s + 1
        if oh < 1 or ow < 1:
            raise SpecError(f"MaxPool2D: pool {self.pool_size} does not fit input {shape}")
        return (oh, ow, c)


@dataclass(frozen=True)
class Flatten:
    """Flattens a sample to one axis in channels-last (H, W, C) order."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


@dataclass(frozen=True)
class Dropout:
    """Inverted dropout, active only in training steps."""

    rate: float
    kind: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        _require(isinstance(self.rate, (int, float)) and 0.0 <= self.rate < 1.0, "Dropout", "rate",
                 f"a number in [0, 1), got {self.rate!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Activation:
    """An element-wise activation."""

    name: str
    kind: ClassVar[str] = "activation"

    def __post_init__(self) -> None:
        _require(self.name in ACTIVATIONS, "Activation", "name", f"one of {', '.join(ACTIVATIONS)}, got {self.name!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class Embedding:
    """Token-id lookup: (T,) int ids → (T, dim)."""

    vocab_size: int
    dim: int
    kind: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        _positive("Embedding", "vocab_size", self.vocab_size)
        _positive("Embedding", "dim", self.dim)

    def output_shape(self, shape: Shape) -> Shape:
        _rank("Embedding", shape, 1, "token ids (T,)")
        return (shape[0], self.dim)


@dataclass(frozen=True)
class Conv1D:
    """1-D convolution over (T, C); 'same' padding needs an odd kernel and stride 1."""

    filters: int
    kernel_size: int
    stride: int = 1
    padding: str = "valid"
    activation: str | None = None
    kind: ClassVar[str] = "conv1d"

    def __post_init__(self) -> None:
        _positive("Conv1D", "filters", self.filters)
        _positive("Conv1D", "kernel_size", self.kernel_size)
        _positive("Conv1D", "stride", self.stride)
        _require(self.padding in PADDINGS, "Conv1D", "padding", f"one of {PADDINGS}, got {self.padding!r}")
        _require(self.padding == "valid" or (self.kernel_size % 2 == 1 and self.stride == 1), "Conv1D",
                 "padding", "'valid' unless kernel_size is odd and stride is 1")
        _activation("Conv1D", self.activation)

    def output_shape(self, shape: Shape) -> Shape:
        _rank("Conv1D", shape, 2, "(T, C)")
        t = _window_out(shape[0], self.kernel_size, self.stride, self.padding)
        if t < 1:
            raise SpecError(f"Conv1D: kernel {self.kernel_size} does not fit input {shape}")
        return (t, self.filters)


@dataclass(frozen=True)
class MaxPool1D:
    """Max pooling over T; stride defaults to the pool size."""

    pool_size: int = 2
    stride: int | None = None
    kind: ClassVar[str] = "maxpool1d"

    def __post_init__(self) -> None:
        _positive("MaxPool1D", "pool_size", self.pool_size)
        if self.stride is not None:
            _positive("MaxPool1D", "stride", self.stride)

    @property
    def effective_stride(self) -> int:
        return self.stride or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        _rank("MaxPool1D", shape, 2, "(T, C)")
        t = (shape[0] - self.pool_size) // self.effective_stride + 1
        if t < 1:
            raise SpecError(f"MaxPool1D: pool {self.pool_size} does not fit input {shape}")
        return (t, shape[1])


@dataclass(frozen=True)
class GlobalMaxPool1D:
    """Max over the time axis: (T, C) → (C,)."""

    kind: ClassVar[str] = "global_maxpool1d"

    def output_shape(self, shape: Shape) -> Shape:
        _rank("GlobalMaxPool1D", shape, 2, "(T, C)")
        return (shape[1],)


@dataclass(frozen=True)
class GlobalAveragePool1D:
    """Mean over the time axis: (T, C) → (C,)."""

    kind: ClassVar[str] = "global_avgpool1d"

    def output_shape(self, shape: Shape) -> Shape:
        _rank("GlobalAveragePool1D", shape, 2, "(T, C)")
        return (shape[1],)


@dataclass(frozen=True)
class LSTM:
    """Stacked LSTM over (T, F) with zero initial state; gates i, f, g, o; one bias per gate."""

    units: int
    num_layers: int = 1
    return_sequences: bool = False
    kind: ClassVar[str] = "lstm"

    def __post_init__(self) -> None:
        _positive("LSTM", "units", self.units)
        _positive("LSTM", "num_layers", self.num_layers)

    def output_shape(self, shape: Shape) -> Shape:
        _rank("LSTM", shape, 2, "a sequence (T, F)")
        return (shape[0], self.units) if self.return_sequences else (self.units,)


@dataclass(frozen=True)
class LayerNorm:
    """Layer normalisation over the last axis with learned scale and bias."""

    eps: float = 1e-5
    kind: ClassVar[str] = "layernorm"

    def __post_init__(self) -> None:
        _require(isinstance(self.eps, float) and self.eps > 0, "LayerNorm", "eps",
                 f"a positive float, got {self.eps!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape


@dataclass(frozen=True)
class PositionalEncoding:
    """Adds the fixed sinusoidal encoding (sin on even, cos on odd features); optionally scales x by sqrt(D) first."""

    max_len: int
    scale_input: bool = True
    kind: ClassVar[str] = "positional_encoding"

    def __post_init__(self) -> None:
        _positive("PositionalEncoding", "max_len", self.max_len)

    def output_shape(self, shape: Shape) -> Shape:
        _rank("PositionalEncoding", shape, 2, "(T, D)")
        if shape[0] > self.max_len:
            raise SpecError(f"PositionalEncoding: sequence length {shape[0]} exceeds max_len {self.max_len}")
        if shape[1] % 2:
            raise SpecError(f"PositionalEncoding: feature size {shape[1]} must be even")
        return shape


@dataclass(frozen=True)
class TransformerEncoder:
    """One encoder layer: multi-head self-attention and a feed-forward block, each with residual and LayerNorm.

    Post-norm (norm_first=False): x = LN1(x + Drop(MHA(x))); x = LN2(x + Drop(FF(x))).
    Pre-norm  (norm_first=True):  x = x + Drop(MHA(LN1(x)));  x = x + Drop(FF(LN2(x))).
    FF(x) = W2 · Drop(act(W1 · x + b1)) + b2. Attention probabilities get dropout at the same rate. No mask.
    """

    d_model: int
    num_heads: int
    ff_dim: int
    dropout: float = 0.1
    activation: str = "relu"
    norm_first: bool = False
    layer_norm_eps: float = 1e-5
    kind: ClassVar[str] = "transformer_encoder"

    def __post_init__(self) -> None:
        _positive("TransformerEncoder", "d_model", self.d_model)
        _positive("TransformerEncoder", "num_heads", self.num_heads)
        _positive("TransformerEncoder", "ff_dim", self.ff_dim)
        _require(self.d_model % self.num_heads == 0, "TransformerEncoder", "num_heads",
                 f"a divisor of d_model={self.d_model}, got {self.num_heads}")
        _require(0.0 <= self.dropout < 1.0, "TransformerEncoder", "dropout", f"in [0, 1), got {self.dropout!r}")
        _require(self.activation in ("relu", "gelu"), "TransformerEncoder", "activation",
                 f"'relu' or 'gelu', got {self.activation!r}")
        _require(isinstance(self.layer_norm_eps, float) and self.layer_norm_eps > 0, "TransformerEncoder",
                 "layer_norm_eps", f"a positive float, got {self.layer_norm_eps!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    def output_shape(self, shape: Shape) -> Shape:
        _rank("TransformerEncoder", shape, 2, "(T, D)")
        if shape[1] != self.d_model:
            raise SpecError(f"TransformerEncoder: input feature size {shape[1]} != d_model {self.d_model}")
        return shape


Layer = (Dense | Conv2D | MaxPool2D | Flatten | Dropout | Activation | Embedding | Conv1D | MaxPool1D
         | GlobalMaxPool1D | GlobalAveragePool1D | LSTM | LayerNorm | PositionalEncoding | TransformerEncoder)

LAYER_TYPES: dict[str, type] = {cls.kind: cls for cls in (
    Dense, Conv2D, MaxPool2D, Flatten, Dropout, Activation, Embedding, Conv1D, MaxPool1D,
    GlobalMaxPool1D, GlobalAveragePool1D, LSTM, LayerNorm, PositionalEncoding, TransformerEncoder)}
"""Every primitive by its JSON tag; a backend must build each of these."""
