"""Quality metrics: the task's declared metrics (TaskSpec.metrics) are what a record gets, checked against sklearn."""

import numpy as np
import pytest

from harness.metrics import evaluate
from suites.spec import CLASSIFICATION_METRICS, REGRESSION_METRICS


def test_classification_reports_the_declared_metrics_loss_and_confusion_matrix():
    y = np.array([0, 1, 1, 0, 1])
    logits = np.array([[2.0, 0.0], [0.0, 1.0], [1.0, 0.0], [3.0, 1.0], [0.0, 2.0]])
    everything = evaluate(True, y, logits, 2, CLASSIFICATION_METRICS)
    assert set(everything) == {*CLASSIFICATION_METRICS, "loss", "confusion_matrix"}
    assert everything["accuracy"] == pytest.approx(0.8)
    assert everything["confusion_matrix"] == [[2, 0], [1, 2]]
    assert set(evaluate(True, y, logits, 2, ("accuracy",))) == {"accuracy", "loss", "confusion_matrix"}


def test_regression_reports_the_declared_metrics_and_mse_as_loss():
    y, pred = np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.0, 2.0])
    found = evaluate(False, y, pred, None, ("r2",))
    assert set(found) == {"r2", "loss"}
    assert found["loss"] == pytest.approx((0.25 + 0 + 1) / 3)
    assert set(evaluate(False, y, pred, None, REGRESSION_METRICS)) == {*REGRESSION_METRICS, "loss"}
