"""FLOPs per sample from the spec alone: 2 per multiply-add of every matmul and convolution.

Element-wise work (activations, softmax, normalisation, pooling) is not counted, as in the MFU convention of
PaLM and MLPerf. A training step counts each matmul three times (forward, weight gradient, input gradient), except
that a Dense or convolution that no trainable layer precedes needs no input gradient, so it counts twice — what
autograd and XLA really compute (torch's FLOP counter agrees, tests/test_flops.py). An LSTM always counts three times
(its recurrence needs the state gradient).
"""

from __future__ import annotations

import math

from suites.layers import LSTM, Conv1D, Conv2D, Dense, Layer, Shape, TransformerEncoder
from suites.params import layer_param_shapes
from suites.spec import ModelSpec

TRAIN_MULTIPLIER = 3
FIRST_LAYER_MULTIPLIER = 2  # forward + weight gradient; nothing trainable below it needs the input gradient


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
    """FLOPs of one training step per sample: 3x each layer's forward, 2x for a first trainable Dense/convolution."""
    total, trainable_below = 0, False
    for layer, (i, o) in zip(model.layers, model.layer_shapes(), strict=True):
        first = not trainable_below and isinstance(layer, Dense | Conv1D | Conv2D)
        total += (FIRST_LAYER_MULTIPLIER if first else TRAIN_MULTIPLIER) * layer_forward_flops(layer, i, o)
        trainable_below = trainable_below or bool(layer_param_shapes(layer, i))
    return total
