"""FLOPs per sample from the spec alone: 2 per multiply-add of every matmul and convolution.

Element-wise work (activations, softmax, normalisation, pooling) is not counted, as in the MFU convention of
PaLM and MLPerf. A training step counts each matmul three times (forward, weight gradient, input gradient), except
that a Dense or convolution that no trainable layer precedes needs no input gradient, so it counts twice — what
autograd and XLA really compute (torch's FLOP counter agrees, tests/test_flops.py). An LSTM always counts three times
(its recurrence needs the state gradient).
"""

from __future__ import annotations

from suites.layers import Layer, Shape
from suites.params import layer_param_shapes
from suites.spec import ModelSpec

TRAIN_MULTIPLIER = 3
FIRST_LAYER_MULTIPLIER = 2  # forward + weight gradient; nothing trainable below it needs the input gradient


def layer_forward_flops(layer: Layer, in_shape: Shape, out_shape: Shape) -> int:
    """Forward FLOPs of one layer for one sample (the layer's own forward_flops)."""
    return layer.forward_flops(in_shape, out_shape)


def forward_flops(model: ModelSpec) -> int:
    """Forward FLOPs per sample."""
    return sum(layer_forward_flops(layer, i, o) for layer, (i, o) in zip(model.layers, model.layer_shapes(),
                                                                         strict=True))


def train_flops(model: ModelSpec) -> int:
    """FLOPs of one training step per sample: 3x each layer's forward, 2x for a first trainable Dense/convolution.

    "First" means no layer with parameters precedes it; which kinds qualify is each class's bottom_needs_no_input_grad.
    """
    total, trainable_below = 0, False
    for layer, (i, o) in zip(model.layers, model.layer_shapes(), strict=True):
        first = not trainable_below and layer.bottom_needs_no_input_grad
        total += (FIRST_LAYER_MULTIPLIER if first else TRAIN_MULTIPLIER) * layer_forward_flops(layer, i, o)
        trainable_below = trainable_below or bool(layer_param_shapes(layer, i))
    return total
