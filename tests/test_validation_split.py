"""The validation split: carved seeded from the training rows, never trained on, and the only data that per-epoch
curves and time-to-target read; the test split is read once, after training."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from harness.protocol import train
from suites.data.dataset import Dataset
from suites.spec import OptimizerSpec, QualityTarget, TaskSpec

CLASSES = 3


def _dataset(n_train: int = 200, n_test: int = 60) -> Dataset:
    """Rows whose first feature is a unique id (train 0.., test 10_000..) and whose second is a class."""
    x_train = np.stack([np.arange(n_train), np.arange(n_train) % CLASSES], axis=1).astype(np.float32)
    x_test = np.stack([10_000 + np.arange(n_test), np.arange(n_test) % CLASSES], axis=1).astype(np.float32)
    return Dataset("fake", x_train, x_train[:, 1].astype(np.int32), x_test, x_test[:, 1].astype(np.int32),
                   CLASSES, "constructed")


class _Recorder:
    """An adapter stand-in: predicts the class in feature 1 (so accuracy is exactly the labels' agreement with it)
    and records which row ids it trained and predicted on."""

    def __init__(self) -> None:
        self.trained: set[int] = set()
        self.predicted: set[int] = set()

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        return (x, y) if y is not None else x

    def train_step(self, batch: Any) -> float:
        self.trained |= {int(i) for i in batch[0][:, 0]}
        return 0.5

    def predict(self, x: np.ndarray) -> np.ndarray:
        self.predicted |= {int(i) for i in x[:, 0]}
        return np.eye(CLASSES, dtype=np.float32)[x[:, 1].astype(int)]

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(value)

    def synchronize(self, value: Any = None) -> None:
        return None


def _task(epochs: int = 3, target: QualityTarget | None = None) -> TaskSpec:
    return TaskSpec("fake", "cross_entropy", OptimizerSpec("sgd", 0.1), batch_size=16, epochs=epochs, target=target)


def test_carve_is_seeded_disjoint_and_complete() -> None:
    data = _dataset()
    a, b = data.with_validation(0.1, seed=0), data.with_validation(0.1, seed=0)
    assert a.x_val is not None and b.x_val is not None
    np.testing.assert_array_equal(a.x_val, b.x_val)  # the same rows for every backend's process
    val_ids, train_ids = set(a.x_val[:, 0].astype(int)), set(a.x_train[:, 0].astype(int))
    assert len(val_ids) == 20 and not val_ids & train_ids and val_ids | train_ids == set(range(200))
    assert val_ids != set(range(180, 200)) and val_ids != set(range(20))  # a permutation, not a slice
    other = data.with_validation(0.1, seed=1)
    assert other.x_val is not None and set(other.x_val[:, 0].astype(int)) != val_ids
    np.testing.assert_array_equal(a.y_val, a.x_val[:, 1].astype(np.int32))  # labels travel with their rows
    assert a.with_validation(0.5, seed=3) is a  # carving twice keeps the first carve


def test_summary_records_the_split_sizes() -> None:
    summary = _dataset().limited(100, 50).with_validation(0.1, seed=0).summary()
    assert (summary["n_train"], summary["n_val"], summary["n_test"]) == (90, 10, 50)
    assert summary["validation_fraction"] == 0.1 and summary["train_limit"] == 100
    assert "n_val" not in _dataset().summary()


def test_validation_rows_are_never_trained_on_and_test_rows_never_read() -> None:
    data = _dataset().with_validation(0.1, seed=0)
    adapter = _Recorder()
    result = train(adapter, None, _task(), data, eval_each_epoch=True)  # type: ignore[arg-type]
    assert data.x_val is not None
    val_ids = set(data.x_val[:, 0].astype(int))
    assert adapter.trained and not adapter.trained & val_ids
    assert adapter.predicted == val_ids  # evaluation during training reads validation rows only
    assert [sorted(p) for p in result["curve"]][0] == sorted(
        ["epoch", "train_loss", "epoch_s", "train_s", "val_accuracy", "val_f1_macro", "val_precision_macro",
         "val_recall_macro", "val_loss"])
    assert result["infer_first_call_s"] is not None and result["infer_first_call_s"] >= 0


def test_time_to_target_is_decided_on_validation_data() -> None:
    """Validation labels agree with the predictions, test labels never do: the target is met on validation only."""
    base = _dataset().with_validation(0.1, seed=0)
    wrong_test = (base.y_test + 1) % CLASSES
    data = Dataset(base.name, base.x_train, base.y_train, base.x_test, wrong_test, CLASSES, base.source, base.meta,
                   base.x_val, base.y_val)
    result = train(_Recorder(), None, _task(target=QualityTarget("accuracy", 0.9)), data,  # type: ignore[arg-type]
                   eval_each_epoch=True)
    assert result["curve"][0]["val_accuracy"] == 1.0
    assert result["time_to_target_s"] == pytest.approx(result["curve"][0]["train_s"])

    wrong_val = Dataset(base.name, base.x_train, base.y_train, base.x_test, base.y_test, CLASSES, base.source,
                        base.meta, base.x_val, (base.y_val + 1) % CLASSES)  # type: ignore[operator]
    result = train(_Recorder(), None, _task(target=QualityTarget("accuracy", 0.9)), wrong_val,  # type: ignore[arg-type]
                   eval_each_epoch=True)
    assert result["time_to_target_s"] is None  # a perfect test split does not count


def test_train_refuses_data_without_a_validation_split() -> None:
    with pytest.raises(ValueError, match="validation"):
        train(_Recorder(), None, _task(), _dataset(), eval_each_epoch=True)  # type: ignore[arg-type]


def test_validation_fraction_is_checked() -> None:
    from suites.errors import SpecError

    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(SpecError, match="validation_fraction"):
            TaskSpec("fake", "cross_entropy", OptimizerSpec("sgd", 0.1), 16, 1, validation_fraction=bad)
