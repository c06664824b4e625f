"""The neutral spec: validation messages, shape inference, JSON round-trips, stable hashes, the neutral layout."""

import json
import re

import numpy as np
import pytest

from suites import layers as L
from suites.errors import SpecError
from suites.flops import FIRST_LAYER_MULTIPLIER, TRAIN_MULTIPLIER, forward_flops, train_flops
from suites.layers import (
    LAYER_KINDS,
    LAYER_TYPES,
    LSTM,
    Activation,
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePool2D,
    GlobalMaxPool1D,
    MaxPool2D,
    Residual,
    TransformerEncoder,
    ZeroPad2D,
)
from suites.params import check_weights, init_weights, param_count, param_shapes, state_count, state_shapes
from suites.reference import REFERENCE
from suites.registry import OFFLINE_WORKLOADS, get_workload, workload_names
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec, spec_hash
from suites.suite import load_suite


@pytest.mark.parametrize(("make", "fragment"), [
    (lambda: Dense(0), "Dense.units"),
    (lambda: Dense(4, activation="swish"), "Dense.activation"),
    (lambda: Dropout(1.0), "Dropout.rate"),
    (lambda: Conv2D(8, 4, padding="same"), "Conv2D.padding"),
    (lambda: TransformerEncoder(10, 3, 16), "TransformerEncoder.num_heads"),
    (lambda: ZeroPad2D(-1), "ZeroPad2D.pad"),
    (lambda: Residual(()), "Residual.body"),
    (lambda: Residual((Dense(3),), stride=2), "Residual.stride"),
    (lambda: Residual((Dense(3),), projection=True, norm_momentum=1.5), "BatchNorm.momentum"),
    (lambda: Conv2D(4, 3, use_bias=1), "Conv2D.use_bias"),
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
    assert sum(v.size for v in a.values()) == param_count(model) + state_count(model)  # running statistics too
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
    assert len(LAYER_TYPES) == 24  # batch_norm is the 20th; residual, zero_pad2d, global_avgpool2d, tied_head after it
    assert LAYER_KINDS == tuple(LAYER_TYPES) and all(LAYER_TYPES[k].kind == k for k in LAYER_KINDS)


def test_the_reference_has_one_rule_per_layer_kind():
    assert set(REFERENCE) == set(LAYER_KINDS)


@pytest.mark.parametrize(("layers", "input_shape", "first_counts_twice"), [
    ((Dense(8), Dense(2)), (5,), True),  # nothing trainable below the first Dense: no input gradient
    ((Flatten(), Dense(2)), (3, 3, 1), True),  # a parameter-free layer below does not change that
    ((LSTM(4), Dense(2)), (6, 3), False),  # the recurrence needs the state gradient even at the bottom
])
def test_train_flops_count_a_bottom_matmul_twice(layers, input_shape, first_counts_twice):
    model = ModelSpec("m", input_shape, layers)
    shapes = model.layer_shapes()
    per_layer = [layer.forward_flops(i, o) for layer, (i, o) in zip(model.layers, shapes, strict=True)]
    bottom = next(k for k, f in enumerate(per_layer) if f)
    multipliers = [TRAIN_MULTIPLIER] * len(per_layer)
    if first_counts_twice:
        multipliers[bottom] = FIRST_LAYER_MULTIPLIER
    assert forward_flops(model) == sum(per_layer)
    assert train_flops(model) == sum(m * f for m, f in zip(multipliers, per_layer, strict=True))


def test_a_matmul_above_an_embedding_needs_its_input_gradient():
    model = ModelSpec("m", (10,), (Embedding(50, 8), Conv1D(4, 3), GlobalMaxPool1D(), Dense(2)), input_dtype="int32")
    assert model.layers[0].param_shapes((10,)) == {"embeddings": (50, 8)}
    assert train_flops(model) == TRAIN_MULTIPLIER * forward_flops(model)


def test_suites_leave_backends_to_the_planner():
    smoke = load_suite("smoke")
    assert smoke.backends == () and smoke.workloads == OFFLINE_WORKLOADS  # (): every installed backend


def test_the_nightly_times_with_the_verdict_plan_on_the_smoke_budget(tmp_path):
    from harness.cell import PLANS
    from harness.plan import Overrides, plan_cells
    from suites.suite import parse_suite

    nightly = load_suite("nightly")
    cells = plan_cells(nightly, Overrides(workloads=("mnist_mlp",), backends=("torch",)))
    assert nightly.timing == "verdict" and cells[0].budget == "smoke" and cells[0].plan == PLANS["verdict"]
    assert PLANS["verdict"].latency_calls >= 100 and PLANS["verdict"].min_trial_s > PLANS["smoke"].min_trial_s
    assert plan_cells(load_suite("smoke"), Overrides(workloads=("mnist_mlp",)))[0].plan == PLANS["smoke"]
    bad = tmp_path / "bad.toml"
    bad.write_text('budget = "smoke"\ntiming = "fast"\n')
    with pytest.raises(SpecError, match="'timing' must be one of"):
        parse_suite(bad)


BLOCK = (ZeroPad2D(1), Conv2D(8, 3, stride=2, use_bias=False), BatchNorm(), Activation("relu"),
         Conv2D(8, 3, padding="same", use_bias=False), BatchNorm(momentum=0.2))


def test_residual_shapes_names_and_counts():
    model = ModelSpec("r", (8, 8, 4), (Residual(BLOCK, projection=True, stride=2, norm_eps=1e-3),
                                       Residual((Conv2D(8, 3, padding="same"),)), GlobalAveragePool2D(), Dense(3)))
    assert [o for _, o in model.layer_shapes()] == [(4, 4, 8), (4, 4, 8), (8,), (3,)]
    assert list(param_shapes(model)) == [
        "0.body.1.kernel", "0.body.2.scale", "0.body.2.bias", "0.body.4.kernel", "0.body.5.scale", "0.body.5.bias",
        "0.proj.kernel", "0.proj_bn.scale", "0.proj_bn.bias", "1.body.0.kernel", "1.body.0.bias", "3.kernel",
        "3.bias"]
    assert param_shapes(model)["0.proj.kernel"] == (1, 1, 4, 8)
    assert list(state_shapes(model)) == ["0.body.2.running_mean", "0.body.2.running_var", "0.body.5.running_mean",
                                         "0.body.5.running_var", "0.proj_bn.running_mean", "0.proj_bn.running_var"]
    assert param_count(model) == 3 * 3 * 4 * 8 + 16 + 3 * 3 * 8 * 8 + 16 + 4 * 8 + 16 + (3 * 3 * 8 * 8 + 8) + 8 * 3 + 3
    assert state_count(model) == 6 * 8
    conv = 2 * 4 * 4 * 8 * 9 * 4 + 2 * 4 * 4 * 8 * 9 * 8 + 2 * 4 * 4 * 8 * 4  # body convs + the 1x1 projection
    assert forward_flops(model) == conv + 2 * 4 * 4 * 8 * 9 * 8 + 2 * 8 * 3


def test_residual_shape_mismatch_is_a_spec_error():
    with pytest.raises(SpecError, match=r"Residual: body output \(4, 4, 8\) != shortcut output \(8, 8, 4\) "
                                        r"\(identity\)"):
        ModelSpec("r", (8, 8, 4), (Residual(BLOCK),))
    with pytest.raises(SpecError, match=r"body output \(3, 3, 8\) != shortcut output \(4, 4, 8\) "
                                        r"\(projection stride 2\)"):
        ModelSpec("r", (8, 8, 4), (Residual(BLOCK[1:], projection=True, stride=2),))
    with pytest.raises(SpecError, match=r"layers\[0\] Residual body\[0\] ZeroPad2D: expects \(H, W, C\)"):
        ModelSpec("r", (8, 4), (Residual((ZeroPad2D(1),)),))
    with pytest.raises(SpecError, match="Residual.body"):
        Residual((Dense(3), "relu"))


def test_residual_round_trips_through_json_and_keeps_old_hashes():
    model = ModelSpec("r", (8, 8, 4), (ZeroPad2D(2), Residual(BLOCK, projection=True, stride=2),
                                       GlobalAveragePool2D(), Dense(3)))
    data = json.loads(json.dumps(model.to_dict()))
    assert data["layers"][1]["body"][0] == {"type": "zero_pad2d", "pad": 1}
    assert ModelSpec.from_dict(data) == model
    convs = [d for d in get_workload("mnist_cnn").model.to_dict()["layers"] if d["type"] == "conv2d"]
    assert convs and all("use_bias" not in d for d in convs)  # conv2d's default stays quiet: stored hashes hold
    assert model.without_dropout() == model


def test_a_tied_head_must_name_an_earlier_embedding_of_its_size():
    good = ModelSpec("lm", (6,), (L.Embedding(20, 8), L.LayerNorm(), L.TiedHead(20)), input_dtype="int32")
    assert good.output_shape == (6, 20) and "2.kernel" not in param_shapes(good)  # the table is layer 0's
    assert param_count(good) == param_count(ModelSpec("x", (6,), good.layers[:2], input_dtype="int32"))
    for layers, wrong in (((L.Embedding(20, 8), L.TiedHead(21)), "Embedding(21, 8), got 0 (Embedding)"),
                          ((L.Embedding(20, 8), L.Dense(4), L.TiedHead(20, source=0)), "Embedding(20, 4)"),
                          ((L.Embedding(20, 8), L.Dense(8), L.TiedHead(20, source=1)), "got 1 (Dense)"),
                          ((L.Embedding(20, 8), L.TiedHead(20, source=3)), "not an earlier layer")):
        with pytest.raises(SpecError, match=re.escape(wrong)):
            ModelSpec("lm", (6,), layers, input_dtype="int32")
    with pytest.raises(SpecError, match="TiedHead.source"):
        L.TiedHead(20, source=-1)
    assert ModelSpec.from_dict(good.to_dict()) == good
