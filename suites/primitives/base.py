"""What every neutral layer answers: its JSON tag, output shape, parameters, forward FLOPs and a dropout-free copy."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, ClassVar, Self

from suites.errors import SpecError
from suites.primitives.checks import Shape

LAYER_TYPES: dict[str, type[Primitive]] = {}
"""Every primitive by its JSON tag, filled as each subclass with a `kind` is defined."""

QUIET_DEFAULTS: dict[str, object] = {"mask_padding": False}
"""Layer fields written to JSON only when they differ from these values: fields added after results were stored, so
a spec that does not use them keeps its hash (and an older reader its layer arguments). A class adds its own in
`quiet_defaults`."""


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

    quiet_defaults: ClassVar[dict[str, object]] = {}
    """This class's fields written to JSON only when they differ from these values (see QUIET_DEFAULTS)."""

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

    def to_fields(self) -> dict[str, Any]:
        """The layer's JSON fields (no tag); quiet fields at their default are left out."""
        quiet = {**QUIET_DEFAULTS, **self.quiet_defaults}
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)  # type: ignore[arg-type]
                if f.name not in quiet or getattr(self, f.name) != quiet[f.name]}

    @classmethod
    def from_fields(cls, fields: dict[str, Any]) -> Self:
        """The layer from its JSON fields (to_fields' inverse)."""
        return cls(**fields)


def chain_shapes(layers: Sequence[Primitive], shape: Shape, where: str) -> list[tuple[Shape, Shape]]:
    """(input shape, output shape) of each layer applied in order to a per-sample `shape`; a layer's SpecError is
    raised again as "<where>[<i>] <its message>"."""
    shapes = []
    for i, layer in enumerate(layers):
        try:
            out = layer.output_shape(shape)
        except SpecError as exc:
            raise SpecError(f"{where}[{i}] {exc}") from None
        shapes.append((shape, out))
        shape = out
    return shapes


def layer_to_dict(layer: Primitive) -> dict[str, Any]:
    """A layer as JSON: its tag under "type" and its fields."""
    return {"type": layer.kind, **layer.to_fields()}


def layer_from_dict(data: dict[str, Any]) -> Primitive:
    """The layer a layer_to_dict dict describes (SpecError for an unknown tag)."""
    fields = dict(data)
    kind = fields.pop("type", None)
    if kind not in LAYER_TYPES:
        raise SpecError(f"layer.type: must be one of {', '.join(LAYER_TYPES)}, got {kind!r}")
    return LAYER_TYPES[kind].from_fields(fields)
