"""The spec's memory estimate (suites/memory.py): exact byte counts worked out by hand for small models."""

from __future__ import annotations

import pytest

from suites.layers import (
    LSTM,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Embedding,
    Flatten,
    GlobalAveragePool1D,
    MaxPool2D,
    PositionalEncoding,
    TransformerEncoder,
)
from suites.memory import MemoryEstimate, estimate, human_bytes, optimizer_state_factor
from suites.registry import get_workload, offline_workloads
from suites.spec import REGRESSION_METRICS, ModelSpec, OptimizerSpec, TaskSpec

ADAM = OptimizerSpec("adam", 1e-3)


def _task(batch: int, optimizer: OptimizerSpec = ADAM, **kw: object) -> TaskSpec:
    return TaskSpec("mnist5k", "cross_entropy", optimizer, batch_size=batch, epochs=1, **kw)  # type: ignore[arg-type]


MLP = ModelSpec("mlp", (28, 28, 1), (Flatten(), Dense(128, "relu"), Dropout(0.2), Dense(10)))


def test_mlp_with_adam() -> None:
    # params: 784·128 + 128 = 100,480 and 128·10 + 10 = 1,290 → 101,770 → 407,080 bytes each for weights, gradients
    # activations per sample: flatten 0 (a view), dense 128, dropout 128, dense 10 = 266 → · 32 · 4 = 34,048
    # input batch: 32 · (784 features + 1 label) · 4 = 100,480
    got = estimate(MLP, _task(32), "fp32")
    assert got == MemoryEstimate(weights_bytes=407_080, gradients_bytes=407_080, optimizer_state_bytes=814_160,
                                 activations_bytes=34_048, attention_scores_bytes=0, input_batch_bytes=100_480,
                                 batch_size=32, precision="fp32")
    assert got.total_bytes == 407_080 * 2 + 814_160 + 34_048 + 100_480 == 1_762_848
    assert got.to_dict()["total_bytes"] == 1_762_848 and got.to_dict()["weights_bytes"] == 407_080


def test_mlp_optimizers_and_bf16() -> None:
    assert estimate(MLP, _task(32, OptimizerSpec("sgd", 0.1)), "fp32").optimizer_state_bytes == 0
    assert estimate(MLP, _task(32, OptimizerSpec("sgd", 0.1, momentum=0.9)), "fp32").optimizer_state_bytes == 407_080
    bf16 = estimate(MLP, _task(32), "bf16")  # bf16 activations; fp32 weights, gradients, moments and input
    assert (bf16.activations_bytes, bf16.weights_bytes, bf16.input_batch_bytes) == (17_024, 407_080, 100_480)
    assert estimate(MLP, _task(32), "tf32").total_bytes == 1_762_848


def test_conv_net_with_momentum() -> None:
    # conv 3×3×3→4: 112 params, output 6·6·4 = 144; pool → 3·3·4 = 36; flatten 0; dense 36→5: 185 params, output 5
    # 297 params → 1,188 bytes each for weights, gradients, momentum; activations (144 + 36 + 5) · 10 · 4 = 7,400
    # input batch: 10 · (8·8·3 + 1) · 4 = 7,720
    model = ModelSpec("cnn", (8, 8, 3), (Conv2D(4, 3, activation="relu"), MaxPool2D(2), Flatten(), Dense(5)))
    got = estimate(model, _task(10, OptimizerSpec("sgd", 0.1, momentum=0.9)), "fp32")
    assert (got.weights_bytes, got.gradients_bytes, got.optimizer_state_bytes) == (1_188, 1_188, 1_188)
    assert (got.activations_bytes, got.input_batch_bytes, got.total_bytes) == (7_400, 7_720, 18_684)


def test_batch_norm_running_statistics_are_weights_without_gradients() -> None:
    # conv 3×3×3→4: 112 params; batch norm over 4 channels: scale, bias (8 params) + running mean, var (8 state)
    # weights (112 + 8 + 8) · 4 = 512; gradients and Adam's moments from the 120 trainable: 480 and 960
    # activations (144 conv + 144 norm) · 2 · 4 = 2,304
    model = ModelSpec("bn", (8, 8, 3), (Conv2D(4, 3), BatchNorm()))
    got = estimate(model, TaskSpec("diabetes", "mse", ADAM, batch_size=2, epochs=1, metrics=REGRESSION_METRICS),
                   "fp32")
    assert (got.weights_bytes, got.gradients_bytes, got.optimizer_state_bytes) == (512, 480, 960)
    assert got.activations_bytes == 2_304


def _encoder_model(dropout: float) -> ModelSpec:
    return ModelSpec("enc", (6,), (Embedding(50, 8), PositionalEncoding(6),
                                   TransformerEncoder(8, num_heads=2, ff_dim=16, dropout=dropout),
                                   GlobalAveragePool1D(), Dense(3)), input_dtype="int32")


