"""What every neutral layer answers: its JSON tag, output shape, parameters, forward FLOPs and a dropout-free copy."""

from __future__ import annotations

from typing import ClassVar, Self

from suites.primitives.checks import Shape


class Primitive:
    """Base of every layer spec; the defaults fit a parameter-free, element-wise layer (no params, 0 FLOPs)."""

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
