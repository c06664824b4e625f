"""Seed 004: linear regression by full-batch gradient descent (lr 0.1, 100 steps) on the diabetes data."""

from suites.layers import Dense
from suites.spec import REGRESSION_METRICS, Budget, ModelSpec, OptimizerSpec, TaskSpec, Workload

ORDER = 80  # position in listings and suites


def workload() -> Workload:
    model = ModelSpec("linear_regression", (10,), (Dense(1),))
    task = TaskSpec("diabetes", "mse", OptimizerSpec("sgd", 0.1), batch_size=100_000, epochs=100,
                    metrics=REGRESSION_METRICS)
    return Workload("linear_regression", "y = Xw + b by full-batch gradient descent, MSE; standardised features "
                    "and target", "seed 004 (gradient descent)", model, task,
                    smoke=Budget(100), standard=Budget(100), tags=("tabular", "regression"))