def test_transformer_encoder_counts_attention_scores() -> None:
    # params: embedding 50·8 = 400; encoder 4·8·8 + 4·8 (q, k, v, out) + 2·8·16 + 16 + 8 (ff) + 4·8 (norms) = 600;
    # dense 8·3 + 3 = 27 → 1,027 → 4,108 bytes each for weights and gradients, 8,216 for Adam's moments.
    # encoder per sample (T 6, D 8, F 16, H 2, dropout 0.1): 8·T·D = 384, 3·T·F = 288, scores 2·H·T·T = 144 → 816
    # activations per sample: embedding 48 + positions 48 + encoder 816 + pool 8 + dense 3 = 923 → · 4 · 4 = 14,768
    # input batch: 4 · (6 ids + 1 label) · 4 = 112
    got = estimate(_encoder_model(0.1), _task(4), "fp32")
    assert (got.weights_bytes, got.gradients_bytes, got.optimizer_state_bytes) == (4_108, 4_108, 8_216)
    assert (got.activations_bytes, got.attention_scores_bytes) == (14_768, 144 * 16)
    assert (got.input_batch_bytes, got.total_bytes) == (112, 31_312)
    # without dropout: no dropped copies of the probabilities and the feed-forward activation:
    # 384 + 2·96 + 72 = 648 per encoder sample → (48 + 48 + 648 + 8 + 3) · 16 = 12,080
    plain = estimate(_encoder_model(0.0), _task(4), "fp32")
    assert (plain.activations_bytes, plain.attention_scores_bytes) == (12_080, 72 * 16)


def test_scores_grow_with_the_square_of_the_sequence() -> None:
    def scores(length: int) -> int:
        model = ModelSpec("enc", (length, 8), (TransformerEncoder(8, num_heads=2, ff_dim=16, dropout=0.0),))
        return estimate(model, _task(1), "fp32").attention_scores_bytes

    assert scores(64) == 2 * 64 * 64 * 4 and scores(128) == 4 * scores(64)


def test_lstm_keeps_seven_states_per_unit_step_and_layer() -> None:
    # per sample: 5 steps · 2 layers · 7 · 4 units = 280, dense output 2 → 282 · 3 · 4 = 3,384
    model = ModelSpec("rnn", (5, 3), (LSTM(4, num_layers=2), Dense(2)))
    assert estimate(model, _task(3), "fp32").activations_bytes == 3_384


def test_regression_batch_is_capped_at_the_training_rows() -> None:
    model = ModelSpec("lin", (10,), (Dense(1),))
    task = TaskSpec("diabetes", "mse", OptimizerSpec("sgd", 0.1), batch_size=100_000, epochs=1,
                    metrics=REGRESSION_METRICS)
    full = estimate(model, task, "fp32")
    assert full.batch_size == 100_000 and full.input_batch_bytes == 100_000 * 11 * 4
    known = estimate(model, task, "fp32", train_rows=300)  # features 10 + target 1 per row
    assert (known.batch_size, known.input_batch_bytes, known.activations_bytes) == (300, 13_200, 1_200)
    limited = TaskSpec("diabetes", "mse", OptimizerSpec("sgd", 0.1), batch_size=100_000, epochs=1,
                       metrics=REGRESSION_METRICS, train_limit=256)
    assert estimate(model, limited, "fp32").batch_size == 230  # 256 rows less round(0.1 · 256) = 26 held out


def test_every_workload_has_an_estimate_that_grows_with_the_batch() -> None:
    for name in offline_workloads():
        workload = get_workload(name)
        small = estimate(workload.model, workload.task_for("standard", batch_size=8), "fp32")
        large = estimate(workload.model, workload.task_for("standard", batch_size=800), "fp32")
        assert small.weights_bytes == large.weights_bytes > 0, name
        assert large.activations_bytes == 100 * small.activations_bytes > 0, name


def test_describe_names_the_total_and_every_part() -> None:
    got = estimate(_encoder_model(0.1), _task(4), "fp32")
    text = got.describe()
    assert text.startswith("30.6 KiB (weights 4.0 KiB, gradients 4.0 KiB, optimizer state 8.0 KiB, ")
    assert "attention scores 2.2 KiB" in text and text.endswith("at batch 4, fp32")
    assert (human_bytes(41.2 * 2**30), human_bytes(3 * 2**20), human_bytes(512)) == ("41.2 GiB", "3.0 MiB", "512 B")


def test_bad_precision_and_unknown_optimizer_say_what_is_allowed() -> None:
    with pytest.raises(ValueError, match="precision: must be one of fp32, tf32, bf16, got 'fp8'"):
        estimate(MLP, _task(4), "fp8")
    with pytest.raises(ValueError, match="no memory rule for optimizer 'lion'"):
        optimizer_state_factor(_unvalidated_optimizer("lion"))


def _unvalidated_optimizer(name: str) -> OptimizerSpec:
    """An OptimizerSpec past its validation, as a future optimizer without a memory rule would be."""
    spec = OptimizerSpec("sgd", 0.1)
    object.__setattr__(spec, "name", name)
    return spec
