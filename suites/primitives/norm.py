"""Batch normalisation: trainable scale and bias plus non-trainable running statistics (layer state).

One neutral convention for every backend (docs/PARITY_CONVENTIONS.md checks each framework's own source):
- `momentum` is the weight of the NEW batch statistic: running ← (1 - momentum)·running + momentum·batch (torch's
  meaning; Keras and Flax take 1 - momentum, the weight of the old value).
- `eps` is added to the variance inside the square root; every backend passes it explicitly (torch and Flax default
  to 1e-5, Keras to 1e-3).
- Training mode normalises with the batch mean and the biased batch variance (÷n, n = values per channel) and folds
  the same biased variance into the running variance (as Keras and Flax do natively; torch folds in the unbiased
  one, and its backend rescales that update, backends/torch/norm_layers.py). Eval mode uses the running statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from suites.errors import SpecError
from suites.primitives.base import Primitive
from suites.primitives.checks import Shape, require


class Stateful(Primitive):
    """A layer that also owns non-trainable state (running statistics), named and shaped in the neutral layout
    beside its parameters but never given a gradient or an optimizer update."""

    def state_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """The non-trainable state this layer owns, by local name (suites.params)."""
        raise NotImplementedError(f"{type(self).__name__} must define state_shapes")


@dataclass(frozen=True)
class BatchNorm(Stateful):
    """Batch normalisation over the last (channel) axis of (C,), (L, C) or (H, W, C): statistics per channel over
    the batch and every other axis. FLOPs: 0 (element-wise work is not counted, suites/flops.py)."""

    momentum: float = 0.1
    eps: float = 1e-5
    kind: ClassVar[str] = "batch_norm"

    def __post_init__(self) -> None:
        number = (int, float)
        require(isinstance(self.momentum, number) and not isinstance(self.momentum, bool)
                and 0.0 < self.momentum < 1.0, "BatchNorm", "momentum",
                f"the new batch's weight in the running average, in (0, 1) (torch's 0.1 = Keras/Flax 0.9), "
                f"got {self.momentum!r}")
        require(isinstance(self.eps, number) and not isinstance(self.eps, bool) and self.eps > 0.0,
                "BatchNorm", "eps", f"a positive number, got {self.eps!r}")

    def output_shape(self, shape: Shape) -> Shape:
        if not 1 <= len(shape) <= 3:
            raise SpecError(f"BatchNorm: expects (C,), (L, C) or (H, W, C) per sample, got shape {shape}")
        return shape

    def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """scale (C,), bias (C,): trainable."""
        return {"scale": (in_shape[-1],), "bias": (in_shape[-1],)}

    def state_shapes(self, in_shape: Shape) -> dict[str, Shape]:
        """running_mean (C,), running_var (C,): not trainable, updated by every training step."""
        return {"running_mean": (in_shape[-1],), "running_var": (in_shape[-1],)}
