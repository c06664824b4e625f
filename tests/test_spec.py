"""The neutral spec: validation messages, shape inference, JSON round-trips, stable hashes, the neutral layout."""

import json

import numpy as np
import pytest

from suites.errors import SpecError
from suites.layers import LAYER_TYPES, Conv2D, Dense, Dropout, Flatten, MaxPool2D, TransformerEncoder
from suites.params import check_weights, init_weights, param_count, param_shapes
from suites.registry import OFFLINE_WORKLOADS, get_workload, workload_names
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec, spec_hash


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: Dense(0), "Dense.units"),
    (lambda: Dense(4, activation="swish"), "Dense.activation"),
    (lambda: Dropout(1.0), "Dropout.rate"),
    (lambda: Conv2D(8, 4, padding="same"), "Conv2D.padding"),
    (lambda: TransformerEncoder(10, 3, 16), "TransformerEncoder.num_heads"),
    (lambda: OptimizerSpec("rmsprop", 0.1), "OptimizerSpec.name"),
    (lambda: OptimizerSpec("adam", -1.0), "OptimizerSpec.learning_rate"),
    (lambda: TaskSpec("mnist5k", "hinge", OptimizerSpec("sgd", 0.1), 32, 1), "TaskSpec.loss"),
    (lambda: TaskSpec("mnist5k", "mse", OptimizerSpec("sgd", 0.1), 32, 1), "TaskSpec.metrics"),
    (lambda: TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("sgd", 0.1), 0, 1), "TaskSpec.batch_size"),
])
def test_bad_values_name_the_field(make, fragment):
    with pytest.raises(SpecError, match=fragment.replace(".", r"\.")):
        make()


def test_shape_inference_catches_the_seed_9216_bug():
    # The seed's fc1 expects 9216 inputs, but two pools leave 5x5x64 = 1600; the spec infers the width instead.
    cnn = get_workload("mnist_cnn").model
    assert cnn.layer_shapes()[4][1] == (1600,)
    with pytest.raises(SpecError, match="does not fit"):
        ModelSpec("tiny", (4, 4, 1), (Conv2D(2, 3), MaxPool2D(2), Conv2D(2, 3)))


def test_flatten_then_dense_param_shape():
    model = ModelSpec("m", (5, 5, 3), (Flatten(), Dense(7)))
    assert param_shapes(model) == {"1.kernel": (75, 7), "1.bias": (7,)}


@pytest.mark.parametrize("name", workload_names())
def test_workloads_round_trip_and_hash(name):
    w = get_workload(name)
    again = ModelSpec.from_dict(json.loads(json.dumps(w.model.to_dict())))
    assert again == w.model
    assert TaskSpec.from_dict(json.loads(json.dumps(w.task.to_dict()))) == w.task
    assert spec_hash(again, w.task) == spec_hash(w.model, w.task)


def test_hash_changes_with_any_constant():
    w = get_workload("mnist_mlp")
    other = w.task_for("standard", epochs=w.task.epochs + 1)
    assert spec_hash(w.model, w.task) != spec_hash(w.model, other)


@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_init_weights_are_deterministic_and_complete(name):
    model = get_workload(name).model
    a, b = init_weights(model, 7), init_weights(model, 7)
    check_weights(model, a)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert sum(v.size for v in a.values()) == param_count(model)
    assert all(v.dtype == np.float32 for v in a.values())


def test_check_weights_names_the_problem():
    model = get_workload("linear_regression").model
    weights = init_weights(model, 0)
    weights["0.kernel"] = np.zeros((3, 1), np.float32)
    with pytest.raises(ValueError, match=r"0\.kernel: shape \(3, 1\) != \(10, 1\)"):
        check_weights(model, weights)


def test_without_dropout_zeroes_every_rate():
    model = get_workload("text_transformer").model.without_dropout()
    assert all(getattr(layer, "dropout", 0.0) == 0.0 and getattr(layer, "rate", 0.0) == 0.0
               for layer in model.layers)


def test_every_primitive_has_a_tag():
    assert len(LAYER_TYPES) == 15
