"""The neutral layer vocabulary: frozen, validated layer specs that know their shape, parameters and FLOPs.

Shapes are per sample (no batch axis) in the neutral channels-last layout:
images (H, W, C), sequences (T, F), token ids (T,).

A new primitive: a frozen dataclass subclassing Primitive in suites/primitives/ (kind, output_shape, param_shapes,
forward_flops), listed in LAYER_TYPES below; one reference function in suites/reference.py; one function per backend.
"""

from __future__ import annotations

from suites.primitives.attention import LayerNorm, PositionalEncoding, TransformerEncoder
from suites.primitives.base import Primitive
from suites.primitives.checks import ACTIVATIONS, PADDINGS, Shape
from suites.primitives.core import Activation, Conv1D, Conv2D, Dense, Dropout, Flatten, MaxPool1D, MaxPool2D
from suites.primitives.sequence import LSTM, Embedding, GlobalAveragePool1D, GlobalMaxPool1D

__all__ = [
    "ACTIVATIONS", "LAYER_KINDS", "LAYER_TYPES", "LSTM", "PADDINGS", "Activation", "Conv1D", "Conv2D", "Dense",
    "Dropout", "Embedding", "Flatten", "GlobalAveragePool1D", "GlobalMaxPool1D", "Layer", "LayerNorm", "MaxPool1D",
    "MaxPool2D", "PositionalEncoding", "Primitive", "Shape", "TransformerEncoder",
]

Layer = (Dense | Conv2D | MaxPool2D | Flatten | Dropout | Activation | Embedding | Conv1D | MaxPool1D
         | GlobalMaxPool1D | GlobalAveragePool1D | LSTM | LayerNorm | PositionalEncoding | TransformerEncoder)

LAYER_TYPES: dict[str, type[Primitive]] = {cls.kind: cls for cls in (
    Dense, Conv2D, MaxPool2D, Flatten, Dropout, Activation, Embedding, Conv1D, MaxPool1D,
    GlobalMaxPool1D, GlobalAveragePool1D, LSTM, LayerNorm, PositionalEncoding, TransformerEncoder)}
"""Every primitive by its JSON tag; a backend must build each of these."""

LAYER_KINDS: tuple[str, ...] = tuple(LAYER_TYPES)
"""Every layer kind, in LAYER_TYPES order: the keys every per-kind table (reference, backends) must cover."""
