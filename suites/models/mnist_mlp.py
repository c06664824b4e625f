"""Seed 003: the Keras MLP with dropout on MNIST (its `fit(train_data, train_data)` meant images and labels)."""

from suites.layers import Dense, Dropout, Flatten
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 10  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("mnist_mlp", (28, 28, 1), (
        Flatten(), Dense(128, "relu"), Dropout(0.2), Dense(10)))
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=5,
                    target=QualityTarget("accuracy", 0.90))
    return Workload("mnist_mlp", "flatten → dense 128 relu → dropout 0.2 → dense 10, Adam",
                    "seed 003 (Keras Sequential MLP)", model, task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(5),
                    tags=("image", "mlp"))
