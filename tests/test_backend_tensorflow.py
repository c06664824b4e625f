"""Tests of the TensorFlow / Keras backend against the neutral spec and the float64 numpy reference (CPU)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("tensorflow")

from backends.base import Unsupported  # noqa: E402
from backends.tensorflow.adapter import TensorFlowAdapter  # noqa: E402
from suites import reference  # noqa: E402
from suites.flops import forward_flops, train_flops  # noqa: E402
from suites.layers import (  # noqa: E402
    LAYER_TYPES,
    LSTM,
    Activation,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePool1D,
    GlobalMaxPool1D,
    LayerNorm,
    MaxPool1D,
    MaxPool2D,
    PositionalEncoding,
    TransformerEncoder,
)
from suites.params import init_weights, param_count  # noqa: E402
from suites.registry import OFFLINE_WORKLOADS, get_workload  # noqa: E402
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec  # noqa: E402

BATCH = 16
TASK = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=BATCH, epochs=1)

PRIMITIVE_MODELS = (
    ModelSpec("p_dense", (6,), (Dense(5, "tanh"), Dense(3, use_bias=False))),
    ModelSpec("p_conv2d", (9, 9, 2), (Conv2D(4, 3, padding="same", activation="gelu"),
                                      Conv2D(3, 3, stride=2, activation="sigmoid"), MaxPool2D(2, stride=1),
                                      Flatten(), Dense(3))),
    ModelSpec("p_activations", (6,), (Dense(8), Activation("gelu"), Dropout(0.3), Activation("tanh"),
                                      Activation("sigmoid"), Activation("relu"), Dense(2))),
    ModelSpec("p_conv1d", (12,), (Embedding(20, 6), Conv1D(5, 3, padding="same", activation="relu"), MaxPool1D(2),
                                  Conv1D(4, 3, stride=2), GlobalMaxPool1D(), Dense(2)), input_dtype="int32"),
    ModelSpec("p_transformer", (10,), (Embedding(30, 8), PositionalEncoding(16, scale_input=False),
                                       TransformerEncoder(8, 2, 16, dropout=0.1, activation="gelu", norm_first=True,
                                                          layer_norm_eps=1e-6),
                                       LayerNorm(1e-3), GlobalAveragePool1D(), Dense(3)), input_dtype="int32"),
    ModelSpec("p_lstm", (7, 5), (LSTM(6, num_layers=2, return_sequences=True), LSTM(4), Dense(2))),
)


def make_batch(model: ModelSpec, classification: bool, n: int = BATCH, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Small random inputs of the model's shape and matching labels."""
    rng = np.random.default_rng(seed)
    if model.input_dtype == "int32":
        vocab = next(layer.vocab_size for layer in model.layers if isinstance(layer, Embedding))
        x = rng.integers(0, vocab, (n, *model.input_shape)).astype(np.int32)
    else:
        x = rng.standard_normal((n, *model.input_shape)).astype(np.float32)
    if classification:
        return x, rng.integers(0, model.output_shape[-1], n).astype(np.int32)
    return x, rng.standard_normal((n, *model.output_shape)).astype(np.float32)


def built(model: ModelSpec, task: TaskSpec, mode: str = "graph") -> TensorFlowAdapter:
    """A CPU adapter built with the neutral initialisation."""
    adapter = TensorFlowAdapter(mode, device="cpu")
    adapter.build(model, task, init_weights(model, 0))
    return adapter


def assert_matches_reference(adapter: TensorFlowAdapter, model: ModelSpec, x: np.ndarray) -> None:
    """predict equals the float64 reference within 1e-4 * max(1, max|ref|)."""
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    ref = reference.forward(model, adapter.get_weights(), x)
    assert out.shape == ref.shape
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def eval_loss(adapter: TensorFlowAdapter, x: np.ndarray, y: np.ndarray, classification: bool) -> float:
    """Inference-mode loss in numpy (deterministic even when training uses dropout)."""
    out = adapter.to_numpy(adapter.predict(adapter.put(x))).astype(np.float64)
    if not classification:
        return float(np.mean((out - y) ** 2))
    out -= out.max(-1, keepdims=True)
    logp = out - np.log(np.exp(out).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


def test_every_primitive_is_covered() -> None:
    covered = {layer.kind for model in PRIMITIVE_MODELS for layer in model.layers}
    missing = sorted(set(LAYER_TYPES) - covered)
    assert not missing, f"primitives without a tensorflow conformance model: {missing}"


@pytest.mark.parametrize("model", PRIMITIVE_MODELS, ids=lambda m: m.name)
def test_primitive_builds_and_matches_reference(model: ModelSpec) -> None:
    adapter = built(model, TASK)
    assert adapter.trainable_param_count() == param_count(model)
    x, y = make_batch(model, True)
    assert_matches_reference(adapter, model, x)
    assert np.isfinite(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))


