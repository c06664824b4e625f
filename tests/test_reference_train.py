"""The float64 reference training step is right: its gradient matches central finite differences of the reference
loss on a tiny model of every layer kind, and its SGD / Adam steps follow the formulas they claim."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from suites import layers as L
from suites.layers import LAYER_KINDS
from suites.params import Weights, init_weights, param_shapes, split_state
from suites.reference_train import (
    AdamState,
    adam_step,
    batch_loss,
    forward_train,
    loss_and_grad,
    loss_grad_state,
    sgd_step,
    train,
)
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec
from tests.conftest import inputs, labels

SGD = OptimizerSpec("sgd", learning_rate=0.05)
CLASSIFY = TaskSpec("synthetic", "cross_entropy", SGD, batch_size=4, epochs=1)
REGRESS = TaskSpec("synthetic", "mse", SGD, batch_size=4, epochs=1, metrics=("mse",))
FD_STEP = 1e-6
FD_RTOL = 1e-6
"""Central differences in float64 are exact to ~step² + rounding/step ≈ 1e-10 of the gradient's scale."""

TINY: dict[str, tuple[ModelSpec, TaskSpec]] = {
    "dense + activations": (ModelSpec("d", (5,), (
        L.Dense(6, "tanh"), L.Dense(6, "sigmoid"), L.Dense(6, "gelu"), L.Dense(4, use_bias=False),
        L.Activation("tanh"), L.Dropout(0.0), L.Dense(3))), CLASSIFY),
    "conv2d valid/same/stride + maxpool2d + flatten": (ModelSpec("c2", (7, 7, 2), (
        L.Conv2D(3, 3, padding="same", activation="tanh"), L.Conv2D(3, 3, stride=2, activation="gelu"),
        L.MaxPool2D(2, stride=1), L.Flatten(), L.Dense(3))), CLASSIFY),
    "conv1d + maxpool1d + global pools": (ModelSpec("c1", (9, 3), (
        L.Conv1D(4, 3, padding="same", activation="tanh"), L.Conv1D(4, 3, stride=2), L.MaxPool1D(2, stride=1),
        L.GlobalMaxPool1D(), L.Dense(2))), REGRESS),
    "conv1d + global average pool": (ModelSpec("c1a", (6, 2), (
        L.Conv1D(3, 2), L.GlobalAveragePool1D(), L.Dense(2))), CLASSIFY),
    "embedding + lstm (2 layers, sequences)": (ModelSpec("e", (5,), (
        L.Embedding(11, 4), L.LSTM(3, num_layers=2, return_sequences=True), L.LayerNorm(eps=1e-5),
        L.GlobalAveragePool1D(), L.Dense(3)), input_dtype="int32"), CLASSIFY),
    "positional + transformer (post- and pre-norm)": (ModelSpec("t", (4,), (
        L.Embedding(9, 8), L.PositionalEncoding(4),
        L.TransformerEncoder(8, 2, 12, dropout=0.0, activation="gelu"),
        L.TransformerEncoder(8, 2, 12, dropout=0.0, norm_first=True), L.GlobalAveragePool1D(), L.Dense(2)),
        input_dtype="int32"), REGRESS),
    "lstm last step": (ModelSpec("l", (4, 3), (L.LSTM(5), L.Dense(2))), CLASSIFY),
    "patch tokens + class token + learned positions + take token": (ModelSpec("v", (4, 4, 1), (
        L.Conv2D(6, 2, stride=2), L.Tokens(), L.ClassToken(), L.LearnedPositions(6),
        L.TransformerEncoder(6, 2, 8, dropout=0.0, activation="gelu_tanh", norm_first=True), L.TakeToken(0),
        L.Dense(3, "gelu_tanh"), L.Dense(2))), CLASSIFY),
    "tied LM head (the embedding table used twice) with and without bias": (ModelSpec("h", (5,), (
        L.Embedding(7, 6), L.TransformerEncoder(6, 2, 8, dropout=0.0, norm_first=True, causal=True), L.LayerNorm(),
        L.TiedHead(7, use_bias=True), L.Dense(6, "tanh"), L.TiedHead(7)), input_dtype="int32"), CLASSIFY),
    "causal transformer": (ModelSpec("g", (5,), (
        L.Embedding(7, 6), L.TransformerEncoder(6, 2, 8, dropout=0.0, norm_first=True, causal=True),
        L.GlobalAveragePool1D(), L.Dense(2)), input_dtype="int32"), CLASSIFY),
    "batch norm 2-D, 1-D on (L, C) and on features (training mode)": (ModelSpec("b", (4, 3, 2), (
        L.Conv2D(3, 2, activation="tanh"), L.BatchNorm(momentum=0.2, eps=1e-3), L.Tokens(), L.BatchNorm(),
        L.Flatten(), L.Dense(4), L.BatchNorm(momentum=0.05), L.Dense(3))), CLASSIFY),
    "zero pad + residual blocks (identity, projection stride 2; batch norms inside) + global average pool": (
        ModelSpec("r", (5, 6, 2), (
            L.ZeroPad2D(1), L.Conv2D(3, 3, use_bias=False),
            L.Residual((L.Conv2D(3, 3, padding="same", activation="tanh"), L.BatchNorm(momentum=0.2, eps=1e-3))),
            L.Residual((L.ZeroPad2D(1), L.Conv2D(4, 3, stride=2, use_bias=False), L.BatchNorm(), L.Activation("tanh"),
                        L.Conv2D(4, 3, padding="same"), L.BatchNorm(momentum=0.3)),
                       projection=True, stride=2, norm_momentum=0.2, norm_eps=1e-4),
            L.Activation("tanh"), L.GlobalAveragePool2D(), L.Dense(3))), CLASSIFY),
}


