"""Seed 000: the Keras CNN (conv32 → pool → conv64 → pool → conv64 → dense 64 → 10) on MNIST, offline."""

from suites.layers import Conv2D, Dense, Flatten, MaxPool2D
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload

ORDER = 30  # position in listings and suites


def model_for(input_shape: tuple[int, int, int]) -> ModelSpec:
    """The seed's CNN for a (H, W, C) input."""
    return ModelSpec("keras_cnn", input_shape, (
        Conv2D(32, 3, activation="relu"), MaxPool2D(2),
        Conv2D(64, 3, activation="relu"), MaxPool2D(2),
        Conv2D(64, 3, activation="relu"),
        Flatten(), Dense(64, "relu"), Dense(10)))


def workload() -> Workload:
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=8,
                    target=QualityTarget("accuracy", 0.95))
    return Workload("keras_cnn", "conv32 → pool → conv64 → pool → conv64 → dense 64 → dense 10, Adam",
                    "seed 000 (Keras Sequential CNN)", model_for((28, 28, 1)), task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(8),
                    notes="The seed trains on CIFAR-10 (32×32×3): use keras_cnn_cifar10 with the network.",
                    tags=("image", "cnn"))

