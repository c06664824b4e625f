"""torch modules of the token-sequence layers (ViT, GPT): sinusoidal and learned positions, class token, take token."""

from __future__ import annotations

import math

import torch
from torch import nn

from suites import layers as L
from suites.reference import sinusoidal_table


class SinusoidalPositions(nn.Module):
    """x * sqrt(D) (optional) + the fixed sinusoidal table, on (N, T, D)."""

    def __init__(self, spec: L.PositionalEncoding, dim: int) -> None:
        super().__init__()
        self.scale = math.sqrt(dim) if spec.scale_input else 1.0
        self.register_buffer("pe", torch.from_numpy(sinusoidal_table(spec.max_len, dim)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale != 1.0:
            x = x * self.scale
        return x + self.pe[: x.shape[1]]


class ClassToken(nn.Module):
    """Prepends the learned `token` (D,) to every (N, T, D) sequence: (N, T + 1, D)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.token = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        token = self.token.to(x.dtype).expand(x.shape[0], 1, -1)
        return torch.cat([token, x], dim=1)


class LearnedPositions(nn.Module):
    """Adds the learned `table[:T]` (max_len, D) to an (N, T, D) sequence."""

    def __init__(self, max_len: int, dim: int) -> None:
        super().__init__()
        self.table = nn.Parameter(torch.zeros(max_len, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table[: x.shape[1]]


class TakeToken(nn.Module):
    """(N, T, D) → (N, D): the token at `index`."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, self.index]


class TiedHead(nn.Module):
    """logits = F.linear(x, source.weight, bias): the source nn.Embedding's table as the kernel, shared (GPT-2's
    lm_head.weight = wte.weight). The source is held outside the module tree (`tie`), so this module's parameters are
    its own bias only and model.parameters() lists the table once, under the embedding."""

    def __init__(self, spec: L.TiedHead) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(spec.vocab_size)) if spec.use_bias else None
        self._source: list[nn.Embedding] = []

    def tie(self, source: nn.Embedding) -> None:
        """Use `source`'s table (its weight Parameter itself, not a copy)."""
        self._source[:] = [source]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self._source[0].weight, self.bias)
