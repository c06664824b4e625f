"""The torch backend against the neutral spec: every primitive, every offline workload, both modes, optimizer maths."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

from backends.base import Unsupported  # noqa: E402
from backends.registry import get_backend, load_adapter_class  # noqa: E402
from backends.torch.adapter import TorchAdapter  # noqa: E402
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

SGD_TASK = TaskSpec("synthetic", "cross_entropy", OptimizerSpec("sgd", 0.05, momentum=0.9), batch_size=8, epochs=1)

PRIMITIVE_MODELS: dict[str, ModelSpec] = {
    "dense": ModelSpec("p_dense", (6,), (Dense(5, "tanh"), Dense(3, use_bias=False))),
    "conv2d": ModelSpec("p_conv2d", (9, 8, 3), (
        Conv2D(4, 3, padding="same", activation="gelu"), Conv2D(5, 3, stride=2, activation="sigmoid"),
        Flatten(), Dense(3))),
    "maxpool2d": ModelSpec("p_maxpool2d", (9, 9, 2), (
        Conv2D(3, 2), MaxPool2D(3, stride=2), Dense(4), Flatten(), Dense(3))),
    "flatten": ModelSpec("p_flatten", (5, 4, 3), (Conv2D(4, 1), Flatten(), LayerNorm(), Dense(3))),
    "dropout": ModelSpec("p_dropout", (7,), (Dense(6, "relu"), Dropout(0.5), Dense(3))),
    "activation": ModelSpec("p_activation", (6, 6, 2), (
        Conv2D(3, 3), Activation("relu"), Activation("tanh"), Activation("gelu"), Activation("sigmoid"),
        Flatten(), Dense(3))),
    "embedding": ModelSpec("p_embedding", (7,), (Embedding(30, 6), GlobalAveragePool1D(), Dense(3)),
                           input_dtype="int32"),
    "conv1d": ModelSpec("p_conv1d", (12, 4), (
        Conv1D(8, 3, padding="same", activation="relu"), Conv1D(6, 2, stride=2), Flatten(), Dense(3))),
    "maxpool1d": ModelSpec("p_maxpool1d", (11, 3), (MaxPool1D(2), Conv1D(4, 2), MaxPool1D(3, stride=1), Flatten(),
                                                     Dense(3))),
    "global_maxpool1d": ModelSpec("p_gmax", (9,), (
        Embedding(30, 8), Conv1D(6, 3, activation="relu"), GlobalMaxPool1D(), Dense(3)), input_dtype="int32"),
    "global_avgpool1d": ModelSpec("p_gavg", (9, 5), (Dense(4), GlobalAveragePool1D(), Dense(3))),
    "lstm": ModelSpec("p_lstm", (10, 6), (
        LSTM(5, return_sequences=True), LSTM(4, num_layers=2), Dense(3))),
    "layernorm": ModelSpec("p_layernorm", (8, 6), (LayerNorm(1e-3), Conv1D(4, 3), GlobalMaxPool1D(), Dense(3))),
    "positional_encoding": ModelSpec("p_posenc", (10,), (
        Embedding(30, 8), PositionalEncoding(16, scale_input=False), PositionalEncoding(10), GlobalAveragePool1D(),
        Dense(3)), input_dtype="int32"),
    "transformer_encoder": ModelSpec("p_transformer", (10,), (
        Embedding(30, 8), TransformerEncoder(8, 2, 16, dropout=0.2, activation="gelu", norm_first=True,
                                             layer_norm_eps=1e-6),
        TransformerEncoder(8, 4, 12), GlobalMaxPool1D(), Dense(3)), input_dtype="int32"),
}


def _inputs(model: ModelSpec, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if model.input_dtype == "int32":
        vocab = next(layer.vocab_size for layer in model.layers if isinstance(layer, Embedding))
        return rng.integers(0, vocab, size=(n, *model.input_shape)).astype(np.int32)
    return rng.standard_normal((n, *model.input_shape)).astype(np.float32)


def _labels(model: ModelSpec, task: TaskSpec, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if task.is_classification:
        return rng.integers(0, model.output_shape[-1], size=n).astype(np.int32)
    return rng.standard_normal((n, *model.output_shape)).astype(np.float32)


def _noisy_weights(model: ModelSpec, seed: int = 3) -> dict[str, np.ndarray]:
    """init_weights plus noise, so zero biases and unit scales cannot hide a mapping mistake."""
    rng = np.random.default_rng(seed)
    return {k: (v + 0.1 * rng.standard_normal(v.shape)).astype(np.float32) for k, v in init_weights(model, 0).items()}


def _build(model: ModelSpec, task: TaskSpec, weights: dict[str, np.ndarray], mode: str = "eager") -> TorchAdapter:
    adapter = TorchAdapter(mode, device="cpu")
    adapter.build(model, task, weights)
    return adapter


def _assert_matches_reference(adapter: TorchAdapter, model: ModelSpec, weights: dict[str, np.ndarray],
                              x: np.ndarray) -> None:
    out = adapter.to_numpy(adapter.predict(adapter.put(x)))
    ref = forward(model, weights, x)
    assert out.shape == ref.shape == (len(x), *model.output_shape)
    tol = 1e-4 * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(out, ref, rtol=0, atol=tol)


def _assert_round_trip(adapter: TorchAdapter, weights: dict[str, np.ndarray]) -> None:
    got = adapter.get_weights()
    assert set(got) == set(weights)
    for name, value in weights.items():
        assert got[name].dtype == np.float32 and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=name)


# -- registry and contract ---------------------------------------------------------------------------------------

def test_registry_points_at_adapter() -> None:
    info = get_backend("torch")
    assert load_adapter_class("torch") is TorchAdapter
    assert TorchAdapter.modes == info.modes and TorchAdapter.default_mode == info.default_mode


def test_unsupported_requests() -> None:
    with pytest.raises(Unsupported):
        TorchAdapter("jit")
    with pytest.raises(Unsupported, match="fp16"):
        TorchAdapter("eager", precision="fp16")
    if not torch.cuda.is_available():
        with pytest.raises(Unsupported):
            TorchAdapter("eager", device="cuda")


def test_reporting_on_cpu() -> None:
    model = PRIMITIVE_MODELS["dense"]
    adapter = _build(model, SGD_TASK, init_weights(model, 0))
    mem = adapter.memory_stats()
    assert mem["device_peak_bytes"] is None and mem["device_peak_reason"]
    info = adapter.device_info()
    assert info["device"] == "cpu" and info["framework_version"] == torch.__version__ and info["device_name"]
    settings = adapter.settings()
    assert settings["threads"] == {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    assert settings["layout"] == "NCHW" and settings["compiled"] is False and settings["xla"] is False
    assert settings["tf32"] is None and settings["tf32_reason"] and settings["precision"] == "fp32"


# -- every primitive ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(LAYER_TYPES))
def test_primitive_builds_and_matches_reference(kind: str) -> None:
    model = PRIMITIVE_MODELS.get(kind)
    assert model is not None, f"no conformance model for primitive {kind!r}"
    assert any(layer.kind == kind for layer in model.layers)
    weights = _noisy_weights(model)
    adapter = _build(model, SGD_TASK, weights)
    assert adapter.trainable_param_count() == param_count(model)
    _assert_round_trip(adapter, weights)
    _assert_matches_reference(adapter, model, weights, _inputs(model, 5))
    loss = adapter.train_step(adapter.put(_inputs(model, 8), _labels(model, SGD_TASK, 8)))
    assert isinstance(loss, torch.Tensor) and loss.ndim == 0 and np.isfinite(adapter.to_numpy(loss))


# -- every offline workload --------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_workload(name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = _noisy_weights(model)
    adapter = _build(model, task, weights)
    assert adapter.trainable_param_count() == param_count(model)
    _assert_round_trip(adapter, weights)
    _assert_matches_reference(adapter, model, weights, _inputs(model, 6))

    adapter.set_weights(init_weights(model, 0))
    _assert_round_trip(adapter, init_weights(model, 0))
    batch = adapter.put(_inputs(model, 16, seed=5), _labels(model, task, 16))
    losses = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(12)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses


def test_loss_is_taken_before_the_update_and_set_weights_resets_optimizer() -> None:
    workload = get_workload("mnist_cnn")
    model, task = workload.model.without_dropout(), workload.task
    weights = _noisy_weights(model)
    x, y = _inputs(model, 8), _labels(model, task, 8)
    adapter = _build(model, task, weights)
    batch = adapter.put(x, y)
    first = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(3)]
    logits = forward(model, weights, x)
    logp = logits - logits.max(1, keepdims=True)
    logp = logp - np.log(np.exp(logp).sum(1, keepdims=True))
    np.testing.assert_allclose(first[0], -logp[np.arange(8), y].mean(), rtol=1e-5)
    adapter.set_weights(weights)  # Adam moments and step count start again
    again = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(3)]
    np.testing.assert_allclose(again, first, rtol=1e-5)


@pytest.mark.parametrize("opt", [OptimizerSpec("sgd", 0.1), OptimizerSpec("sgd", 0.05, momentum=0.8),
                                 OptimizerSpec("adam", 0.01, beta1=0.8, beta2=0.95, eps=1e-3)])
def test_optimizer_matches_numpy(opt: OptimizerSpec) -> None:
    """Three steps of MSE linear regression against hand-written SGD/momentum/Adam with the spec's constants."""
    model = ModelSpec("linreg", (4,), (Dense(1),))
    task = TaskSpec("synthetic", "mse", opt, batch_size=32, epochs=1, metrics=("mse",))
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((32, 4)).astype(np.float32), rng.standard_normal((32, 1)).astype(np.float32)
    w = {"0.kernel": rng.standard_normal((4, 1)).astype(np.float32), "0.bias": np.array([0.3], np.float32)}
    adapter = _build(model, task, w)
    batch = adapter.put(x, y)
    params = [w["0.kernel"].astype(np.float64), w["0.bias"].astype(np.float64)]
    state = [[np.zeros_like(p) for p in params] for _ in range(2)]
    for t in range(1, 4):
        err = x @ params[0] + params[1] - y
        grads = [2 * x.T @ err / err.size, 2 * err.sum(0) / err.size]
        for j, g in enumerate(grads):
            if opt.name == "sgd":
                state[0][j] = opt.momentum * state[0][j] + g if opt.momentum else g
                params[j] = params[j] - opt.learning_rate * state[0][j]
            else:
                state[0][j] = opt.beta1 * state[0][j] + (1 - opt.beta1) * g
                state[1][j] = opt.beta2 * state[1][j] + (1 - opt.beta2) * g * g
                m_hat, v_hat = state[0][j] / (1 - opt.beta1 ** t), state[1][j] / (1 - opt.beta2 ** t)
                params[j] = params[j] - opt.learning_rate * m_hat / (np.sqrt(v_hat) + opt.eps)
        loss = adapter.train_step(batch)
        np.testing.assert_allclose(float(adapter.to_numpy(loss)), float((err ** 2).mean()), rtol=1e-5)
    got = adapter.get_weights()
    np.testing.assert_allclose(got["0.kernel"], params[0], atol=1e-5)
    np.testing.assert_allclose(got["0.bias"], params[1], atol=1e-5)


