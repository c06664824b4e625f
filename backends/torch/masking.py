"""The padding mask in torch (suites/padding.py): computed once from the input ids and handed to the modules that read
it as torch's key-padding mask, `src_key_padding_mask` (bool (N, T), True = padding: ignored as a key)."""

from __future__ import annotations

import torch
from torch import nn

from suites.padding import PAD_ID


def padding_mask(ids: torch.Tensor) -> torch.Tensor:
    """(N, T) bool, True at padding: ids == PAD_ID, never at the first position."""
    positions = torch.arange(ids.shape[1], device=ids.device)
    return (ids == PAD_ID) & (positions > 0)


def as_float_mask(pad: torch.Tensor | None, dtype: torch.dtype) -> torch.Tensor | None:
    """A bool padding mask as the additive float form (-inf at padding, else 0), to pair with a float `src_mask` (torch
    deprecates mixing a bool key-padding mask with a float attention mask); None stays None."""
    if pad is None:
        return None
    return torch.zeros(pad.shape, dtype=dtype, device=pad.device).masked_fill(pad, float("-inf"))


class MaskedMeanPool(nn.Module):
    """The mean over the time axis `dim` of an (N, T, C) or (N, C, T) tensor, of the positions that are not padding."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, x: torch.Tensor, src_key_padding_mask: torch.Tensor) -> torch.Tensor:
        keep = (~src_key_padding_mask).to(x.dtype)
        keep = keep.unsqueeze(-1) if self.dim == 1 else keep.unsqueeze(1)
        return (x * keep).sum(self.dim) / keep.sum(self.dim)


def forward_padded(body: nn.Sequential, readers: set[int], ids: torch.Tensor) -> torch.Tensor:
    """The body's modules in order on a batch of input ids; the module at each index in `readers` also gets the
    batch's padding mask as `src_key_padding_mask` (nn.TransformerEncoderLayer's own argument)."""
    pad = padding_mask(ids)
    h = ids
    for i, module in enumerate(body):
        h = module(h, src_key_padding_mask=pad) if i in readers else module(h)
    return h
