"""How much memory one training step needs, from the spec alone: weights, gradients, optimizer state, the
activations kept for the backward pass and the input batch, in bytes.

The harness compares it with the memory a cell may use before starting its process (harness/memory_gate.py), and
every record keeps it next to the measured peak. What is counted, per precision:

- weights: 4 bytes per parameter and per non-trainable state scalar (BatchNorm's running statistics); gradients: 4
  bytes per parameter (float32 in every precision: bf16 mixed precision keeps float32 weights, gradients and
  optimizer state);
- optimizer state: SGD 0 (1x the parameters with momentum > 0), Adam 2x (first and second moments);
- activations: the tensors each layer's backward reads, x batch, at 4 bytes (fp32, tf32) or 2 (bf16):
  a layer's output, except views (Flatten, Tokens: 0) and two kinds whose backward reads more than their output:
  TransformerEncoder  8·T·D (q, k, v, the attention context, two residual sums, two norm outputs) + 2·T·F (the
                      feed-forward pre-activation and activation) + H·T·T (attention probabilities); with dropout > 0
                      another H·T·T and T·F (the dropped copies the next matmul reads)
  LSTM                7·H per step and stacked layer (gates i, f, g, o, cell state, tanh of it, hidden state)
  Residual            what each sub-layer (body, projection conv and BatchNorm) keeps, by these rules, plus the sum
- input batch: the batch's features (4 bytes: float32 or int32 ids) and labels (4 bytes each; a regression target
  has the output's size).

Not counted: the framework itself (imports, compiled code, allocator caches), the dataset held in memory, the
gradients of activations in flight during the backward pass, and workspace of individual kernels.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from suites.layers import LSTM, Flatten, Layer, Residual, Shape, Tokens, TransformerEncoder
from suites.params import param_count, state_count
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec

PARAM_BYTES = 4
"""Bytes per weight, gradient and optimizer-state scalar: float32 in every precision."""
ACTIVATION_BYTES = {"fp32": 4, "tf32": 4, "bf16": 2}
"""Bytes per saved activation by precision (bf16 mixed precision computes, hence keeps, bfloat16 activations)."""
INPUT_BYTES = 4
"""Bytes per input scalar (float32 features, int32 token ids) and per label (int32 class, float32 target)."""
LSTM_SAVED_PER_UNIT = 7
"""Per LSTM unit, step and stacked layer: gates i, f, g, o, the cell state, its tanh and the hidden state."""
VIEWS = (Flatten, Tokens)
"""Layers whose output is a reshaped view of their input: no new memory."""
_GIB, _MIB, _KIB = 2**30, 2**20, 2**10


def human_bytes(value_bytes: float) -> str:
    """A byte count as '41.2 GiB', '3.5 MiB', '12.0 KiB' or '512 B'."""
    for unit, size in (("GiB", _GIB), ("MiB", _MIB), ("KiB", _KIB)):
        if value_bytes >= size:
            return f"{value_bytes / size:.1f} {unit}"
    return f"{value_bytes:.0f} B"


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training step needs, by part, at `batch_size` and `precision`."""

    weights_bytes: int
    """Trainable parameters and non-trainable state (running statistics)."""
    gradients_bytes: int
    optimizer_state_bytes: int
    activations_bytes: int
    """Everything the backward pass reads, attention probabilities included."""
    attention_scores_bytes: int
    """The part of activations_bytes that is attention probabilities (heads x L x L per encoder layer)."""
    input_batch_bytes: int
    batch_size: int
    precision: str

    @property
    def total_bytes(self) -> int:
        """Weights + gradients + optimizer state + activations + input batch."""
        return (self.weights_bytes + self.gradients_bytes + self.optimizer_state_bytes + self.activations_bytes
                + self.input_batch_bytes)

    def to_dict(self) -> dict[str, int | str]:
        """Every part and the total, as records store them."""
        return {**asdict(self), "total_bytes": self.total_bytes}

    def describe(self) -> str:
        """'41.2 GiB (weights 1.0 GiB, gradients 1.0 GiB, ...)': the total and its parts."""
        parts = [("weights", self.weights_bytes), ("gradients", self.gradients_bytes),
                 ("optimizer state", self.optimizer_state_bytes), ("activations", self.activations_bytes),
                 ("input batch", self.input_batch_bytes)]
        text = ", ".join(f"{name} {human_bytes(value)}" for name, value in parts)
        if self.attention_scores_bytes:
            text += f"; attention scores {human_bytes(self.attention_scores_bytes)} of the activations"
        return f"{human_bytes(self.total_bytes)} ({text}) at batch {self.batch_size}, {self.precision}"


