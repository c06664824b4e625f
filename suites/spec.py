"""The neutral vocabulary above layers: models, optimizers, tasks, budgets and workloads (frozen, validated, JSON)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from suites.errors import SpecError
from suites.layers import LAYER_TYPES, Layer, Shape
from suites.padding import check_padding_masks
from suites.primitives.base import chain_shapes, layer_from_dict, layer_to_dict
from suites.primitives.sequence import check_tied_heads

INPUT_DTYPES = ("float32", "int32")
LOSSES = ("cross_entropy", "mse")
OPTIMIZERS = ("sgd", "adam")
CLASSIFICATION_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro")
SEQUENCE_METRICS = ("perplexity",)
"""Metrics of a classifier with one label per position (a language model): exp(mean cross-entropy)."""
REGRESSION_METRICS = ("mse", "mae", "r2")
METRICS = CLASSIFICATION_METRICS + SEQUENCE_METRICS + REGRESSION_METRICS
BUDGETS = ("smoke", "standard")


def _fail(owner: str, field_name: str, allowed: str) -> None:
    raise SpecError(f"{owner}.{field_name}: must be {allowed}")


@dataclass(frozen=True)
class ModelSpec:
    """A model: per-sample input shape (channels-last), input dtype and an ordered stack of layers."""

    name: str
    input_shape: Shape
    layers: tuple[Layer, ...]
    input_dtype: str = "float32"

    def __post_init__(self) -> None:
        if not self.name:
            _fail("ModelSpec", "name", "a non-empty string")
        if not self.input_shape or any(not isinstance(d, int) or d < 1 for d in self.input_shape):
            _fail("ModelSpec", "input_shape", f"a tuple of positive ints, got {self.input_shape!r}")
        if self.input_dtype not in INPUT_DTYPES:
            _fail("ModelSpec", "input_dtype", f"one of {INPUT_DTYPES}, got {self.input_dtype!r}")
        if not self.layers:
            _fail("ModelSpec", "layers", "a non-empty tuple of layer specs")
        for i, layer in enumerate(self.layers):
            if type(layer) not in LAYER_TYPES.values():
                _fail("ModelSpec", f"layers[{i}]", f"a layer spec from suites.layers, got {type(layer).__name__}")
        check_tied_heads(self.layers, self.layer_shapes())  # shape inference validates the stack
        check_padding_masks(self)

    def layer_shapes(self) -> list[tuple[Shape, Shape]]:
        """(input shape, output shape) of every layer, per sample."""
        return chain_shapes(self.layers, tuple(self.input_shape), f"ModelSpec {self.name!r} layers")

    @property
    def output_shape(self) -> Shape:
        return self.layer_shapes()[-1][1]

    def without_dropout(self) -> ModelSpec:
        """The same function with every dropout rate set to 0 (for element-wise parity of training steps)."""
        return dataclasses.replace(self, layers=tuple(layer.without_dropout() for layer in self.layers))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input_shape": list(self.input_shape), "input_dtype": self.input_dtype,
                "layers": [layer_to_dict(layer) for layer in self.layers]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelSpec:
        return cls(name=data["name"], input_shape=tuple(data["input_shape"]), input_dtype=data["input_dtype"],
                   layers=tuple(layer_from_dict(d) for d in data["layers"]))


@dataclass(frozen=True)
class OptimizerSpec:
    """An optimizer with every constant explicit (frameworks' defaults differ, e.g. Adam eps)."""

    name: str
    learning_rate: float
    momentum: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.name not in OPTIMIZERS:
            _fail("OptimizerSpec", "name", f"one of {OPTIMIZERS}, got {self.name!r}")
        if not self.learning_rate > 0:
            _fail("OptimizerSpec", "learning_rate", f"> 0, got {self.learning_rate!r}")
        if not 0 <= self.momentum < 1:
            _fail("OptimizerSpec", "momentum", f"in [0, 1), got {self.momentum!r}")
        if not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            _fail("OptimizerSpec", "beta1/beta2", "in [0, 1)")
        if not self.eps > 0:
            _fail("OptimizerSpec", "eps", f"> 0, got {self.eps!r}")


@dataclass(frozen=True)
class QualityTarget:
    """A quality level whose first crossing during training gives time-to-target."""

    metric: str
    value: float

    def __post_init__(self) -> None:
        if self.metric not in METRICS:
            _fail("QualityTarget", "metric", f"one of {', '.join(METRICS)}, got {self.metric!r}")


@dataclass(frozen=True)
class TaskSpec:
    """How a model is trained and judged: data, split, loss, optimizer, batch, epochs, seed and metrics.

    A batch_size at or above the training-set size means full-batch gradient descent. `validation_fraction` of the
    (limited) training rows are held out, seeded: per-epoch curves and time-to-target are judged on them, the test
    split only once, after training.
    """

    dataset: str
    loss: str
    optimizer: OptimizerSpec
    batch_size: int
    epochs: int
    seed: int = 0
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    train_limit: int | None = None
    eval_limit: int | None = None
    metrics: tuple[str, ...] = CLASSIFICATION_METRICS
    target: QualityTarget | None = None

    def __post_init__(self) -> None:
        if not self.dataset:
            _fail("TaskSpec", "dataset", "a dataset name (see `run_bench.py list`)")
        if self.loss not in LOSSES:
            _fail("TaskSpec", "loss", f"one of {LOSSES}, got {self.loss!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                _fail("TaskSpec", name, f"a positive integer, got {value!r}")
        if not 0 < self.test_fraction < 1:
            _fail("TaskSpec", "test_fraction", f"in (0, 1), got {self.test_fraction!r}")
        if not 0 < self.validation_fraction < 1:
            _fail("TaskSpec", "validation_fraction", f"in (0, 1), got {self.validation_fraction!r}")
        for name in ("train_limit", "eval_limit"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                _fail("TaskSpec", name, f"None or a positive integer, got {value!r}")
        allowed = CLASSIFICATION_METRICS + SEQUENCE_METRICS if self.loss == "cross_entropy" else REGRESSION_METRICS
        bad = [m for m in self.metrics if m not in allowed]
        if bad or not self.metrics:
            _fail("TaskSpec", "metrics", f"a non-empty subset of {allowed} for loss {self.loss!r}, got {bad}")

    @property
    def is_classification(self) -> bool:
        return self.loss == "cross_entropy"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TaskSpec:
        fields = dict(data)
        fields["optimizer"] = OptimizerSpec(**fields["optimizer"])
        fields["metrics"] = tuple(fields["metrics"])
        if fields.get("target") is not None:
            fields["target"] = QualityTarget(**fields["target"])
        return cls(**fields)


@dataclass(frozen=True)
class Budget:
    """How much of a task a named budget runs: epochs and optional sample limits."""

    epochs: int
    train_limit: int | None = None
    eval_limit: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.epochs, int) or self.epochs < 1:
            _fail("Budget", "epochs", f"a positive integer, got {self.epochs!r}")


@dataclass(frozen=True)
class Workload:
    """A named model + task from a source article, with a smoke and a standard budget.

    `chaotic_training`, when set, says (with the measurement) why training from the parity weights is chaotic: parity
    then judges the first step and reports the multi-step figures without judging them (harness/parity_chaos.py).
    `online` marks a workload whose data needs the network (downloaded once, then cached): it stays out of the
    offline suites' "all". `sweep` names the sweep a workload is one size of ("scaling"): it stays out of "all" too
    and runs in that sweep's suite.
    A classifier has one output axis (classes), or two (positions, classes) for one label per position: a language
    model's next-token targets.
    """

    name: str
    description: str
    source: str
    model: ModelSpec
    task: TaskSpec
    smoke: Budget
    standard: Budget
    notes: str = ""
    tags: tuple[str, ...] = field(default=())
    online: bool = False
    sweep: str | None = None
    chaotic_training: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            _fail("Workload", "name", f"an identifier, got {self.name!r}")
        if not isinstance(self.chaotic_training, str):
            _fail("Workload", "chaotic_training", f"a string (why, measured), got {self.chaotic_training!r}")
        if not isinstance(self.online, bool):
            _fail("Workload", "online", f"True or False, got {self.online!r}")
        if self.sweep is not None and not (isinstance(self.sweep, str) and self.sweep.isidentifier()):
            _fail("Workload", "sweep", f"None or an identifier, got {self.sweep!r}")
        out = self.model.output_shape
        if self.task.is_classification and len(out) not in (1, 2):
            _fail("Workload", "model", f"a classifier with one output axis (classes) or two (positions, classes), "
                                       f"got output shape {out}")
        if SEQUENCE_METRICS[0] in self.task.metrics and len(out) != 2:
            _fail("Workload", "task.metrics", f"'perplexity' only for one label per position (output (T, classes)), "
                                              f"got output shape {out}")

    def task_for(self, budget: str, *, epochs: int | None = None, batch_size: int | None = None,
                 learning_rate: float | None = None) -> TaskSpec:
        """The task under a named budget, with optional CLI overrides."""
        if budget not in BUDGETS:
            raise SpecError(f"budget: must be one of {BUDGETS}, got {budget!r}")
        chosen: Budget = getattr(self, budget)
        optimizer = self.task.optimizer
        if learning_rate is not None:
            optimizer = dataclasses.replace(optimizer, learning_rate=learning_rate)
        return dataclasses.replace(self.task, epochs=epochs or chosen.epochs, optimizer=optimizer,
                                   batch_size=batch_size or self.task.batch_size,
                                   train_limit=chosen.train_limit, eval_limit=chosen.eval_limit)


def label_shape(model: ModelSpec, task: TaskSpec) -> Shape:
    """A sample's target shape: the output without its class axis for a classifier ((), or (T,) for one label per
    position), the output shape for a regression."""
    out = model.output_shape
    return tuple(out[:-1]) if task.is_classification else tuple(out)


def tokens_per_sample(model: ModelSpec, task: TaskSpec) -> int | None:
    """Predicted tokens per sample of a classifier with one label per position (T), else None: throughput in tokens/s
    is samples/s times this."""
    shape = label_shape(model, task)
    return shape[0] if task.is_classification and len(shape) == 1 else None


def canonical_json(data: Any) -> str:
    """JSON with sorted keys and no spaces: the form that is hashed."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


def spec_hash(model: ModelSpec, task: TaskSpec) -> str:
    """A stable 16-hex-digit hash of a model and its task."""
    payload = canonical_json({"model": model.to_dict(), "task": task.to_dict()})
    return hashlib.sha256(payload.encode()).hexdigest()[:16]