def test_dropout_is_seeded_and_train_only() -> None:
    model = PRIMITIVE_MODELS["dropout"]
    weights = _noisy_weights(model)
    x, y = _inputs(model, 32), _labels(model, SGD_TASK, 32)
    runs = []
    for _ in range(2):
        adapter = _build(model, SGD_TASK, weights)
        runs.append([float(adapter.to_numpy(adapter.train_step(adapter.put(x, y)))) for _ in range(3)])
    assert runs[0] == runs[1]
    _assert_matches_reference(adapter, model, adapter.get_weights(), x)


# -- compile mode ------------------------------------------------------------------------------------------------

def test_compile_mode_mnist_mlp_without_recompiles() -> None:
    workload = get_workload("mnist_mlp")
    model, task = workload.model, workload.task
    weights = _noisy_weights(model)
    adapter = _build(model, task, weights, mode="compile")
    assert adapter.settings()["compiled"] is True
    x = _inputs(model, 16)
    _assert_matches_reference(adapter, model, weights, x)
    batch = adapter.put(x, _labels(model, task, 16))
    losses = [float(adapter.to_numpy(adapter.train_step(batch)))]
    probe = adapter.put(x)
    adapter.predict(probe)
    with torch._dynamo.config.patch(error_on_recompile=True):
        losses += [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(8)]
        adapter.predict(probe)
        adapter.set_weights(weights)  # in-place load and a new optimizer must not invalidate the compiled graphs
        adapter.train_step(batch)
        adapter.predict(probe)
    assert losses[-1] < losses[0], losses