@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_workload(name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    adapter = built(model, task)
    assert adapter.trainable_param_count() == param_count(model)
    weights = init_weights(model, 3)
    adapter.set_weights(weights)
    back = adapter.get_weights()
    assert back.keys() == weights.keys()
    for key, value in weights.items():
        assert back[key].dtype == np.float32 and np.array_equal(back[key], value), key
    x, y = make_batch(model, task.is_classification)
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    assert out.shape == (BATCH, *model.output_shape)
    assert_matches_reference(adapter, model, x)
    before = eval_loss(adapter, x, y, task.is_classification)
    batch = adapter.put(x, y)
    for _ in range(6):
        loss = adapter.train_step(batch)
    assert np.isfinite(adapter.to_numpy(loss))
    assert eval_loss(adapter, x, y, task.is_classification) < before


@pytest.mark.parametrize(("mode", "name"), [("xla", "mnist_cnn"), ("xla", "rowmnist_lstm"), ("xla", "text_transformer"),
                                           ("eager", "rowmnist_lstm"), ("eager", "text_transformer")])
def test_modes_agree_with_graph(mode: str, name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model.without_dropout(), workload.task
    x, y = make_batch(model, True)
    losses = {}
    for m in ("graph", mode):
        adapter = built(model, task, m)
        assert_matches_reference(adapter, model, x)
        batch = adapter.put(x, y)
        losses[m] = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(3)]
    np.testing.assert_allclose(losses[mode], losses["graph"], rtol=1e-4)


def _linear_task(optimizer: OptimizerSpec) -> tuple[ModelSpec, TaskSpec]:
    return (ModelSpec("lin", (4,), (Dense(1),)),
            TaskSpec("synthetic", "mse", optimizer, batch_size=BATCH, epochs=1, metrics=("mse",)))


def _numpy_losses(optimizer: OptimizerSpec, w: np.ndarray, b: np.ndarray, x: np.ndarray, y: np.ndarray,
                  steps: int) -> list[float]:
    """Float64 reference: MSE on a linear model, torch/optax-form Adam or SGD with (non-Nesterov) momentum."""
    params = [w.astype(np.float64), b.astype(np.float64)]
    slots = [[np.zeros_like(p), np.zeros_like(p)] for p in params]
    losses = []
    for t in range(1, steps + 1):
        err = x @ params[0] + params[1] - y
        losses.append(float(np.mean(err ** 2)))
        grads = [2.0 * x.T @ err / err.size, 2.0 * err.sum(0) / err.size]
        for p, g, (m, v) in zip(params, grads, slots, strict=True):
            if optimizer.name == "sgd":
                m[...] = optimizer.momentum * m + g
                p -= optimizer.learning_rate * m
            else:
                m[...] = optimizer.beta1 * m + (1 - optimizer.beta1) * g
                v[...] = optimizer.beta2 * v + (1 - optimizer.beta2) * g * g
                m_hat, v_hat = m / (1 - optimizer.beta1 ** t), v / (1 - optimizer.beta2 ** t)
                p -= optimizer.learning_rate * m_hat / (np.sqrt(v_hat) + optimizer.eps)
    return losses


@pytest.mark.parametrize("optimizer", [OptimizerSpec("adam", 0.05, beta1=0.8, beta2=0.99, eps=0.1),
                                       OptimizerSpec("adam", 0.01),
                                       OptimizerSpec("sgd", 0.05, momentum=0.9), OptimizerSpec("sgd", 0.1)],
                         ids=["adam_big_eps", "adam", "sgd_momentum", "sgd"])
def test_optimizer_matches_numpy_and_resets(optimizer: OptimizerSpec) -> None:
    model, task = _linear_task(optimizer)
    adapter = built(model, task)
    x, y = make_batch(model, False, n=32)
    weights = init_weights(model, 0)
    expected = _numpy_losses(optimizer, weights["0.kernel"], weights["0.bias"], x, y, 10)
    batch = adapter.put(x, y)
    for _ in range(2):  # set_weights resets the optimizer: the second run repeats the first
        adapter.set_weights(weights)
        got = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(10)]
        np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_dropout_is_seeded_and_only_in_training() -> None:
    workload = get_workload("mnist_mlp")
    model = dataclasses.replace(workload.model, layers=(Flatten(), Dense(64, "relu"), Dropout(0.5), Dense(10)))
    x, y = make_batch(model, True)
    runs = []
    for mode in ("graph", "eager"):  # Philox masks from the same seeds: graph and eager draw identical masks
        adapter = built(model, workload.task, mode)
        batch = adapter.put(x, y)
        runs.append([float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(3)])
        assert_matches_reference(adapter, model, x)  # predict is inference mode
    assert runs[0] == runs[1]
    plain = built(model.without_dropout(), workload.task)
    assert float(plain.to_numpy(plain.train_step(plain.put(x, y)))) != runs[0][0]


