"""The torch module of the neutral Residual (suites/primitives/residual.py): body(x) + shortcut(x) in torch's
channels-first layout, the body's layers built by the same builders as the model's (backends/torch/layers.py).

Each sub-layer's weight-owning module is in `owners` under its neutral prefix (body.<j>, proj, proj_bn), so
weights.py maps the block's nested weights with the sub-layers' own weight maps (leaf_owners).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import torch
from torch import nn

from suites import layers as L
from suites.layers import Shape
from suites.params import layer_param_shapes

Build = Callable[[L.Layer, Shape, bool], list[nn.Module]]
"""build_layer(layer, in_shape, channels_first) → its torch modules, the weights' owner first."""
Layout = Callable[[str], bool | None]
"""A kind's layout: True channels-first, False channels-last, None either."""


class MoveChannels(nn.Module):
    """Moves the channel axis between last (neutral) and position 1 (torch conv layout)."""

    def __init__(self, to_first: bool) -> None:
        super().__init__()
        self.to_first = to_first

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.movedim(-1, 1) if self.to_first else x.movedim(1, -1)


class ResidualBlock(nn.Module):
    """body(x) + shortcut(x) on an input in layout `channels_first` (channels-first for images and sequences),
    output in the same layout; the shortcut is x, or the projection's 1×1 conv (no bias) and BatchNorm."""

    def __init__(self, layer: L.Residual, in_shape: Shape, channels_first: bool, build: Build,
                 layout: Layout) -> None:
        super().__init__()
        self.owners: dict[str, nn.Module] = {}
        mods: list[nn.Module] = []
        first = channels_first
        parts = {prefix: (sub, shape) for prefix, sub, shape in layer.parts(in_shape)}
        for j, (sub, (shape, out)) in enumerate(zip(layer.body, layer.body_shapes(in_shape), strict=True)):
            wants = layout(sub.kind)
            if len(shape) >= 2 and wants is not None and wants != first:
                mods.append(MoveChannels(to_first=wants))
                first = wants
            built = build(sub, shape, first)
            if built and layer_param_shapes(sub, shape):
                self.owners[f"body.{j}"] = built[0]
            mods.extend(built)
            if len(out) < 2:
                first = False
        if len(in_shape) >= 2 and first != channels_first:
            mods.append(MoveChannels(to_first=channels_first))
        self.body = nn.Sequential(*mods)
        self.shortcut = nn.Sequential()
        if layer.projection:  # (H, W, C) input, channels-first here
            for prefix in ("proj", "proj_bn"):
                sub, shape = parts[prefix]
                built = build(sub, shape, True)
                self.owners[prefix] = built[0]
                self.shortcut.extend(built)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + self.shortcut(x)


def leaf_owners(layer: L.Layer, owner: nn.Module, in_shape: Shape,
                name: str) -> Iterator[tuple[str, L.Layer, nn.Module, Shape]]:
    """(neutral name prefix, layer, module owning its weights, input shape) of every weight-owning layer at or
    inside `layer` (a Residual's sub-layers, recursively, under "<name>.<prefix>")."""
    if not isinstance(owner, ResidualBlock):
        yield name, layer, owner, in_shape
        return
    for prefix, sub, shape in layer.parts(in_shape):
        if prefix in owner.owners:
            yield from leaf_owners(sub, owner.owners[prefix], shape, f"{name}.{prefix}")
