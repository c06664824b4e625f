"""Layer normalisation, sinusoidal positions and the Transformer encoder layer: shapes, parameters and FLOPs."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import ClassVar

from suites.errors import SpecError
from suites.primitives.base import Primitive
from suites.primitives.checks import Shape, positive, rank, require, within_length


@dataclass(frozen=True)
class LayerNorm(Primitive):
    """Layer normalisation over the last axis with learned scale and bias."""

    eps: float = 1e-5
    kind: ClassVar[str] = "layernorm"

    def __post_init__(self) -> None:
        require(isinstance(self.eps, float) and self.eps > 0, "LayerNorm", "eps",
                f"a positive float, got {self.eps!r}")

    def output_shape(self, shape: Shape) -> Shape:
        return shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """scale (D,), bias (D,); element-wise, so no FLOPs."""
        return {"scale": (in_shape[-1],), "bias": (in_shape[-1],)}


@dataclass(frozen=True)
class PositionalEncoding(Primitive):
    """Adds the fixed sinusoidal encoding (sin on even, cos on odd features); optionally scales x by sqrt(D) first."""

    max_len: int
    scale_input: bool = True
    kind: ClassVar[str] = "positional_encoding"

    def __post_init__(self) -> None:
        positive("PositionalEncoding", "max_len", self.max_len)

    def output_shape(self, shape: Shape) -> Shape:
        within_length("PositionalEncoding", shape, self.max_len)
        if shape[1] % 2:
            raise SpecError(f"PositionalEncoding: feature size {shape[1]} must be even")
        return shape


@dataclass(frozen=True)
class TransformerEncoder(Primitive):
    """One encoder layer: multi-head self-attention and a feed-forward block, each with residual and LayerNorm.

    Post-norm (norm_first=False): x = LN1(x + Drop(MHA(x))); x = LN2(x + Drop(FF(x))).
    Pre-norm  (norm_first=True):  x = x + Drop(MHA(LN1(x)));  x = x + Drop(FF(LN2(x))).
    FF(x) = W2 · Drop(act(W1 · x + b1)) + b2. Attention probabilities get dropout at the same rate.
    causal=True: position t attends to positions ≤ t only (a GPT-style decoder block).
    mask_padding=True: keys at padding positions (input id PAD_ID, suites/padding.py) get no attention weight from any
    query in any head (BERT's attention mask), together with the causal mask if both are set; queries at padding
    positions are still computed. The model's input must be those ids (ModelSpec checks it).
    """

    d_model: int
    num_heads: int
    ff_dim: int
    dropout: float = 0.1
    activation: str = "relu"
    norm_first: bool = False
    layer_norm_eps: float = 1e-5
    causal: bool = False
    mask_padding: bool = False
    kind: ClassVar[str] = "transformer_encoder"

    def __post_init__(self) -> None:
        positive("TransformerEncoder", "d_model", self.d_model)
        positive("TransformerEncoder", "num_heads", self.num_heads)
        positive("TransformerEncoder", "ff_dim", self.ff_dim)
        require(self.d_model % self.num_heads == 0, "TransformerEncoder", "num_heads",
                f"a divisor of d_model={self.d_model}, got {self.num_heads}")
        require(0.0 <= self.dropout < 1.0, "TransformerEncoder", "dropout", f"in [0, 1), got {self.dropout!r}")
        require(self.activation in ("relu", "gelu", "gelu_tanh"), "TransformerEncoder", "activation",
                f"'relu', 'gelu' or 'gelu_tanh', got {self.activation!r}")
        require(isinstance(self.layer_norm_eps, float) and self.layer_norm_eps > 0, "TransformerEncoder",
                "layer_norm_eps", f"a positive float, got {self.layer_norm_eps!r}")
        require(isinstance(self.causal, bool), "TransformerEncoder", "causal", f"True or False, got {self.causal!r}")
        require(isinstance(self.mask_padding, bool), "TransformerEncoder", "mask_padding",
                f"True or False, got {self.mask_padding!r}")

    @property
    def head_dim(self) -> int:
        return self.d_model // self.num_heads

    def output_shape(self, shape: Shape) -> Shape:
        rank("TransformerEncoder", shape, 2, "(T, D)")
        if shape[1] != self.d_model:
            raise SpecError(f"TransformerEncoder: input feature size {shape[1]} != d_model {self.d_model}")
        return shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """attn.{query,key,value}.kernel (D, heads, head_dim) and .bias (heads, head_dim), attn.out.kernel
        (heads, head_dim, D) and .bias (D,), norm1/norm2.{scale,bias} (D,), ff1 (D, F) + (F,), ff2 (F, D) + (D,)."""
        d, heads, hd, f = self.d_model, self.num_heads, self.head_dim, self.ff_dim
        shapes: dict[str, Shape] = {}
        for proj in ("query", "key", "value"):
            shapes[f"attn.{proj}.kernel"] = (d, heads, hd)
            shapes[f"attn.{proj}.bias"] = (heads, hd)
        shapes.update({"attn.out.kernel": (heads, hd, d), "attn.out.bias": (d,),
                       "norm1.scale": (d,), "norm1.bias": (d,),
                       "ff1.kernel": (d, f), "ff1.bias": (f,), "ff2.kernel": (f, d), "ff2.bias": (d,),
                       "norm2.scale": (d,), "norm2.bias": (d,)})
        return shapes

    def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
        t, d, f = in_shape[0], self.d_model, self.ff_dim
        projections = 2 * t * d * d * 4  # q, k, v, out
        attention = 2 * t * t * d * 2  # scores and weighted values, all heads (masked too: the kernels compute them)
        return projections + attention + 2 * t * d * f * 2

    def without_dropout(self) -> TransformerEncoder:
        return dataclasses.replace(self, dropout=0.0)
