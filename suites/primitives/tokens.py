"""Token sequences for vision transformers: image patches as tokens, a class token, learned positions, token pick.

A patch embedding is a Conv2D with kernel_size = stride = patch size followed by Tokens (the patch grid read row by
row as a sequence). Shapes are per sample in the neutral channels-last layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from suites.errors import SpecError
from suites.primitives.base import Primitive
from suites.primitives.checks import Shape, positive, rank, require, within_length


@dataclass(frozen=True)
class Tokens(Primitive):
    """(H, W, C) → (H·W, C): the spatial grid as a sequence in row-major (H, then W) order; no parameters."""

    kind: ClassVar[str] = "tokens"

    def output_shape(self, shape: Shape) -> Shape:
        rank("Tokens", shape, 3, "(H, W, C)")
        return (shape[0] * shape[1], shape[2])


@dataclass(frozen=True)
class ClassToken(Primitive):
    """(T, D) → (T + 1, D): a learned token (D,) put before the sequence (ViT's [class] token)."""

    kind: ClassVar[str] = "class_token"

    def output_shape(self, shape: Shape) -> Shape:
        rank("ClassToken", shape, 2, "(T, D)")
        return (shape[0] + 1, shape[1])

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """token (D,)."""
        return {"token": (in_shape[-1],)}


@dataclass(frozen=True)
class LearnedPositions(Primitive):
    """x + table[:T]: a learned position embedding (max_len, D) added to a (T, D) sequence (ViT, GPT-2)."""

    max_len: int
    kind: ClassVar[str] = "learned_positions"

    def __post_init__(self) -> None:
        positive("LearnedPositions", "max_len", self.max_len)

    def output_shape(self, shape: Shape) -> Shape:
        within_length("LearnedPositions", shape, self.max_len)
        return shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """table (max_len, D); element-wise add, so no FLOPs."""
        return {"table": (self.max_len, in_shape[-1])}


@dataclass(frozen=True)
class TakeToken(Primitive):
    """(T, D) → (D,): the token at `index` (0: ViT's class token)."""

    index: int = 0
    kind: ClassVar[str] = "take_token"

    def __post_init__(self) -> None:
        require(isinstance(self.index, int) and not isinstance(self.index, bool) and self.index >= 0,
                "TakeToken", "index", f"a non-negative integer, got {self.index!r}")

    def output_shape(self, shape: Shape) -> Shape:
        rank("TakeToken", shape, 2, "(T, D)")
        if self.index >= shape[0]:
            raise SpecError(f"TakeToken: index {self.index} is past the sequence length {shape[0]}")
        return (shape[1],)
