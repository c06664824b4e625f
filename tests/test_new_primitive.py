"""The five-file claim of docs/extending.md, run: a throw-away layer primitive added as one class, one reference
function and one builder per backend (no weight map: its native weights keep the neutral names and shapes) is
built, loaded and checked against the float64 reference in every installed backend."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pytest

from suites import reference
from suites.layers import Dense, Shape
from suites.params import param_count
from suites.primitives.base import LAYER_TYPES, Primitive
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec
from tests.conftest import inputs, perturbed_weights

KIND = "test_feature_affine"


@pytest.fixture
def primitive(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Primitive]]:
    """File 1: the neutral class (defining it registers it); file 2: its reference. Unregistered afterwards."""

    @dataclass(frozen=True)
    class FeatureAffine(Primitive):
        """y = x * scale + bias over the last axis, with a learned scale and bias per feature."""

        kind: ClassVar[str] = KIND

        def output_shape(self, shape: Shape) -> Shape:
            return shape

        def param_shapes(self, in_shape: Shape) -> dict[str, Shape]:
            return {"scale": (in_shape[-1],), "bias": (in_shape[-1],)}

        def forward_flops(self, in_shape: Shape, out_shape: Shape) -> int:
            return 0  # element-wise work is free, as for every element-wise layer

    monkeypatch.setitem(reference.REFERENCE, KIND, lambda layer, w, x: x * w["scale"] + w["bias"])
    try:
        yield FeatureAffine
    finally:
        LAYER_TYPES.pop(KIND, None)


def _torch_builder(layer: Any, in_shape: Shape, channels_first: bool) -> list[Any]:
    import torch

    class FeatureAffine(torch.nn.Module):
        def __init__(self, features: int) -> None:
            super().__init__()
            self.scale = torch.nn.Parameter(torch.ones(features))
            self.bias = torch.nn.Parameter(torch.zeros(features))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * self.scale + self.bias

    return [FeatureAffine(in_shape[-1])]


def _tensorflow_builder(layer: Any, in_shape: Shape, options: Any) -> list[Any]:
    import keras

    class FeatureAffine(keras.layers.Layer):
        def build(self, input_shape: Any) -> None:
            self.scale = self.add_weight(name="scale", shape=(input_shape[-1],), initializer="ones")
            self.bias = self.add_weight(name="bias", shape=(input_shape[-1],), initializer="zeros")

        def call(self, x: Any) -> Any:
            return x * self.scale + self.bias

    return [FeatureAffine(dtype=options.dtype)]


def _jax_builder(layer: Any, in_shape: Shape, rngs: Any) -> Any:
    import jax.numpy as jnp
    from flax import nnx

    from backends.jax.layers import Native

    class FeatureAffine(nnx.Module):
        def __init__(self, features: int) -> None:
            self.scale = nnx.Param(jnp.ones((features,), jnp.float32))
            self.bias = nnx.Param(jnp.zeros((features,), jnp.float32))

    return Native(FeatureAffine(in_shape[-1]), lambda m, x, key: x * m.scale[...] + m.bias[...])


BUILDERS = {"torch": _torch_builder, "tensorflow": _tensorflow_builder, "jax": _jax_builder}
"""Files 3 to 5: one builder per backend, in its LAYER_BUILDERS under the new kind."""


def test_a_new_primitive_runs_in_every_backend(primitive: type[Primitive], backend: str, make_adapter: Any,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    layers = importlib.import_module(f"backends.{backend}.layers")
    monkeypatch.setitem(layers.LAYER_BUILDERS, KIND, BUILDERS[backend])
    model = ModelSpec("affine", (6,), (Dense(5, "tanh"), primitive(), Dense(3)))
    assert param_count(model) == 6 * 5 + 5 + 2 * 5 + 5 * 3 + 3
    weights = perturbed_weights(model)
    adapter = make_adapter(model, TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.1), 8, 1), weights)
    assert adapter.trainable_param_count() == param_count(model)
    got = adapter.get_weights()
    assert sorted(got) == sorted(weights) and all(np.array_equal(got[k], weights[k]) for k in weights)
    x = inputs(model, 8)
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    np.testing.assert_allclose(out, reference.forward(model, weights, x), atol=1e-5)
    y = np.arange(8, dtype=np.int32) % 3
    assert np.isfinite(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    assert not np.array_equal(adapter.get_weights()["1.scale"], weights["1.scale"])  # its gradient reaches it


def test_the_throw_away_kind_is_gone_afterwards() -> None:
    assert KIND not in LAYER_TYPES and KIND not in reference.REFERENCE
