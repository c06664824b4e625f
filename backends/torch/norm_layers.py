"""torch modules of the neutral BatchNorm (suites/primitives/norm.py), in torch's channels-first layout.

torch's batch norm (aten/src/ATen/native/Normalization.cpp, batch_norm_cpu_update_stats_template; the CUDA and cuDNN
kernels alike) folds the UNBIASED batch variance var_sum / (n - 1) into running_var, where the neutral spec, Keras and
Flax fold the biased one var_sum / n. The modules here keep torch's own fused kernel (normalisation, gradient and
running mean untouched) and rescale only that update afterwards: with k = 1 - momentum, the kernel gives
folded = k·old + momentum·v·n/(n-1), and k·old + (folded - k·old)·(n-1)/n = k·old + momentum·v is the neutral update
(a few (C,) vector operations per training step).

On CPU a training step also hands the kernel a contiguous (NCHW) tensor: torch's channels-last CPU path collects the
batch statistics with float32 accumulation (measured on resnet_small's first BatchNorm, 32 × 32 × 32 values per
channel: 4e-4 absolute error in the normalised output, 5e-7 on the contiguous copy), and a convolution of a
one-channel image (ambiguous strides) hands its channels-last output down the whole network.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from suites import layers as L
from suites.layers import Shape


class _BiasedRunningVariance(nn.modules.batchnorm._BatchNorm):
    """A torch batch norm whose running variance takes the biased batch variance (the neutral convention)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.running_var is None or self.momentum is None:
            return super().forward(x)
        self._check_input_dim(x)
        if x.device.type == "cpu" and not x.is_contiguous():
            x = x.contiguous()  # channels-last statistics on CPU are float32-accumulated (module docstring)
        assert self.num_batches_tracked is not None
        self.num_batches_tracked.add_(1)
        # The kernel updates a copy of running_var: autograd saves it, so the buffer itself may change afterwards.
        folded = self.running_var.clone()
        y = F.batch_norm(x, self.running_mean, folded, self.weight, self.bias, True, self.momentum, self.eps)
        keep, n = 1.0 - self.momentum, x.numel() // x.shape[1]  # n: values per channel (batch × positions)
        with torch.no_grad():
            kept = self.running_var * keep
            self.running_var.copy_(kept + (folded - kept) * ((n - 1) / n))
        return y


class BatchNorm1d(_BiasedRunningVariance, nn.BatchNorm1d):
    """nn.BatchNorm1d on (N, C) or (N, C, L), biased running variance."""


class BatchNorm2d(_BiasedRunningVariance, nn.BatchNorm2d):
    """nn.BatchNorm2d on (N, C, H, W), biased running variance."""


def batch_norm(layer: L.BatchNorm, in_shape: Shape) -> nn.Module:
    """The torch batch norm for a per-sample (C,), (L, C) or (H, W, C) input (given channels-first, except (C,)):
    momentum is the neutral one (both are the new batch's weight), eps the spec's, weight/bias = scale/bias."""
    cls = BatchNorm2d if len(in_shape) == 3 else BatchNorm1d
    return cls(in_shape[-1], eps=layer.eps, momentum=layer.momentum)
