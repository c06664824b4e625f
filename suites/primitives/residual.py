"""A residual block: output = body(x) + shortcut(x), the shortcut the identity or a projection (ResNet v1 option B).

The block owns its sub-layers' parameters and state under nested names (suites/params.py): "body.<j>.<local>" for
the body's layer j, "proj.kernel" (1, 1, in, out) for the projection's 1×1 convolution (stride `stride`, no bias) and
"proj_bn.<local>" for its BatchNorm (momentum `norm_momentum`, eps `norm_eps`, the neutral BatchNorm convention).
`parts` lists those sub-layers as ordinary primitives: every per-layer rule (parameters, state, FLOPs, reference,
backend weight maps) recurses through it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

from suites.errors import SpecError
from suites.primitives.base import LAYER_TYPES, Primitive, chain_shapes, layer_from_dict, layer_to_dict
from suites.primitives.checks import Shape, positive, require
from suites.primitives.core import Conv2D
from suites.primitives.norm import BatchNorm, Stateful

Part = tuple[str, Primitive, Shape]
"""(local name prefix, the sub-layer, its per-sample input shape)."""


@dataclass(frozen=True)
class Residual(Stateful):
    """body(x) + shortcut(x): the body's layers in order; the shortcut is x itself, or with projection=True a 1×1
    convolution of stride `stride` (no bias) and a BatchNorm. The body's output shape must equal the shortcut's.
    FLOPs: the body's and the projection's (the add is element-wise: 0). An activation after the add is a separate
    layer (Activation), as in ResNet's relu after the sum."""

    body: tuple[Primitive, ...]
    projection: bool = False
    stride: int = 1
    norm_momentum: float = 0.1
    norm_eps: float = 1e-5
    kind: ClassVar[str] = "residual"

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", tuple(self.body))  # a JSON list becomes the (hashable) tuple
        require(len(self.body) > 0, "Residual", "body", "a non-empty tuple of layer specs")
        for j, layer in enumerate(self.body):
            require(type(layer) in LAYER_TYPES.values(), "Residual", f"body[{j}]",
                    f"a layer spec from suites.layers, got {type(layer).__name__}")
        require(isinstance(self.projection, bool), "Residual", "projection", f"True or False, got {self.projection!r}")
        positive("Residual", "stride", self.stride)
        require(self.projection or self.stride == 1, "Residual", "stride",
                f"1 without a projection (the identity shortcut has no stride), got {self.stride}")
        BatchNorm(self.norm_momentum, self.norm_eps)  # the projection's BatchNorm validates them

    @property
    def proj_bn(self) -> BatchNorm:
        """The projection's BatchNorm."""
        return BatchNorm(self.norm_momentum, self.norm_eps)

    def body_shapes(self, in_shape: Shape) -> list[tuple[Shape, Shape]]:
        """(input shape, output shape) of every body layer, per sample."""
        return chain_shapes(self.body, in_shape, "Residual body")

    def parts(self, in_shape: Shape) -> list[Part]:
        """Every sub-layer with its name prefix and input shape: body.<j>, then proj and proj_bn."""
        shapes = self.body_shapes(in_shape)
        parts: list[Part] = [(f"body.{j}", layer, i) for j, (layer, (i, _)) in enumerate(zip(self.body, shapes,
                                                                                            strict=True))]
        if self.projection:
            conv = Conv2D(shapes[-1][1][-1], 1, stride=self.stride, use_bias=False)
            parts += [("proj", conv, in_shape), ("proj_bn", self.proj_bn, conv.output_shape(in_shape))]
        return parts

    def output_shape(self, shape: Shape) -> Shape:
        out = self.body_shapes(shape)[-1][1]
        if self.projection:
            if len(shape) != 3 or len(out) != 3:
                raise SpecError(f"Residual: a projection shortcut needs (H, W, C) input and body output, got "
                                f"{shape} → {out}")
            shortcut = Conv2D(out[-1], 1, stride=self.stride).output_shape(shape)
        else:
            shortcut = shape
        if out != shortcut:
            how = f"projection stride {self.stride}" if self.projection else "identity"
            raise SpecError(f"Residual: body output {out} != shortcut output {shortcut} ({how}) for input {shape}")
        return out

    def _nested(self, in_shape: Shape, stateful: bool) -> dict[str, Shape]:
        out: dict[str, Shape] = {}
        for prefix, layer, shape in self.parts(in_shape):
            if stateful:
                owned = layer.state_shapes(shape) if isinstance(layer, Stateful) else {}
            else:
                owned = layer.param_shapes(shape)
            out.update({f"{prefix}.{local}": s for local, s in owned.items()})
        return out

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """body.<j>.<local> for each body layer's parameters; proj.kernel (1, 1, in, out), proj_bn.scale/bias (out,)."""
        return self._nested(in_shape, stateful=False)

    def state_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """The body's BatchNorm statistics (body.<j>.running_mean/var), proj_bn.running_mean/var (out,)."""
        return self._nested(in_shape, stateful=True)

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        return sum(layer.forward_flops(shape, layer.output_shape(shape)) for _, layer, shape in self.parts(in_shape))

    def without_dropout(self) -> Residual:
        return dataclasses.replace(self, body=tuple(layer.without_dropout() for layer in self.body))

    def to_fields(self) -> dict[str, Any]:
        fields = super().to_fields()
        fields["body"] = [layer_to_dict(layer) for layer in self.body]
        return fields

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Residual:
        return cls(**{**fields, "body": tuple(layer_from_dict(d) for d in fields["body"])})