# -- channels_last mode ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mnist_cnn", "keras_cnn"])
def test_channels_last_matches_reference_and_trains(name: str) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    weights = _noisy_weights(model)
    adapter = _build(model, task, weights, mode="channels_last")
    settings = adapter.settings()
    assert settings["layout"] == "NHWC (channels_last)" and settings["compiled"] is False
    convs = [m for m in adapter._net().modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    _assert_round_trip(adapter, weights)
    x = _inputs(model, 6)
    probe = adapter.put(x)
    assert probe.shape[1] == model.input_shape[-1] and probe.is_contiguous(memory_format=torch.channels_last)
    _assert_matches_reference(adapter, model, weights, x)
    assert not any(isinstance(layer, Dropout) for layer in model.layers)  # deterministic steps: compare with eager
    eager = _build(model, task, weights)
    batch_x, batch_y = _inputs(model, 16, seed=5), _labels(model, task, 16)
    batch, eager_batch = adapter.put(batch_x, batch_y), eager.put(batch_x, batch_y)
    losses = [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(12)]
    eager_losses = [float(eager.to_numpy(eager.train_step(eager_batch))) for _ in range(12)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0], losses
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-3)  # same maths, other kernels' rounding
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)  # the optimizer kept it
    _assert_matches_reference(adapter, model, adapter.get_weights(), x)


