"""Your own model, one file: a small CNN on the bundled MNIST-5k digits, written once in the neutral spec.

Run it through parity and every backend (see README, "Your own model"):
    .venv/bin/python run_bench.py parity --workload-file examples/my_model.py
    .venv/bin/python run_bench.py run --suite smoke --workload-file examples/my_model.py
The file needs only `workload()` returning a suites.spec.Workload whose name is not taken; ORDER is optional.
"""

from suites.layers import Conv2D, Dense, Dropout, Flatten, MaxPool2D
from suites.spec import Budget, ModelSpec, OptimizerSpec, QualityTarget, TaskSpec, Workload


def workload() -> Workload:
    """conv 8 (3×3, relu) → 2×2 max pool → flatten → dense 32 relu → dropout 0.1 → dense 10, Adam."""
    model = ModelSpec("my_small_cnn", (28, 28, 1), (  # per-sample input, channels last
        Conv2D(8, 3, activation="relu"), MaxPool2D(2),  # 26×26×8 → 13×13×8: widths are inferred
        Flatten(), Dense(32, "relu"), Dropout(0.1), Dense(10)))
    task = TaskSpec("mnist5k", "cross_entropy", OptimizerSpec("adam", 1e-3), batch_size=64, epochs=3,
                    target=QualityTarget("accuracy", 0.90))
    return Workload("my_small_cnn", "conv8 → pool → dense 32 → dropout 0.1 → dense 10, Adam",
                    "examples/my_model.py (the README's worked example)", model, task,
                    smoke=Budget(1, train_limit=1024, eval_limit=512), standard=Budget(3),
                    tags=("image", "cnn", "example"))
