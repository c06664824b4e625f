"""Token embedding (and the LM head tied to it), pooling over time and the stacked LSTM: shapes, parameters, FLOPs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from suites.primitives.base import Primitive
from suites.primitives.checks import Shape, positive, rank, require


@dataclass(frozen=True)
class Embedding(Primitive):
    """Token-id lookup: (T,) int ids → (T, dim)."""

    vocab_size: int
    dim: int
    kind: ClassVar[str] = "embedding"

    def __post_init__(self) -> None:
        positive("Embedding", "vocab_size", self.vocab_size)
        positive("Embedding", "dim", self.dim)

    def output_shape(self, shape: Shape) -> Shape:
        rank("Embedding", shape, 1, "token ids (T,)")
        return (shape[0], self.dim)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """embeddings (vocab, dim); a lookup, so no FLOPs."""
        return {"embeddings": (self.vocab_size, self.dim)}


@dataclass(frozen=True)
class GlobalMaxPool1D(Primitive):
    """Max over the time axis: (T, C) → (C,)."""

    kind: ClassVar[str] = "global_maxpool1d"

    def output_shape(self, shape: Shape) -> Shape:
        rank("GlobalMaxPool1D", shape, 2, "(T, C)")
        return (shape[1],)


@dataclass(frozen=True)
class GlobalAveragePool1D(Primitive):
    """Mean over the time axis: (T, C) → (C,); with mask_padding=True over the positions that are not padding
    (suites/padding.py; the model's input must be token ids)."""

    mask_padding: bool = False
    kind: ClassVar[str] = "global_avgpool1d"

    def __post_init__(self) -> None:
        require(isinstance(self.mask_padding, bool), "GlobalAveragePool1D", "mask_padding",
                f"True or False, got {self.mask_padding!r}")

    def output_shape(self, shape: Shape) -> Shape:
        rank("GlobalAveragePool1D", shape, 2, "(T, C)")
        return (shape[1],)


@dataclass(frozen=True)
class LSTM(Primitive):
    """Stacked LSTM over (T, F) with zero initial state; gates i, f, g, o; one bias per gate.

    Its training step always counts 3x: the recurrence needs the state gradient even at the bottom.
    """

    units: int
    num_layers: int = 1
    return_sequences: bool = False
    kind: ClassVar[str] = "lstm"

    def __post_init__(self) -> None:
        positive("LSTM", "units", self.units)
        positive("LSTM", "num_layers", self.num_layers)

    def output_shape(self, shape: Shape) -> Shape:
        rank("LSTM", shape, 2, "a sequence (T, F)")
        return (shape[0], self.units) if self.return_sequences else (self.units,)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """l<k>.kernel (in, 4H), l<k>.recurrent_kernel (H, 4H), l<k>.bias (4H,) per layer k; gate blocks i, f, g, o."""
        shapes: dict[str, Shape] = {}
        width, h = in_shape[-1], self.units
        for k in range(self.num_layers):
            shapes[f"l{k}.kernel"] = (width, 4 * h)
            shapes[f"l{k}.recurrent_kernel"] = (h, 4 * h)
            shapes[f"l{k}.bias"] = (4 * h,)
            width = h
        return shapes

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        steps, width, h, total = in_shape[0], in_shape[-1], self.units, 0
        for _ in range(self.num_layers):
            total += 2 * steps * (width + h) * 4 * h
            width = h
        return total


@dataclass(frozen=True)
class TiedHead(Primitive):
    """Logits against an Embedding's table, GPT-2's tied LM head: (..., dim) → (..., vocab_size) = x · tableᵀ
    (+ bias). The table is the one of layer `source` (an Embedding of the same vocabulary and width, earlier in the
    model: check_tied_heads), shared, not copied: this layer owns only its optional bias, and the table's gradient
    sums both uses."""

    vocab_size: int
    source: int = 0
    use_bias: bool = False
    kind: ClassVar[str] = "tied_head"

    def __post_init__(self) -> None:
        positive("TiedHead", "vocab_size", self.vocab_size)
        require(isinstance(self.source, int) and not isinstance(self.source, bool) and self.source >= 0, "TiedHead",
                "source", f"the index of an Embedding layer, got {self.source!r}")
        require(isinstance(self.use_bias, bool), "TiedHead", "use_bias", f"True or False, got {self.use_bias!r}")

    def output_shape(self, shape: Shape) -> Shape:
        require(len(shape) >= 1, "TiedHead", "input", f"at least one axis, got {shape}")
        return (*shape[:-1], self.vocab_size)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """bias (vocab,) if use_bias; the kernel is layer `source`'s embeddings, transposed."""
        return {"bias": (self.vocab_size,)} if self.use_bias else {}

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        return 2 * math.prod(in_shape[:-1]) * in_shape[-1] * self.vocab_size


def check_tied_heads(layers: Sequence[Primitive], shapes: Sequence[tuple[Shape, Shape]]) -> None:
    """SpecError unless every TiedHead's `source` is an earlier Embedding of its vocabulary and input width."""
    for i, (layer, (in_shape, _)) in enumerate(zip(layers, shapes, strict=True)):
        if not isinstance(layer, TiedHead):
            continue
        source = layers[layer.source] if layer.source < i else None
        require(isinstance(source, Embedding) and source.vocab_size == layer.vocab_size
                and source.dim == in_shape[-1], f"layers[{i}] TiedHead", "source",
                f"the index of an earlier Embedding({layer.vocab_size}, {in_shape[-1]}), got {layer.source} "
                f"({type(source).__name__ if source is not None else 'not an earlier layer'})")