def optimizer_state_factor(optimizer: OptimizerSpec) -> int:
    """Optimizer-state scalars per parameter: SGD 0 (1 with momentum), Adam 2 (first and second moments)."""
    if optimizer.name == "adam":
        return 2
    if optimizer.name == "sgd":
        return 1 if optimizer.momentum > 0 else 0
    raise ValueError(f"no memory rule for optimizer {optimizer.name!r}; add it to suites/memory.py")


def saved_elements(layer: Layer, in_shape: Shape, out_shape: Shape) -> tuple[int, int]:
    """(activation scalars the layer's backward reads, the attention-probability part of them), per sample."""
    if isinstance(layer, VIEWS):
        return 0, 0
    if isinstance(layer, TransformerEncoder):
        t, d, f, h = in_shape[0], layer.d_model, layer.ff_dim, layer.num_heads
        copies = 2 if layer.dropout > 0 else 1
        scores = copies * h * t * t
        return 8 * t * d + (1 + copies) * t * f + scores, scores
    if isinstance(layer, LSTM):
        return in_shape[0] * layer.num_layers * LSTM_SAVED_PER_UNIT * layer.units, 0
    if isinstance(layer, Residual):
        parts = [saved_elements(sub, shape, sub.output_shape(shape)) for _, sub, shape in layer.parts(in_shape)]
        return sum(s for s, _ in parts) + math.prod(out_shape), sum(a for _, a in parts)
    return math.prod(out_shape), 0


def batch_rows(task: TaskSpec, train_rows: int | None = None) -> int:
    """The training batch: task.batch_size, capped at the training rows when known, else at what task.train_limit
    leaves after the validation split (Dataset.with_validation's rule); a dataset smaller than that makes it less."""
    cap = train_rows
    if cap is None and task.train_limit is not None:
        n = task.train_limit
        cap = n - min(n - 1, max(1, round(task.validation_fraction * n))) if n > 1 else n
    return min(task.batch_size, cap) if cap else task.batch_size


def estimate(model: ModelSpec, task: TaskSpec, precision: str, train_rows: int | None = None) -> MemoryEstimate:
    """The memory one training step of `model` under `task` needs at `precision` (fp32, tf32, bf16)."""
    if precision not in ACTIVATION_BYTES:
        raise ValueError(f"precision: must be one of {', '.join(ACTIVATION_BYTES)}, got {precision!r}")
    batch = batch_rows(task, train_rows)
    params = param_count(model)
    saved = [saved_elements(layer, i, o) for layer, (i, o) in zip(model.layers, model.layer_shapes(), strict=True)]
    act = ACTIVATION_BYTES[precision] * batch
    labels = 1 if task.is_classification else math.prod(model.output_shape)
    return MemoryEstimate(
        weights_bytes=PARAM_BYTES * (params + state_count(model)), gradients_bytes=PARAM_BYTES * params,
        optimizer_state_bytes=PARAM_BYTES * params * optimizer_state_factor(task.optimizer),
        activations_bytes=act * sum(s for s, _ in saved), attention_scores_bytes=act * sum(a for _, a in saved),
        input_batch_bytes=INPUT_BYTES * batch * (math.prod(model.input_shape) + labels),
        batch_size=batch, precision=precision)
