"""Seed 000: the Keras CNN on its own dataset, CIFAR-10 (32×32×3); needs the network once (then cached)."""

from suites.models.keras_cnn import model_for
from suites.spec import Budget, OptimizerSpec, TaskSpec, Workload

ORDER = 90  # position in listings and suites


def workload() -> Workload:
    task = TaskSpec("cifar10", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=128, epochs=10,
                    test_fraction=1 / 6)
    return Workload("keras_cnn_cifar10", "the seed 000 CNN on CIFAR-10 (download)", "seed 000",
                    model_for((32, 32, 3)), task, smoke=Budget(1, train_limit=1024, eval_limit=512),
                    standard=Budget(10), tags=("image", "cnn"), online=True)