def test_graph_mode_does_not_retrace() -> None:
    model = get_workload("mnist_mlp").model
    adapter = built(model, TASK)
    for n in (BATCH, BATCH, 8, BATCH):
        x, y = make_batch(model, True, n=n)
        adapter.train_step(adapter.put(x, y))
        adapter.predict(adapter.put(x))
    assert adapter._train.experimental_get_tracing_count() == 1
    assert adapter._predict.experimental_get_tracing_count() == 1


def test_reporting_and_unsupported() -> None:
    adapter = built(get_workload("tfidf_mlp").model, TASK, "xla")
    adapter.synchronize(adapter.train_step(adapter.put(*make_batch(adapter.spec, True))))
    stats = adapter.memory_stats()
    assert stats["device_peak_bytes"] is None and "CPU" in stats["device_peak_reason"]
    settings = adapter.settings()
    for key in ("threads", "mode", "precision", "layout", "compiled", "xla", "tf32"):
        assert key in settings
    assert settings["xla"] is True and settings["compiled"] is True and settings["layout"] == "NHWC"
    assert settings["tf32"] is None and settings["tf32_reason"]
    info = adapter.device_info()
    assert info["device"] == "cpu" and info["framework_version"] and info["device_name"]
    assert settings["precision"] == "fp32" and settings["dtype_policy"] == "float32"
    with pytest.raises(Unsupported):
        TensorFlowAdapter("graph", precision="fp16")
    with pytest.raises(Unsupported):
        TensorFlowAdapter("jit")


@pytest.mark.parametrize(("mode", "name", "n", "batch_size"), [("graph", "mnist_mlp", 500, 64),
                                                                ("xla", "mnist_cnn", 200, 32),
                                                                ("eager", "tfidf_mlp", 96, 16)])
def test_idiomatic_epoch_trains(mode: str, name: str, n: int, batch_size: int) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    adapter = built(model, task, mode)
    x, y = make_batch(model, task.is_classification, n=n)
    before = eval_loss(adapter, x[:64], y[:64], task.is_classification)
    results = [adapter.idiomatic_epoch(x, y, batch_size, seed=epoch) for epoch in range(2)]
    for result in results:
        assert result["steps"] == n // batch_size and result["samples"] == (n // batch_size) * batch_size
        assert result["seconds"] > 0 and "tf.data" in result["pipeline"]
    after = eval_loss(adapter, x[:64], y[:64], task.is_classification)
    assert np.isfinite(after) and after < before, (before, after)
    if mode != "eager":
        assert adapter._train.experimental_get_tracing_count() == 1  # the compiled step, not a retrace per batch


def test_peak_matmul_is_none_on_cpu() -> None:
    assert TensorFlowAdapter("graph", device="cpu").peak_matmul() is None


@pytest.mark.gpu
def test_peak_matmul_on_gpu() -> None:
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees no GPU")
    peak = TensorFlowAdapter("graph", device="gpu").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "tensor_float_32" in peak["method"]


