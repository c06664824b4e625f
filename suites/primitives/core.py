"""Dense, convolutions, pooling and element-wise layers: shapes, parameters and FLOPs.

Shapes are per sample (no batch axis) in the neutral channels-last layout: images (H, W, C), sequences (T, C).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import ClassVar

from suites.errors import SpecError
from suites.primitives.base import Primitive
from suites.primitives.checks import ACTIVATIONS, PADDINGS, Shape, check_activation, positive, rank, require, window_out


@dataclass(frozen=True)
class Dense(Primitive):
    """Affine map on the last axis, optionally followed by an activation."""

    units: int
    activation: str | None = None
    use_bias: bool = True
    kind: ClassVar[str] = "dense"
    bottom_needs_no_input_grad: ClassVar[bool] = True

    def __post_init__(self) -> None:
        positive("Dense", "units", self.units)
        check_activation("Dense", self.activation)

    def output_shape(self, shape: Shape) -> Shape:
        if not shape:
            raise SpecError("Dense: needs an input with at least one axis")
        return (*shape[:-1], self.units)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """kernel (in, out), bias (out,) unless use_bias is False."""
        shapes: dict[str, Shape] = {"kernel": (in_shape[-1], self.units)}
        if self.use_bias:
            shapes["bias"] = (self.units,)
        return shapes

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        return 2 * math.prod(in_shape[:-1]) * in_shape[-1] * self.units


@dataclass(frozen=True)
class Conv2D(Primitive):
    """2-D convolution over (H, W, C); 'same' padding needs an odd kernel and stride 1; use_bias=False drops the bias
    (a conv before a BatchNorm; written to JSON only when False, so earlier spec hashes stay)."""

    filters: int
    kernel_size: int
    stride: int = 1
    padding: str = "valid"
    activation: str | None = None
    use_bias: bool = True
    kind: ClassVar[str] = "conv2d"
    quiet_defaults: ClassVar[dict[str, object]] = {"use_bias": True}
    bottom_needs_no_input_grad: ClassVar[bool] = True

    def __post_init__(self) -> None:
        positive("Conv2D", "filters", self.filters)
        positive("Conv2D", "kernel_size", self.kernel_size)
        positive("Conv2D", "stride", self.stride)
        require(self.padding in PADDINGS, "Conv2D", "padding", f"one of {PADDINGS}, got {self.padding!r}")
        require(self.padding == "valid" or (self.kernel_size % 2 == 1 and self.stride == 1), "Conv2D",
                "padding", "'valid' unless kernel_size is odd and stride is 1 (even 'same' pads differ by framework)")
        check_activation("Conv2D", self.activation)
        require(isinstance(self.use_bias, bool), "Conv2D", "use_bias", f"True or False, got {self.use_bias!r}")

    def output_shape(self, shape: Shape) -> Shape:
        rank("Conv2D", shape, 3, "(H, W, C)")
        h, w, _ = shape
        oh = window_out(h, self.kernel_size, self.stride, self.padding)
        ow = window_out(w, self.kernel_size, self.stride, self.padding)
        if oh < 1 or ow < 1:
            raise SpecError(f"Conv2D: kernel {self.kernel_size} does not fit input {shape}")
        return (oh, ow, self.filters)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """kernel (k, k, in, out), bias (out,) unless use_bias is False."""
        k = self.kernel_size
        shapes: dict[str, Shape] = {"kernel": (k, k, in_shape[-1], self.filters)}
        if self.use_bias:
            shapes["bias"] = (self.filters,)
        return shapes

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        oh, ow, cout = out_shape
        return 2 * oh * ow * cout * self.kernel_size**2 * in_shape[-1]


@dataclass(frozen=True)
class Conv1D(Primitive):
    """1-D convolution over (T, C); 'same' padding needs an odd kernel and stride 1."""

    filters: int
    kernel_size: int
    stride: int = 1
    padding: str = "valid"
    activation: str | None = None
    kind: ClassVar[str] = "conv1d"
    bottom_needs_no_input_grad: ClassVar[bool] = True

    def __post_init__(self) -> None:
        positive("Conv1D", "filters", self.filters)
        positive("Conv1D", "kernel_size", self.kernel_size)
        positive("Conv1D", "stride", self.stride)
        require(self.padding in PADDINGS, "Conv1D", "padding", f"one of {PADDINGS}, got {self.padding!r}")
        require(self.padding == "valid" or (self.kernel_size % 2 == 1 and self.stride == 1), "Conv1D",
                "padding", "'valid' unless kernel_size is odd and stride is 1")
        check_activation("Conv1D", self.activation)

    def output_shape(self, shape: Shape) -> Shape:
        rank("Conv1D", shape, 2, "(T, C)")
        t = window_out(shape[0], self.kernel_size, self.stride, self.padding)
        if t < 1:
            raise SpecError(f"Conv1D: kernel {self.kernel_size} does not fit input {shape}")
        return (t, self.filters)

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """kernel (k, in, out), bias (out,)."""
        return {"kernel": (self.kernel_size, in_shape[-1], self.filters), "bias": (self.filters,)}

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        t, cout = out_shape
        return 2 * t * cout * self.kernel_size * in_shape[-1]


@dataclass(frozen=True)
class MaxPool2D(Primitive):
    """Max pooling over (H, W); stride defaults to the pool size; floor on odd sizes."""

    pool_size: int = 2
    stride: int | None = None
    kind: ClassVar[str] = "maxpool2d"

    def __post_init__(self) -> None:
        positive("MaxPool2D", "pool_size", self.pool_size)
        if self.stride is not None:
            positive("MaxPool2D", "stride", self.stride)

    @property
    def effective_stride(self) -> int:
        return self.stride or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        rank("MaxPool2D", shape, 3, "(H, W, C)")
        h, w, c = shape
        s = self.effective_stride
        oh, ow = (h - self.pool_size) // s + 1, (w - self.pool_size) // s + 1
        if oh < 1 or ow < 1:
            raise SpecError(f"MaxPool2D: pool {self.pool_size} does not fit input {shape}")
        return (oh, ow, c)


@dataclass(frozen=True)
class MaxPool1D(Primitive):
    """Max pooling over T; stride defaults to the pool size."""

    pool_size: int = 2
    stride: int | None = None
    kind: ClassVar[str] = "maxpool1d"

    def __post_init__(self) -> None:
        positive("MaxPool1D", "pool_size", self.pool_size)
        if self.stride is not None:
            positive("MaxPool1D", "stride", self.stride)

    @property
    def effective_stride(self) -> int:
        return self.stride or self.pool_size

    def output_shape(self, shape: Shape) -> Shape:
        rank("MaxPool1D", shape, 2, "(T, C)")
        t = (shape[0] - self.pool_size) // self.effective_stride + 1
        if t < 1:
            raise SpecError(f"MaxPool1D: pool {self.pool_size} does not fit input {shape}")
        return (t, shape[1])


@dataclass(frozen=True)
class Flatten(Primitive):
    """Flattens a sample to one axis in channels-last (H, W, C) order."""

    kind: ClassVar[str] = "flatten"

    def output_shape(self, shape: Shape) -> Shape:
        return (math.prod(shape),)


@dataclass(frozen=True)
class Dropout(Primitive):
    """Inverted dropout, active only in training steps."""

    rate: float
    kind: ClassVar[str] = "dropout"

    def __post_init__(self) -> None:
        require(isinstance(self.rate, (int, float)) and 0.0 <= self.rate < 1.0, "Dropout", "rate",
                f"a number in [0, 1), got {self.rate!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def without_dropout(self) -> Dropout:
        return dataclasses.replace(self, rate=0.0)


@dataclass(frozen=True)
class Activation(Primitive):
    """An element-wise activation."""

    name: str
    kind: ClassVar[str] = "activation"

    def __post_init__(self) -> None:
        require(self.name in ACTIVATIONS, "Activation", "name", f"one of {', '.join(ACTIVATIONS)}, got {self.name!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape
