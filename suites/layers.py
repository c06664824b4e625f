"""The neutral layer vocabulary: frozen, validated layer specs that know their shape, parameters and FLOPs.

Shapes are per sample (no batch axis) in the neutral channels-last layout:
images (H, W, C), sequences (T, F), token ids (T,).

A new primitive: a frozen dataclass subclassing Primitive in a module of suites/primitives/ (kind, output_shape,
param_shapes, forward_flops; a layer with running statistics subclasses Stateful and adds state_shapes): defining it
registers it in LAYER_TYPES. A layer that holds other layers (Residual) lists them in `parts` and names their
parameters and state "<prefix>.<local>" under its own. Then one reference function in suites/reference.py (and, if
its training forward differs, one in suites/reference_norm.TRAINING) and one function per backend.
"""

from __future__ import annotations

import importlib
import pkgutil

from suites import primitives
from suites.primitives.attention import LayerNorm, PositionalEncoding, TransformerEncoder
from suites.primitives.base import LAYER_TYPES, Primitive
from suites.primitives.checks import ACTIVATIONS, PADDINGS, Shape
from suites.primitives.core import Activation, Conv1D, Conv2D, Dense, Dropout, Flatten, MaxPool1D, MaxPool2D
from suites.primitives.norm import BatchNorm, Stateful
from suites.primitives.residual import Residual
from suites.primitives.sequence import LSTM, Embedding, GlobalAveragePool1D, GlobalMaxPool1D, TiedHead
from suites.primitives.spatial import GlobalAveragePool2D, ZeroPad2D
from suites.primitives.tokens import ClassToken, LearnedPositions, TakeToken, Tokens

__all__ = [
    "ACTIVATIONS", "LAYER_KINDS", "LAYER_TYPES", "LSTM", "PADDINGS", "Activation", "BatchNorm", "ClassToken", "Conv1D",
    "Conv2D", "Dense", "Dropout", "Embedding", "Flatten", "GlobalAveragePool1D", "GlobalAveragePool2D",
    "GlobalMaxPool1D", "Layer", "LayerNorm", "LearnedPositions", "MaxPool1D", "MaxPool2D", "PositionalEncoding",
    "Primitive", "Residual", "Shape", "Stateful", "TakeToken", "TiedHead", "Tokens", "TransformerEncoder", "ZeroPad2D",
]

for _module in pkgutil.iter_modules(primitives.__path__):  # every family module registers its layers
    importlib.import_module(f"{primitives.__name__}.{_module.name}")

Layer = Primitive
"""Any neutral layer spec."""

LAYER_KINDS: tuple[str, ...] = tuple(LAYER_TYPES)
"""Every layer kind, in definition order: the keys every per-kind table (reference, backends) must cover."""
