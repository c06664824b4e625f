"""Zero padding and global average pooling of images (H, W, C): no parameters, 0 FLOPs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from suites.primitives.base import Primitive
from suites.primitives.checks import Shape, rank, require


@dataclass(frozen=True)
class ZeroPad2D(Primitive):
    """Pads H and W of an (H, W, C) input with `pad` zeros on each side: (H + 2·pad, W + 2·pad, C)."""

    pad: int
    kind: ClassVar[str] = "zero_pad2d"

    def __post_init__(self) -> None:
        require(isinstance(self.pad, int) and not isinstance(self.pad, bool) and self.pad >= 0, "ZeroPad2D", "pad",
                f"a non-negative integer, got {self.pad!r}")

    def output_shape(self, shape: Shape) -> Shape:
        rank("ZeroPad2D", shape, 3, "(H, W, C)")
        h, w, c = shape
        return (h + 2 * self.pad, w + 2 * self.pad, c)


@dataclass(frozen=True)
class GlobalAveragePool2D(Primitive):
    """The mean over H and W of an (H, W, C) input: (C,)."""

    kind: ClassVar[str] = "global_avgpool2d"

    def output_shape(self, shape: Shape) -> Shape:
        rank("GlobalAveragePool2D", shape, 3, "(H, W, C)")
        return (shape[2],)
