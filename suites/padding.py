"""The padding mask of a token-id model: which positions are padding, which layers read it, and where it is valid.

A position is padding where the model's int32 input holds PAD_ID (0), except the first position, which is never
padding (BERT's [CLS] place): every row keeps at least one key to attend to and one position to average, so a row of
padding only (or a causal query whose earlier keys are all padding) gives finite outputs in every framework instead of
0/0. The text datasets pad on the right after at least one token (rotten_tomatoes: no row of padding only), so there
the first position is a token anyway.

A layer reads the mask when its `mask_padding` field is True (TransformerEncoder: padded keys get no attention weight;
GlobalAveragePool1D: the mean over non-padded positions). Every backend computes the mask from the input ids itself
(backends/*/masking.py); suites/reference.py uses `padding_mask` below.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from suites.data.text import PAD_ID
from suites.errors import SpecError
from suites.primitives.base import Primitive
from suites.primitives.checks import Shape

__all__ = ["PAD_ID", "check_padding_masks", "masks_padding", "padding_for", "padding_mask"]


def masks_padding(layer: Primitive) -> bool:
    """Whether a layer reads the padding mask (its `mask_padding` field is True)."""
    return bool(getattr(layer, "mask_padding", False))


def padding_mask(ids: np.ndarray) -> np.ndarray:
    """(N, T) bool, True at padding: ids == PAD_ID, never at the first position."""
    pad = np.asarray(ids) == PAD_ID
    return pad & (np.arange(pad.shape[1]) > 0)


def padding_for(layers: Sequence[Primitive], x: np.ndarray) -> np.ndarray | None:
    """The padding mask of a batch of input ids when some layer reads it, else None."""
    return padding_mask(x) if any(masks_padding(layer) for layer in layers) else None


class LayerStack(Protocol):
    """What the check reads of a model (suites.spec.ModelSpec has it; spec imports this module, not the reverse)."""

    @property
    def name(self) -> str: ...

    @property
    def input_shape(self) -> Shape: ...

    @property
    def input_dtype(self) -> str: ...

    @property
    def layers(self) -> Sequence[Primitive]: ...

    def layer_shapes(self) -> list[tuple[Shape, Shape]]: ...


def check_padding_masks(model: LayerStack) -> None:
    """SpecError unless every layer that reads the padding mask sees the input's positions: an int32 (T,) input, and
    every layer before it keeping the T positions as a (T, D) sequence (no class token, strided conv or pooling)."""
    steps, changed = model.input_shape[0], None
    for i, (layer, (_, out)) in enumerate(zip(model.layers, model.layer_shapes(), strict=True)):
        if masks_padding(layer):
            where = f"ModelSpec {model.name!r} layers[{i}] {type(layer).__name__}.mask_padding"
            if model.input_dtype != "int32" or len(model.input_shape) != 1:
                raise SpecError(f"{where}: needs token ids, an int32 input of shape (T,), got {model.input_dtype} "
                                f"{tuple(model.input_shape)}; set mask_padding=False")
            if changed is not None:
                raise SpecError(f"{where}: layers[{changed}] {type(model.layers[changed]).__name__} before it "
                                f"changes the {steps} input positions; a padding mask needs them unchanged")
        if changed is None and (len(out) != 2 or out[0] != steps):
            changed = i