def _weights(model: ModelSpec) -> Weights:
    rng = np.random.default_rng(11)
    return {k: v.astype(np.float64) + rng.normal(0.0, 0.3, v.shape) for k, v in init_weights(model, 0).items()}


def _batch(model: ModelSpec, task: TaskSpec) -> tuple[np.ndarray, np.ndarray]:
    return inputs(model, 4, seed=2), labels(model, task, 4, seed=3)


def test_tiny_models_cover_every_layer_kind() -> None:
    covered = {layer.kind for model, _ in TINY.values() for layer in model.layers}
    assert covered == set(LAYER_KINDS)


@pytest.mark.parametrize("name", list(TINY))
def test_gradient_matches_central_differences(name: str) -> None:
    model, task = TINY[name]
    w = _weights(model)
    x, y = _batch(model, task)
    loss, grads = loss_and_grad(model, task, w, x, y)
    assert loss == pytest.approx(float(batch_loss(forward_train(model, w, x)[0], y, task.loss)), rel=1e-12)
    assert sorted(grads) == sorted(param_shapes(model))  # running statistics get no gradient
    for param, value in split_state(model, w)[0].items():
        numeric = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus, minus = {**w, param: value.copy()}, {**w, param: value.copy()}
            plus[param][index] += FD_STEP
            minus[param][index] -= FD_STEP
            numeric[index] = (loss_and_grad(model, task, plus, x, y)[0]
                              - loss_and_grad(model, task, minus, x, y)[0]) / (2 * FD_STEP)
        scale = max(float(np.max(np.abs(numeric))), 1e-3)
        rounding = 8 * np.finfo(np.float64).eps * max(abs(loss), 1.0) / FD_STEP  # a few ulps of the loss, over h
        assert float(np.max(np.abs(grads[param] - numeric))) <= FD_RTOL * scale + rounding, param


