"""What every neutral layer answers: its JSON tag, output shape, parameters, forward FLOPs and a dropout-free copy."""

from __future__ import annotations

from typing import ClassVar, Self

from suites.errors import SpecError
from suites.primitives.checks import Shape

LAYER_TYPES: dict[str, type[Primitive]] = {}
"""Every primitive by its JSON tag, filled as each subclass with a `kind` is defined."""


class Primitive:
    """Base of every layer spec; the defaults fit a parameter-free, element-wise layer (no params, 0 FLOPs).

    A subclass that sets `kind` registers itself in LAYER_TYPES: defining the class is all it takes."""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        kind = cls.__dict__.get("kind")
        if kind is None:
            return
        if kind in LAYER_TYPES and LAYER_TYPES[kind].__qualname__ != cls.__qualname__:
            raise SpecError(f"layer kind {kind!r} is defined twice: {LAYER_TYPES[kind].__name__} and {cls.__name__}")
        LAYER_TYPES[kind] = cls

    kind: ClassVar[str]
    """The layer's JSON tag, and its key in every per-kind table (reference, backends)."""

    bottom_needs_no_input_grad: ClassVar[bool] = False
    """True for a plain matmul or convolution: with nothing trainable below it, its training step computes the
    forward and the weight gradient only (2x its forward FLOPs, not 3x)."""

    def output_shape(self, shape: Shape) -> Shape:
        """The per-sample output shape for a per-sample input shape (SpecError if it does not fit)."""
        raise NotImplementedError(f"{type(self).__name__} must define output_shape")

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """The parameters this layer owns, by local name, in the neutral layout (suites.params)."""
        return {}

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        """Forward FLOPs for one sample: 2 per multiply-add of matmuls and convolutions, element-wise work is free."""
        return 0

    def without_dropout(self) -> Self:
        """The same layer with every dropout rate set to 0."""
        return self
