"""Shared fixtures: one adapter factory per installed backend (from backends.registry), and batches for any model.

A test that takes `backend` (or `make_adapter`) runs once per built-in backend; a backend whose framework is not
installed is skipped, naming the missing packages.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from postgres_server import postgres_server, postgres_url, store_target  # noqa: F401  (test PostgreSQL server)
from slurm_cluster import slurm_cluster  # noqa: F401  (test Slurm cluster)

from backends.registry import BACKENDS, BackendInfo, get_backend, load_adapter_class
from suites.params import Weights, init_weights
from suites.spec import ModelSpec, TaskSpec, label_shape

BACKEND_NAMES = tuple(BACKENDS)
"""The built-in backends, in registry order."""


def require_backend(name: str) -> BackendInfo:
    """The backend's info, or skip the test when its framework is not installed."""
    info = get_backend(name)
    missing = info.missing()
    if missing:
        pytest.skip(f"backend {name!r} not installed (missing {', '.join(missing)}): pip install the '{name}' extra")
    return info


def inputs(model: ModelSpec, n: int, seed: int = 0) -> np.ndarray:
    """n random inputs of the model's shape: token ids below the first Embedding's vocabulary, else N(0, 1)."""
    rng = np.random.default_rng(seed)
    if model.input_dtype == "int32":
        vocab = next(layer.vocab_size for layer in model.layers if layer.kind == "embedding")
        return rng.integers(0, vocab, (n, *model.input_shape)).astype(np.int32)
    return rng.standard_normal((n, *model.input_shape)).astype(np.float32)


def labels(model: ModelSpec, task: TaskSpec, n: int, seed: int = 1) -> np.ndarray:
    """n random labels: class ids for a classifier (one per position for a language model), N(0, 1) targets of the
    output shape for a regression."""
    rng = np.random.default_rng(seed)
    if task.is_classification:
        return rng.integers(0, model.output_shape[-1], (n, *label_shape(model, task))).astype(np.int32)
    return rng.standard_normal((n, *model.output_shape)).astype(np.float32)


def perturbed_weights(model: ModelSpec, seed: int = 3) -> Weights:
    """The seeded initialisation plus N(0, 0.1) on every parameter and state array: biases are non-zero, norm scales
    non-unit and running statistics away from (0, 1) (a variance stays positive), so a swapped bias, scale, offset or
    statistic changes the outputs."""
    rng = np.random.default_rng(seed)
    return {k: (v + rng.normal(0.0, 0.1, v.shape)).astype(np.float32) for k, v in init_weights(model, 0).items()}


@pytest.fixture(params=BACKEND_NAMES)
def backend(request: pytest.FixtureRequest) -> str:
    """A built-in backend's name (skipped when its framework is missing)."""
    require_backend(request.param)
    return request.param


@pytest.fixture
def make_adapter(backend: str) -> Callable[..., Any]:
    """make_adapter(model=None, task=None, weights=None, mode=None, precision='fp32', device='cpu') → a CPU adapter
    of the backend, built when a model is given (with the seeded initialisation unless weights are)."""
    require_backend(backend)
    cls = load_adapter_class(backend)

    def make(model: ModelSpec | None = None, task: TaskSpec | None = None, weights: Weights | None = None, *,
             mode: str | None = None, precision: str = "fp32", device: str = "cpu") -> Any:
        adapter = cls(mode, precision=precision, device=device)
        if model is not None:
            assert task is not None
            adapter.build(model, task, init_weights(model, 0) if weights is None else weights)
        return adapter

    return make


@pytest.fixture
def make_batch() -> Callable[..., tuple[np.ndarray, np.ndarray]]:
    """make_batch(model, task, n, seed=0) → (inputs(model, n, seed), labels(model, task, n, seed + 1))."""

    def make(model: ModelSpec, task: TaskSpec, n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        return inputs(model, n, seed), labels(model, task, n, seed + 1)

    return make


@pytest.fixture
def make_inputs() -> Callable[..., np.ndarray]:
    """make_inputs(model, n, seed=0): the `inputs` helper as a fixture."""
    return inputs


@pytest.fixture
def make_weights() -> Callable[..., Weights]:
    """make_weights(model, seed=3): the `perturbed_weights` helper as a fixture."""
    return perturbed_weights