@pytest.mark.parametrize("mode", ["graph", "xla"])
def test_bf16_keeps_fp32_variables_and_no_global_policy(mode: str) -> None:
    """Internals behind tests/test_bf16.py: per-layer mixed_bfloat16 policies, float32 variables and optimizer
    slots, nothing leaked into Keras' global policy; XLA on CPU says it upcasts bf16 dots."""
    import keras

    workload = get_workload("rowmnist_lstm")
    model, task = workload.model, workload.task
    adapter = TensorFlowAdapter(mode, precision="bf16", device="cpu")
    adapter.build(model, task, init_weights(model, 0))
    adapter.train_step(adapter.put(*make_batch(model, task.is_classification, n=8)))
    settings = adapter.settings()
    assert settings["compute_dtype"] == "bfloat16" and settings["variable_dtype"] == "float32"
    assert (settings["bf16_note"] is not None) == (mode == "xla")
    assert all(v.dtype == "float32" for v in adapter.model.trainable_variables)
    assert all(v.dtype in ("float32", "int64") for v in adapter.optimizer.variables)  # fp32 slots, int step
    assert keras.config.dtype_policy().name == "float32"


def test_bf16_reaches_every_matmul_and_conv_while_the_loss_stays_fp32() -> None:
    """Every layer, sub-layer included (encoder's attention, feed-forward, dropout), computes in bfloat16."""
    import tensorflow as tf

    ops = {}
    for name in ("mnist_cnn", "text_transformer", "rowmnist_lstm"):
        workload = get_workload(name)
        adapter = TensorFlowAdapter("graph", precision="bf16", device="cpu")
        adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
        graph = adapter._train.get_concrete_function(*adapter._train.input_signature).graph
        for op in graph.get_operations():
            if op.type in ("MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput",
                           "SparseSoftmaxCrossEntropyWithLogits"):
                ops.setdefault(op.type, set()).add(op.get_attr("T"))
    assert ops.pop("SparseSoftmaxCrossEntropyWithLogits") == {tf.float32}
    assert set(ops) == {"MatMul", "BatchMatMulV2", "Conv2D", "Conv2DBackpropFilter", "Conv2DBackpropInput"}
    assert all(dtypes == {tf.bfloat16} for dtypes in ops.values()), ops


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn"])
def test_counted_flops_match_spec_and_change_nothing(name: str) -> None:
    """The TF profiler counts what the spec counts (MatMul/Conv2D, 2 FLOPs per multiply-add) plus 1 per element of
    element-wise ops (BiasAdd, MaxPool window compares), so its forward count sits just above the spec's. Observed
    counter/spec per sample (TF 2.21): forward mnist_mlp 1.0007, mnist_cnn 1.0109; train mnist_mlp 1.002 but
    mnist_cnn 1.24, because TF's flops_registry sizes Conv2DBackpropInput/Filter by the convolution's input rather
    than its output ('valid' 3x3 convs: 28² vs 26² and 13² vs 11² positions), which alone adds 0.234 of the spec's
    train count; element-wise ops add the rest."""
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = init_weights(model, 0)
    adapter = built(model, task)
    x, y = make_batch(model, True, n=8)
    counted = adapter.counted_flops(x, y)
    assert counted["counter"].startswith("tf.compat.v1.profiler")
    assert counted["forward_flops"] / 8 / forward_flops(model) == pytest.approx(1.0, rel=0.15)
    assert 1.0 <= counted["forward_flops"] / 8 / forward_flops(model) < 1.02  # spec + element-wise ops
    train_ratio = counted["train_flops"] / 8 / train_flops(model)
    assert train_ratio == pytest.approx({"mnist_mlp": 1.002, "mnist_cnn": 1.24}[name], rel=0.01)
    assert all(np.array_equal(v, weights[k]) for k, v in adapter.get_weights().items())  # nothing trained
    assert int(adapter.optimizer.iterations.numpy()) == 0
    batch = adapter.put(x, y)
    loss = float(adapter.to_numpy(adapter.train_step(batch)))
    fresh = built(model, task)
    assert loss == float(fresh.to_numpy(fresh.train_step(batch)))  # same dropout seeds and optimizer state


def test_counted_flops_unrolls_lstm_and_counts_the_encoder() -> None:
    """Keras runs LSTM steps in a tf.while_loop the profiler does not enter (3.6 % of the spec if left rolled);
    counting traces them unrolled, then the layers roll again."""
    for name, high in (("rowmnist_lstm", 1.02), ("text_transformer", 1.05)):  # gates / softmax, norms, residuals
        workload = get_workload(name)
        adapter = built(workload.model, workload.task)
        x, y = make_batch(workload.model, True, n=4)
        counted = adapter.counted_flops(x, y)
        assert 1.0 <= counted["forward_flops"] / 4 / forward_flops(workload.model) < high, (name, counted)
        assert counted["train_flops"] > 2 * counted["forward_flops"]
        assert not any(getattr(layer, "unroll", False) for layer in adapter.model.chain)