def test_losses_are_the_textbook_formulas() -> None:
    logits = np.array([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    expected = np.mean([np.log(np.exp(row).sum()) - row[c] for row, c in zip(logits, [1, 2], strict=True)])
    assert float(batch_loss(logits, np.array([1, 2]), "cross_entropy")) == pytest.approx(expected, rel=1e-14)
    assert float(batch_loss(logits, np.ones_like(logits), "mse")) == pytest.approx(np.mean((logits - 1) ** 2))


def test_sgd_and_adam_follow_their_formulas() -> None:
    w, g = {"0.kernel": np.array([1.0, -2.0])}, {"0.kernel": np.array([0.5, -0.25])}
    assert np.allclose(sgd_step(w, g, SGD)["0.kernel"], [1.0 - 0.025, -2.0 + 0.0125], rtol=0, atol=1e-15)
    adam = OptimizerSpec("adam", learning_rate=0.1, beta1=0.8, beta2=0.9, eps=1e-3)
    w1, state = adam_step(w, g, AdamState.zeros(w), adam)
    assert np.allclose(w1["0.kernel"], w["0.kernel"] - 0.1 * np.sign(g["0.kernel"]) * np.abs(g["0.kernel"])
                       / (np.abs(g["0.kernel"]) + 1e-3), rtol=0, atol=1e-15)  # step 1: m_hat = g, v_hat = g²
    w2, state = adam_step(w1, g, state, adam)
    m, v = 0.8 * 0.2 * g["0.kernel"] + 0.2 * g["0.kernel"], 0.9 * 0.1 * g["0.kernel"] ** 2 + 0.1 * g["0.kernel"] ** 2
    m_hat, v_hat = m / (1 - 0.8 ** 2), v / (1 - 0.9 ** 2)
    assert np.allclose(w2["0.kernel"], w1["0.kernel"] - 0.1 * m_hat / (np.sqrt(v_hat) + 1e-3), rtol=0, atol=1e-15)
    assert state.step == 2
    with pytest.raises(ValueError):
        sgd_step(w, g, dataclasses.replace(SGD, momentum=0.9))


def test_train_descends_and_refuses_dropout() -> None:
    model, task = TINY["dense + activations"]
    x, y = _batch(model, task)
    losses, _ = train(model, task, _weights(model), [(x, y)] * 5, SGD)
    assert losses[-1] < losses[0]
    with pytest.raises(ValueError, match="dropout-free"):
        loss_and_grad(ModelSpec("dd", (5,), (L.Dense(4), L.Dropout(0.5), L.Dense(3))), task,
                      init_weights(ModelSpec("dd", (5,), (L.Dense(4), L.Dropout(0.5), L.Dense(3))), 0), x, y)


def test_train_carries_the_running_statistics_and_leaves_them_out_of_the_optimizer() -> None:
    model, task = TINY["batch norm 2-D, 1-D on (L, C) and on features (training mode)"]
    w = _weights(model)
    w.update({k: np.abs(v) for k, v in w.items() if k.endswith("running_var")})  # a variance stays positive
    batches = [_batch(model, task), (inputs(model, 4, seed=7), labels(model, task, 4, seed=8))]
    adam = OptimizerSpec("adam", learning_rate=0.01)
    _, after_one = train(model, task, w, batches[:1], adam)
    _, after_two = train(model, task, w, batches, adam)
    params, state = split_state(model, after_two)
    assert sorted(state) == ["1.running_mean", "1.running_var", "3.running_mean", "3.running_var",
                             "6.running_mean", "6.running_var"]
    for start, trained, (x, y) in ((w, after_one, batches[0]), (after_one, after_two, batches[1])):
        expected = loss_grad_state(model, task, start, x, y)[2]  # each step's training-mode update, no Adam step
        for name in state:
            np.testing.assert_allclose(trained[name], expected[name], rtol=1e-12, err_msg=name)
    assert not np.allclose(params["7.kernel"], w["7.kernel"]) and not np.allclose(params["1.scale"], w["1.scale"])


def test_residual_blocks_update_the_running_statistics_inside_them() -> None:
    """Body BatchNorms and the projection's BatchNorm fold their batch statistics, named under the block's index."""
    model, task = TINY["zero pad + residual blocks (identity, projection stride 2; batch norms inside) + global "
                       "average pool"]
    w = _weights(model)
    w.update({k: np.abs(v) for k, v in w.items() if k.endswith("running_var")})
    x = inputs(model, 4, seed=2)
    _, state = forward_train(model, w, x)
    assert sorted(state) == sorted(split_state(model, w)[1]) == [
        "2.body.1.running_mean", "2.body.1.running_var", "3.body.2.running_mean", "3.body.2.running_var",
        "3.body.5.running_mean", "3.body.5.running_var", "3.proj_bn.running_mean", "3.proj_bn.running_var"]
    below = ModelSpec("below", model.input_shape, model.layers[:3])
    h, _ = forward_train(below, {k: v for k, v in w.items() if int(k.split(".")[0]) < 3}, x)
    proj = np.einsum("nhwc,co->nhwo", h[:, ::2, ::2], w["3.proj.kernel"][0, 0])
    mean, var = proj.mean(axis=(0, 1, 2)), proj.var(axis=(0, 1, 2))
    np.testing.assert_allclose(state["3.proj_bn.running_mean"], 0.8 * w["3.proj_bn.running_mean"] + 0.2 * mean)
    np.testing.assert_allclose(state["3.proj_bn.running_var"], 0.8 * w["3.proj_bn.running_var"] + 0.2 * var)
