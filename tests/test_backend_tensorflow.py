"""TensorFlow internals behind the conformance suite: no retrace, Philox masks, bf16 policies and ops, profiler."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")

import keras  # noqa: E402

from backends.tensorflow.adapter import TensorFlowAdapter  # noqa: E402
from suites.flops import forward_flops, train_flops  # noqa: E402
from suites.layers import Dense, Dropout, Flatten  # noqa: E402
from suites.params import init_weights  # noqa: E402
from suites.registry import get_workload  # noqa: E402


def _build(name: str, mode: str = "graph", precision: str = "fp32", model: Any = None) -> tuple[Any, Any]:
    workload = get_workload(name)
    model = model or workload.model
    adapter = TensorFlowAdapter(mode, precision=precision, device="cpu")
    adapter.build(model, workload.task, init_weights(model, 0))
    return dataclasses.replace(workload, model=model), adapter


def _loss(adapter: Any, batch: Any) -> float:
    return float(adapter.to_numpy(adapter.train_step(batch)))


@pytest.mark.parametrize("mode", ["graph", "xla"])
def test_compiled_steps_trace_once(make_batch: Any, mode: str) -> None:
    workload, adapter = _build("mnist_mlp", mode)
    for n in (16, 16, 8, 16):  # a batch-polymorphic signature: no retrace for another batch size
        x, y = make_batch(workload.model, workload.task, n)
        adapter.train_step(adapter.put(x, y))
        adapter.predict(adapter.put(x))
    assert "tf.data" in adapter.idiomatic_epoch(*make_batch(workload.model, workload.task, 96), 16, seed=0)["pipeline"]
    assert adapter._train.experimental_get_tracing_count() == 1
    assert adapter._predict.experimental_get_tracing_count() == 1
    settings = adapter.settings()
    assert (settings["compiled"], settings["xla"], settings["layout"]) == (True, mode == "xla", "NHWC")


def test_graph_and_eager_draw_the_same_philox_dropout_masks(make_batch: Any) -> None:
    mlp = get_workload("mnist_mlp").model
    model = dataclasses.replace(mlp, layers=(Flatten(), Dense(64, "relu"), Dropout(0.5), Dense(10)))
    runs = []
    for mode in ("graph", "eager"):
        workload, adapter = _build("mnist_mlp", mode, model=model)
        batch = adapter.put(*make_batch(model, workload.task, 16))
        runs.append([_loss(adapter, batch) for _ in range(3)])
    assert runs[0][0] == runs[1][0]
    np.testing.assert_allclose(runs[0], runs[1], rtol=1e-6)  # other masks would move the loss by far more


@pytest.mark.parametrize("mode", ["graph", "xla"])
def test_bf16_keeps_fp32_variables_and_no_global_policy(make_batch: Any, mode: str) -> None:
    """Per-layer mixed_bfloat16 policies, float32 variables and optimizer slots, nothing leaked into Keras' global
    policy; XLA on CPU says it upcasts bf16 dots."""
    workload, adapter = _build("rowmnist_lstm", mode, precision="bf16")
    adapter.train_step(adapter.put(*make_batch(workload.model, workload.task, 8)))
    settings = adapter.settings()
    assert settings["compute_dtype"] == "bfloat16" and settings["variable_dtype"] == "float32"
    assert (settings["bf16_note"] is not None) == (mode == "xla")
    assert all(v.dtype == "float32" for v in adapter.model.trainable_variables)
    assert all(v.dtype in ("float32", "int64") for v in adapter.optimizer.variables)  # fp32 slots, int step
    assert keras.config.dtype_policy().name == "float32"


def test_bf16_reaches_every_matmul_and_conv_while_the_loss_stays_fp32() -> None:
    """Every layer, sub-layer included (encoder's attention, feed-forward, dropout), computes in bfloat16."""
    ops: dict[str, set[Any]] = {}
    for name in ("mnist_cnn", "text_transformer", "rowmnist_lstm"):
        _, adapter = _build(name, precision="bf16")
        graph = adapter._train.get_concrete_function(*adapter._train.input_signature).graph
        for op in graph.get_operations():
            if op.type in ("MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput",
                           "SparseSoftmaxCrossEntropyWithLogits"):
                ops.setdefault(op.type, set()).add(op.get_attr("T"))
    assert ops.pop("SparseSoftmaxCrossEntropyWithLogits") == {tf.float32}
    assert set(ops) == {"MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput"}
    assert all(dtypes == {tf.bfloat16} for dtypes in ops.values()), ops


@pytest.mark.parametrize(("name", "train_ratio"), [("mnist_mlp", 1.002), ("mnist_cnn", 1.24)])
def test_profiler_train_count_and_untouched_dropout_seeds(make_batch: Any, name: str, train_ratio: float) -> None:
    """TF's flops_registry sizes Conv2DBackpropInput/Filter by the convolution's input rather than its output
    ('valid' 3x3 convs: 28² vs 26² and 13² vs 11² positions): 0.234 of mnist_cnn's spec train count (TF 2.21).
    Counting only traces, so the dropout seeds stay where a fresh build has them."""
    workload, adapter = _build(name)
    x, y = make_batch(workload.model, workload.task, 8)
    counted = adapter.counted_flops(x, y)
    assert counted["counter"].startswith("tf.compat.v1.profiler")
    assert counted["train_flops"] / 8 / train_flops(workload.model) == pytest.approx(train_ratio, rel=0.01)
    _, fresh = _build(name)
    assert _loss(adapter, adapter.put(x, y)) == _loss(fresh, fresh.put(x, y))


def test_profiler_unrolls_lstm_and_counts_the_encoder(make_batch: Any) -> None:
    """Keras runs LSTM steps in a tf.while_loop the profiler does not enter; counting traces them unrolled, then the
    layers roll again."""
    for name, high in (("rowmnist_lstm", 1.02), ("text_transformer", 1.05)):  # gates / softmax, norms, residuals
        workload, adapter = _build(name)
        counted = adapter.counted_flops(*make_batch(workload.model, workload.task, 4))
        assert 1.0 <= counted["forward_flops"] / 4 / forward_flops(workload.model) < high, (name, counted)
        assert counted["train_flops"] > 2 * counted["forward_flops"]
        assert not any(getattr(layer, "unroll", False) for layer in adapter.model.chain)


@pytest.mark.gpu
def test_peak_matmul_names_the_tf32_setting() -> None:
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees no GPU")
    peak = TensorFlowAdapter("graph", device="gpu").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "tensor_float_32" in peak["method"]
