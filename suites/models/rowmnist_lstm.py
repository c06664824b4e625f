"""Seed 001: the PyTorch RNN — a 2-layer LSTM over the 28 rows of each digit, last step → dense 10."""

from suites.layers import LSTM, Dense
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 40  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("rowmnist_lstm", (28, 28), (LSTM(128, num_layers=2), Dense(10)))
    task = TaskSpec("rowmnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=8,
                    target=QualityTarget("accuracy", 0.90))
    return Workload("rowmnist_lstm", "2-layer LSTM(128) over 28 rows of 28 pixels, last step → dense 10",
                    "seed 001 (PyTorch RNN)", model, task,
                    smoke=Budget(1, train_limit=512, eval_limit=256), standard=Budget(8),
                    tags=("sequence", "lstm"))
