"""Seed 001: the PyTorch CNN. Two 3×3 convs each followed by a 2×2 pool give 5×5×64 = 1600 features, not 9216."""

from suites.layers import Conv2D, Dense, Flatten, MaxPool2D
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 20  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("mnist_cnn", (28, 28, 1), (
        Conv2D(32, 3, activation="relu"), MaxPool2D(2),
        Conv2D(64, 3, activation="relu"), MaxPool2D(2),
        Flatten(), Dense(128, "relu"), Dense(10)))
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=8,
                    target=QualityTarget("accuracy", 0.95))
    return Workload("mnist_cnn", "conv32 → pool → conv64 → pool → dense 128 → dense 10, Adam",
                    "seed 001 (PyTorch CNN)", model, task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(8),
                    notes="The seed's fc1 is 9216 wide (one pool); with the two pools it applies, the width is 1600.",
                    tags=("image", "cnn"))
