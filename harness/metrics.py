"""Quality metrics from predictions, with scikit-learn."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn import metrics as skm


def classification(y_true: np.ndarray, logits: np.ndarray, num_classes: int) -> dict[str, Any]:
    """Accuracy, macro precision/recall/F1 and the confusion matrix (rows true, columns predicted)."""
    y_pred = np.asarray(logits).argmax(axis=-1)
    labels = list(range(num_classes))
    p, r, f1, _ = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, average="macro", zero_division=0)
    return {"accuracy": float(skm.accuracy_score(y_true, y_pred)), "precision_macro": float(p),
            "recall_macro": float(r), "f1_macro": float(f1),
            "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels).tolist()}


def regression(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MSE, MAE and R² (on the targets as the model sees them)."""
    y_true, y_pred = np.ravel(y_true), np.ravel(y_pred)
    return {"mse": float(skm.mean_squared_error(y_true, y_pred)), "mae": float(skm.mean_absolute_error(y_true, y_pred)),
            "r2": float(skm.r2_score(y_true, y_pred))}


def cross_entropy(y_true: np.ndarray, logits: np.ndarray) -> float:
    """Mean softmax cross-entropy of logits against integer labels (float64), over every label."""
    z = np.asarray(logits, np.float64).reshape(-1, np.shape(logits)[-1])
    y_true = np.ravel(y_true)
    z = z - z.max(axis=-1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-log_probs[np.arange(len(y_true)), np.asarray(y_true, int)].mean())


def language_model(y_true: np.ndarray, logits: np.ndarray) -> dict[str, Any]:
    """One label per position (next-token prediction): token accuracy, mean cross-entropy per token and its
    perplexity; macro scores and the confusion matrix (vocabulary²) are not computed."""
    loss = cross_entropy(y_true, logits)
    accuracy = float(np.mean(np.asarray(logits).argmax(axis=-1) == np.asarray(y_true)))
    return {"accuracy": accuracy, "loss": loss, "perplexity": float(np.exp(loss))}


def evaluate(is_classification: bool, y_true: np.ndarray, outputs: np.ndarray, num_classes: int | None,
             declared: tuple[str, ...]) -> dict[str, Any]:
    """The task's declared quality metrics (TaskSpec.metrics), plus the held-out loss (and, for classification,
    the confusion matrix every classification metric derives from)."""
    if is_classification and np.ndim(y_true) > 1:
        found = language_model(y_true, outputs)
    elif is_classification:
        assert num_classes is not None
        found = {**classification(y_true, outputs, num_classes), "loss": cross_entropy(y_true, outputs)}
    else:
        found = regression(y_true, outputs)
        found["loss"] = found["mse"]
    kept = (*declared, "loss", "confusion_matrix")
    return {name: value for name, value in found.items() if name in kept}
