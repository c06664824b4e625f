"""FLOPs per sample from the spec alone: 2 per multiply-add of every matmul and convolution.

Element-wise work (activations, softmax, normalisation, pooling) is not counted, as in the MFU convention of
PaLM and MLPerf; a training step counts 3x the forward pass (forward + two backward matmuls per forward matmul).
"""

from __future__ import annotations

import math

from suites.layers import LSTM, Conv1D, Conv2D, Dense, Layer, Shape, TransformerEncoder
from suites.spec import ModelSpec

TRAIN_MULTIPLIER = 3


def layer_forward_flops(layer: Layer, in_shape: Shape, out_shape: Shape) -> int:
    """Forward FLOPs of one layer for one sample."""
    if isinstance(layer, Dense):
        rows = math.prod(in_shape[:-1])
        return 2 * rows * in_shape[-1] * layer.units
    if isinstance(layer, Conv2D):
        oh, ow, cout = out_shape
        return 2 * oh * ow * cout * layer.kernel_size**2 * in_shape[-1]
    if isinstance(layer, Conv1D):
        t, cout = out_shape
        return 2 * t * cout * layer.kernel_size * in_shape[-1]
    if isinstance(layer, LSTM):
        steps, width, h, total = in_shape[0], in_shape[-1], layer.units, 0
        for _ in range(layer.num_layers):
            total += 2 * steps * (width + h) * 4 * h
            width = h
        return total
    if isinstance(layer, TransformerEncoder):
        t, d, f = in_shape[0], layer.d_model, layer.ff_dim
        projections = 2 * t * d * d * 4  # q, k, v, out
        attention = 2 * t * t * d * 2  # scores and weighted values, all heads
        return projections + attention + 2 * t * d * f * 2
    return 0


def forward_flops(model: ModelSpec) -> int:
    """Forward FLOPs per sample."""
    return sum(layer_forward_flops(layer, i, o) for layer, (i, o) in zip(model.layers, model.layer_shapes(),
                                                                         strict=True))


def train_flops(model: ModelSpec) -> int:
    """FLOPs of one training step per sample (3x forward)."""
    return TRAIN_MULTIPLIER * forward_flops(model)
