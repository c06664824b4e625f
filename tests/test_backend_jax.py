"""The JAX backend against the neutral spec: every primitive, every offline workload, the numpy reference."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

import jax  # noqa: E402

from backends.base import Unsupported  # noqa: E402
from backends.jax.adapter import JaxAdapter  # noqa: E402
from backends.jax.layers import dropout, max_pool  # noqa: E402
from backends.registry import get_backend  # noqa: E402
from suites.flops import forward_flops  # noqa: E402
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
from suites.reference import forward  # noqa: E402
from suites.registry import OFFLINE_WORKLOADS, get_workload  # noqa: E402
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec  # noqa: E402

CE_TASK = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("adam", 1e-2), batch_size=8, epochs=1)

CONFORMANCE: dict[str, ModelSpec] = {
    "dense": ModelSpec("c_dense", (6,), (Dense(5, "tanh"), Dense(3, use_bias=False))),
    "conv2d": ModelSpec("c_conv2d", (7, 7, 2), (Conv2D(3, 3, padding="same", activation="gelu"),
                                                Conv2D(4, 2, stride=2), Flatten(), Dense(3))),
    "maxpool2d": ModelSpec("c_maxpool2d", (7, 7, 2), (MaxPool2D(2), MaxPool2D(2, stride=1), Flatten(), Dense(3))),
    "flatten": ModelSpec("c_flatten", (3, 4, 2), (Flatten(), Dense(3))),
    "dropout": ModelSpec("c_dropout", (6,), (Dense(8, "relu"), Dropout(0.3), Dense(3))),
    "activation": ModelSpec("c_activation", (6,), (Dense(6), Activation("sigmoid"), Dense(6), Activation("gelu"),
                                                   Dense(6), Activation("tanh"), Activation("relu"), Dense(3))),
    "embedding": ModelSpec("c_embedding", (5,), (Embedding(11, 4), Flatten(), Dense(3)), input_dtype="int32"),
    "conv1d": ModelSpec("c_conv1d", (9, 3), (Conv1D(4, 3, padding="same", activation="relu"),
                                             Conv1D(4, 2, stride=2), Flatten(), Dense(3))),
    "maxpool1d": ModelSpec("c_maxpool1d", (9, 3), (MaxPool1D(2), MaxPool1D(3, stride=1), Flatten(), Dense(3))),
    "global_maxpool1d": ModelSpec("c_gmax", (6, 4), (GlobalMaxPool1D(), Dense(3))),
    "global_avgpool1d": ModelSpec("c_gavg", (6, 4), (GlobalAveragePool1D(), Dense(3))),
    "lstm": ModelSpec("c_lstm", (6, 3), (LSTM(5, num_layers=2, return_sequences=True), LSTM(4), Dense(3))),
    "layernorm": ModelSpec("c_layernorm", (6,), (Dense(6), LayerNorm(1e-3), Dense(3))),
    "positional_encoding": ModelSpec("c_pe", (5, 4), (PositionalEncoding(8, scale_input=True), Flatten(), Dense(3))),
    "transformer_encoder": ModelSpec("c_transformer", (5, 8), (
        TransformerEncoder(8, 2, 16, dropout=0.1, activation="gelu", norm_first=True, layer_norm_eps=1e-6),
        TransformerEncoder(8, 4, 12, dropout=0.2, activation="relu", norm_first=False, layer_norm_eps=1e-5),
        GlobalAveragePool1D(), Dense(3))),
}


def _inputs(model: ModelSpec, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.input_dtype == "int32":
        vocab = next(layer.vocab_size for layer in model.layers if isinstance(layer, Embedding))
        return rng.integers(0, vocab, (n, *model.input_shape)).astype(np.int32)
    return rng.standard_normal((n, *model.input_shape)).astype(np.float32)


def _labels(model: ModelSpec, task: TaskSpec, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if task.is_classification:
        return rng.integers(0, model.output_shape[-1], n).astype(np.int32)
    return rng.standard_normal((n, 1)).astype(np.float32)


def _assert_matches_reference(adapter: JaxAdapter, model: ModelSpec, weights: dict, x: np.ndarray) -> None:
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    ref = forward(model, weights, x)
    assert out.shape == ref.shape == (len(x), *model.output_shape)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    assert np.abs(out - ref).max() <= tol, f"{model.name}: max |jax - reference| {np.abs(out - ref).max():.3g}"


def test_registry_matches_adapter() -> None:
    info = get_backend("jax")
    assert (JaxAdapter.name, JaxAdapter.modes, JaxAdapter.default_mode) == (info.name, info.modes, info.default_mode)


@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_primitive_builds_and_matches_reference(kind: str) -> None:
    assert kind in CONFORMANCE, f"jax backend: no conformance model for primitive {kind!r}"
    model = CONFORMANCE[kind]
    assert any(layer.kind == kind for layer in model.layers)
    weights = init_weights(model, seed=3)
    adapter = JaxAdapter("jit", device="cpu")
    adapter.build(model, CE_TASK, weights)
    assert adapter.trainable_param_count() == param_count(model)
    x = _inputs(model, 6)
    _assert_matches_reference(adapter, model, weights, x)
    loss = adapter.to_numpy(adapter.train_step(adapter.put(x, _labels(model, CE_TASK, 6))))
    assert np.isfinite(loss)


@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_workload(name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = init_weights(model, seed=0)
    adapter = JaxAdapter()
    adapter.build(model, task, weights)
    assert adapter.trainable_param_count() == param_count(model)
    got = adapter.get_weights()
    assert list(got) == list(weights)
    assert all(got[k].dtype == np.float32 and np.array_equal(got[k], weights[k]) for k in weights)
    x = _inputs(model, 8)
    _assert_matches_reference(adapter, model, weights, x)
    # training: the dropout-free model, so the loss on a fixed batch must fall
    plain = model.without_dropout()
    adapter.build(plain, task, weights)
    batch = adapter.put(x, _labels(model, task, 8))
    losses = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(6)]
    assert all(np.isfinite(losses)) and min(losses[1:]) < losses[0], f"{name}: losses {losses}"
    assert adapter._train._cache_size() == 1  # one trace for a repeated shape
    adapter.set_weights(weights)  # resets weights and optimizer state: the first step repeats exactly
    assert float(adapter.to_numpy(adapter.train_step(batch))) == pytest.approx(losses[0], rel=1e-6)


def test_first_loss_is_before_update_and_sgd_step_is_exact() -> None:
    model = ModelSpec("lin", (4,), (Dense(2),))
    task = TaskSpec("synthetic", "mse", OptimizerSpec("sgd", 0.1), batch_size=8, epochs=1, metrics=("mse",))
    weights = init_weights(model, seed=1)
    x = _inputs(model, 8)
    y = np.random.default_rng(2).standard_normal((8, 2)).astype(np.float32)
    adapter = JaxAdapter(device="cpu")
    adapter.build(model, task, weights)
    loss = float(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    w, b = weights["0.kernel"].astype(np.float64), weights["0.bias"].astype(np.float64)
    err = x @ w + b - y
    assert loss == pytest.approx(np.mean(err**2), rel=1e-5)
    grad_out = 2 * err / err.size
    new = adapter.get_weights()
    np.testing.assert_allclose(new["0.kernel"], w - 0.1 * x.T @ grad_out, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(new["0.bias"], b - 0.1 * grad_out.sum(0), rtol=1e-5, atol=1e-6)


def test_cross_entropy_loss_matches_numpy() -> None:
    model = CONFORMANCE["dense"]
    weights = init_weights(model, seed=2)
    x, y = _inputs(model, 8), _labels(model, CE_TASK, 8)
    adapter = JaxAdapter()
    adapter.build(model, CE_TASK, weights)
    loss = float(adapter.to_numpy(adapter.train_step(adapter.put(x, y))))
    logits = forward(model, weights, x)
    peak = logits.max(1, keepdims=True)
    logp = logits - peak - np.log(np.exp(logits - peak).sum(1, keepdims=True))
    assert loss == pytest.approx(-logp[np.arange(8), y].mean(), rel=1e-5)


def test_dropout_is_inverted_and_only_in_training() -> None:
    x = jax.numpy.ones((200, 500))
    dropped = np.asarray(dropout(x, 0.3, jax.random.key(0)))
    np.testing.assert_allclose(np.unique(dropped), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((dropped == 0).mean() - 0.3) < 0.01
    assert dropout(x, 0.3, None) is x
    model = CONFORMANCE["dropout"]
    weights = init_weights(model, seed=0)
    x_np, y_np = _inputs(model, 8), _labels(model, CE_TASK, 8)
    adapter = JaxAdapter()
    adapter.build(model, CE_TASK, weights)
    batch = adapter.put(x_np, y_np)
    first = adapter.to_numpy(adapter.predict(batch))
    np.testing.assert_array_equal(first, adapter.to_numpy(adapter.predict(batch)))
    adapter.build(model.without_dropout(), CE_TASK, weights)
    plain_loss = float(adapter.to_numpy(adapter.train_step(batch)))
    adapter.build(model, CE_TASK, weights)
    assert float(adapter.to_numpy(adapter.train_step(batch))) != pytest.approx(plain_loss, rel=1e-6)


def test_max_pool_matches_flax_values_and_first_max_gradient() -> None:
    from flax import nnx

    x = jax.numpy.asarray(np.random.default_rng(0).integers(0, 3, (2, 9, 8, 3)).astype(np.float32))  # many ties
    w = jax.numpy.asarray(np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32))

    def ours(v: jax.Array) -> jax.Array:
        return (max_pool(v, 3, 2, (1, 2)) * w).sum()

    def flax_pool(v: jax.Array) -> jax.Array:
        return (nnx.max_pool(v, (3, 3), (2, 2), "VALID") * w).sum()

    assert float(ours(x)) == float(flax_pool(x))
    np.testing.assert_array_equal(np.asarray(jax.grad(ours)(x)), np.asarray(jax.grad(flax_pool)(x)))


def test_reports_and_unsupported() -> None:
    adapter = JaxAdapter(device="cpu")
    adapter.build(CONFORMANCE["dense"], CE_TASK, init_weights(CONFORMANCE["dense"], 0))
    stats = adapter.memory_stats()
    assert stats["device_peak_bytes"] is None and stats["device_peak_reason"]
    info = adapter.device_info()
    assert info["device"] == "cpu" and info["framework_version"] == jax.__version__
    settings = adapter.settings()
    assert settings["compiled"] is True and settings["xla"] is True and settings["layout"] == "NHWC"
    assert settings["mode"] == "jit" and settings["precision"] == "fp32" and "threads" in settings
    adapter.synchronize()
    with pytest.raises(Unsupported):
        JaxAdapter(precision="fp16")
    with pytest.raises(Unsupported):
        JaxAdapter(mode="eager")
    with pytest.raises(ValueError):
        adapter.set_weights({})
    bad = dataclasses.replace(CE_TASK, optimizer=OptimizerSpec("sgd", 0.1, momentum=0.9))
    adapter.build(CONFORMANCE["dense"], bad, init_weights(CONFORMANCE["dense"], 0))  # SGD with momentum builds


def test_bf16_keeps_fp32_master_weights_and_optimizer_state() -> None:
    """Internals behind tests/test_bf16.py: params and Adam moments stay float32; the settings name the dtypes."""
    workload = get_workload("mnist_cnn")
    adapter = JaxAdapter(precision="bf16")
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    x = _inputs(workload.model, 8)
    adapter.train_step(adapter.put(x, _labels(workload.model, workload.task, 8)))
    assert all(p.dtype == jax.numpy.float32 for p in adapter._params)
    assert all(leaf.dtype == jax.numpy.float32 for leaf in jax.tree.leaves(adapter._opt_state)
               if jax.numpy.issubdtype(leaf.dtype, jax.numpy.floating))
    settings = adapter.settings()
    assert (settings["compute_dtype"], settings["param_dtype"], settings["loss_dtype"]) == \
        ("bfloat16", "float32", "float32")


@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_bf16_every_workload_stays_close_to_reference(name: str) -> None:
    """bf16 runs every layer kind (token ids stay int32, LSTM, attention, regression) with fp32 outputs and loss."""
    workload = get_workload(name)
    model, task = workload.model.without_dropout(), workload.task
    weights = init_weights(model, seed=0)
    adapter = JaxAdapter(precision="bf16", device="cpu")
    adapter.build(model, task, weights)
    x = _inputs(model, 8)
    out = adapter.predict(adapter.put(x))
    ref = forward(model, weights, x)
    assert out.dtype == jax.numpy.float32
    assert np.abs(adapter.to_numpy(out) - ref).max() < 5e-2 * max(1.0, float(np.abs(ref).max()))
    loss = adapter.train_step(adapter.put(x, _labels(model, task, 8)))
    assert loss.dtype == jax.numpy.float32 and np.isfinite(float(adapter.to_numpy(loss)))
    assert all(w.dtype == np.float32 for w in adapter.get_weights().values())


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn", "rowmnist_lstm", "text_transformer"])
def test_counted_flops_match_spec_and_change_nothing(name: str) -> None:
    """XLA's cost analysis counts what the spec counts (dot/conv, 2 FLOPs per multiply-add) plus 1 FLOP per element
    of every element-wise op, so its forward count sits just above the spec's; observed XLA/spec per sample:
    mnist_mlp 1.001 (bias adds, relu), mnist_cnn 1.023 (bias+relu on the conv maps, and the max-pools' 3 maximum,
    3 compare and 3 select per output), rowmnist_lstm 1.013 (gate arithmetic; 0.40 if the scan were not unrolled for
    counting: XLA counts a while-loop body once), text_transformer 1.035 (softmax, layer norms, residuals)."""
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = init_weights(model, seed=0)
    adapter = JaxAdapter(device="cpu")
    adapter.build(model, task, weights)
    x, y = _inputs(model, 4), _labels(model, task, 4)
    counted = adapter.counted_flops(x, y)
    assert 1.0 <= counted["forward_flops"] / 4 / forward_flops(model) < 1.15, counted
    assert counted["train_flops"] is not None and counted["train_flops"] > counted["forward_flops"]
    assert counted["counter"].startswith("XLA cost_analysis")
    assert all(np.array_equal(v, weights[k]) for k, v in adapter.get_weights().items())  # nothing trained
    batch = adapter.put(x, y)
    loss = float(adapter.to_numpy(adapter.train_step(batch)))
    fresh = JaxAdapter(device="cpu")
    fresh.build(model, task, weights)
    assert loss == float(fresh.to_numpy(fresh.train_step(batch)))  # same key and optimizer state as a fresh build
    np.testing.assert_array_equal(adapter.get_weights()[next(iter(weights))], fresh.get_weights()[next(iter(weights))])


def _eval_loss(adapter: JaxAdapter, x: np.ndarray, y: np.ndarray) -> float:
    out = adapter.to_numpy(adapter.predict(adapter.put(x))).astype(np.float64)
    out -= out.max(-1, keepdims=True)
    logp = out - np.log(np.exp(out).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


@pytest.mark.parametrize(("name", "n", "batch_size"), [("mnist_mlp", 500, 64), ("mnist_cnn", 200, 32)])
def test_idiomatic_epoch_trains(name: str, n: int, batch_size: int) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    adapter = JaxAdapter(device="cpu")
    adapter.build(model, task, init_weights(model, seed=0))
    x, y = _inputs(model, n), _labels(model, task, n)
    before = _eval_loss(adapter, x[:64], y[:64])
    results = [adapter.idiomatic_epoch(x, y, batch_size, seed=epoch) for epoch in range(2)]
    for result in results:
        assert result["steps"] == n // batch_size and result["samples"] == (n // batch_size) * batch_size
        assert result["seconds"] > 0 and "device_put" in result["pipeline"]
    after = _eval_loss(adapter, x[:64], y[:64])
    assert np.isfinite(after) and after < before, (before, after)
    assert adapter._train._cache_size() == 1  # fixed batch shapes: one trace


def test_idiomatic_epoch_shuffle_is_seeded() -> None:
    model = CONFORMANCE["dense"]
    x, y = _inputs(model, 40), _labels(model, CE_TASK, 40)
    runs = []
    for seed in (7, 7, 8):
        adapter = JaxAdapter(device="cpu")
        adapter.build(model, CE_TASK, init_weights(model, seed=0))
        assert adapter.idiomatic_epoch(x, y, 8, seed)["steps"] == 5
        runs.append(adapter.get_weights()["1.kernel"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_peak_matmul_is_none_on_cpu() -> None:
    assert JaxAdapter(device="cpu").peak_matmul() is None


@pytest.mark.gpu
def test_peak_matmul_on_gpu() -> None:
    if jax.default_backend() != "gpu":
        pytest.skip("jax sees no GPU")
    peak = JaxAdapter(device="gpu").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "HIGHEST" in peak["method"]