# -- idiomatic input pipeline and peak GEMM ----------------------------------------------------------------------

def _eval_loss(adapter: TorchAdapter, x: np.ndarray, y: np.ndarray) -> float:
    out = adapter.to_numpy(adapter.predict(adapter.put(x))).astype(np.float64)
    out -= out.max(-1, keepdims=True)
    logp = out - np.log(np.exp(out).sum(-1, keepdims=True))
    return float(-logp[np.arange(len(y)), y].mean())


@pytest.mark.parametrize(("name", "mode", "n", "batch_size"), [("mnist_mlp", "eager", 500, 64),
                                                                ("mnist_cnn", "channels_last", 200, 32)])
def test_idiomatic_epoch_trains(name: str, mode: str, n: int, batch_size: int) -> None:
    workload = get_workload(name)
    model, task = workload.model, workload.task
    adapter = _build(model, task, init_weights(model, 0), mode=mode)
    x, y = _inputs(model, n), _labels(model, task, n)
    before = _eval_loss(adapter, x[:64], y[:64])
    results = [adapter.idiomatic_epoch(x, y, batch_size, seed=epoch) for epoch in range(2)]
    for result in results:
        assert result["steps"] == n // batch_size and result["samples"] == (n // batch_size) * batch_size
        assert result["seconds"] > 0 and "DataLoader" in result["pipeline"]
    after = _eval_loss(adapter, x[:64], y[:64])
    assert np.isfinite(after) and after < before, (before, after)


def test_idiomatic_epoch_shuffle_is_seeded() -> None:
    model = PRIMITIVE_MODELS["dense"]
    x, y = _inputs(model, 40), _labels(model, SGD_TASK, 40)
    runs = []
    for seed in (7, 7, 8):
        adapter = _build(model, SGD_TASK, init_weights(model, 0))
        assert adapter.idiomatic_epoch(x, y, 8, seed)["steps"] == 5
        runs.append(adapter.get_weights()["1.kernel"])
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not np.array_equal(runs[0], runs[2])


def test_peak_matmul_is_none_on_cpu() -> None:
    assert TorchAdapter("eager", device="cpu").peak_matmul() is None


@pytest.mark.gpu
def test_peak_matmul_on_gpu() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    peak = TorchAdapter("eager", device="cuda").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "allow_tf32" in peak["method"]


def test_bf16_keeps_fp32_master_weights_and_optimizer_state() -> None:
    """Internals behind tests/test_bf16.py: autocast leaves parameters and Adam moments in float32."""
    from suites.params import init_weights
    from suites.registry import get_workload

    workload = get_workload("mnist_cnn")
    adapter = TorchAdapter("eager", precision="bf16")
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    rng = np.random.default_rng(0)
    adapter.train_step(adapter.put(rng.random((8, 28, 28, 1)).astype(np.float32),
                                   rng.integers(0, 10, 8).astype(np.int32)))
    assert all(p.dtype == torch.float32 for p in adapter.net.parameters())
    assert all(t.dtype == torch.float32 for state in adapter.optimizer.state.values() for t in state.values()
               if torch.is_tensor(t) and t.is_floating_point())
