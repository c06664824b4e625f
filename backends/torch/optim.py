"""The optimizer and loss of a neutral task, in torch.optim / torch.nn.functional form, every constant from the spec."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from suites.spec import OptimizerSpec

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""loss(outputs, labels) → the batch's mean loss."""


def make_optimizer(params: list[torch.nn.Parameter], spec: OptimizerSpec) -> torch.optim.Optimizer:
    """SGD (momentum, no nesterov, no decay) or Adam with the spec's constants, fused kernels where available."""
    if spec.name == "sgd":
        def build(**impl: bool) -> torch.optim.Optimizer:
            return torch.optim.SGD(params, lr=spec.learning_rate, momentum=spec.momentum, dampening=0.0,
                                   weight_decay=0.0, nesterov=False, **impl)
    else:
        def build(**impl: bool) -> torch.optim.Optimizer:
            return torch.optim.Adam(params, lr=spec.learning_rate, betas=(spec.beta1, spec.beta2), eps=spec.eps,
                                    weight_decay=0.0, amsgrad=False, **impl)
    try:
        return build(fused=True)
    except (RuntimeError, ValueError):
        return build(foreach=True)


def _cross_entropy(outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean softmax cross-entropy over the last axis, averaged over every label (one per sample or per position):
    F.cross_entropy takes classes on axis 1, so a (N, T, C) output is flattened to (N·T, C) first."""
    if outputs.dim() > 2:
        return F.cross_entropy(outputs.reshape(-1, outputs.shape[-1]), labels.reshape(-1))
    return F.cross_entropy(outputs, labels)


def make_loss(name: str) -> Loss:
    """Mean softmax cross-entropy on logits with integer labels ("cross_entropy"), else mean squared error."""
    return _cross_entropy if name == "cross_entropy" else F.mse_loss


def optimizer_impl(optimizer: torch.optim.Optimizer | None) -> str | None:
    """Which torch.optim implementation runs: "fused", "foreach" or "for-loop" (None before build)."""
    if optimizer is None:
        return None
    group = optimizer.param_groups[0]
    return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "for-loop"
