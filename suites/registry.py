"""All workloads by name."""

from __future__ import annotations

from collections.abc import Callable

from suites.errors import UsageError
from suites.models import (
    keras_cnn,
    linear_regression,
    mnist_cnn,
    mnist_mlp,
    rowmnist_lstm,
    text_cnn,
    text_transformer,
    tfidf_mlp,
)
from suites.spec import Workload

_FACTORIES: dict[str, Callable[[], Workload]] = {
    "mnist_mlp": mnist_mlp.workload,
    "mnist_cnn": mnist_cnn.workload,
    "keras_cnn": keras_cnn.workload,
    "rowmnist_lstm": rowmnist_lstm.workload,
    "text_transformer": text_transformer.workload,
    "text_cnn": text_cnn.workload,
    "tfidf_mlp": tfidf_mlp.workload,
    "linear_regression": linear_regression.workload,
    "keras_cnn_cifar10": keras_cnn.cifar10_workload,
}

OFFLINE_WORKLOADS = tuple(n for n in _FACTORIES if n != "keras_cnn_cifar10")


def workload_names() -> tuple[str, ...]:
    return tuple(_FACTORIES)


def get_workload(name: str) -> Workload:
    """The workload called `name`, or a UsageError listing the known names."""
    if name not in _FACTORIES:
        raise UsageError(f"unknown workload {name!r}; known: {', '.join(_FACTORIES)}")
    return _FACTORIES[name]()
