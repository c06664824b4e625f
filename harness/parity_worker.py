"""Child process of `run_bench.py parity`: one backend's outputs and training losses from the shared weights."""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from pathlib import Path
from typing import Any

import numpy as np

from backends.registry import load_adapter_class
from harness.batching import epoch_batches
from suites.data.registry import load_dataset
from suites.params import init_weights
from suites.registry import get_workload
from suites.spec import OptimizerSpec, TaskSpec

PARITY_BATCH = 32
TRAIN_STEPS = 10
PARITY_SGD = OptimizerSpec("sgd", learning_rate=0.05)


def parity_inputs(workload_name: str) -> tuple[Any, TaskSpec, np.ndarray, np.ndarray, np.ndarray]:
    """The dropout-free model, its task, a fixed evaluation batch and the training rows (real data)."""
    workload = get_workload(workload_name)
    task = workload.task
    data = load_dataset(task.dataset, task.seed, task.test_fraction)
    n = min(PARITY_BATCH, len(data.x_train))
    return workload.model.without_dropout(), task, data.x_test[:n], data.x_train, data.y_train


def _losses(adapter: Any, model: Any, task: TaskSpec, optimizer: OptimizerSpec, x: np.ndarray,
            y: np.ndarray) -> list[float]:
    """Mean batch losses of TRAIN_STEPS steps from the shared initial weights, on the shared batch order."""
    adapter.build(model, dataclasses.replace(task, optimizer=optimizer), init_weights(model, task.seed))
    batch = min(PARITY_BATCH, len(x))
    order = epoch_batches(len(x), batch, task.seed, 0)
    losses = []
    for step in range(TRAIN_STEPS):
        idx = order[step % len(order)]
        losses.append(float(adapter.to_numpy(adapter.train_step(adapter.put(x[idx], y[idx])))))
    return losses


def run_workload(backend: str, mode: str, workload_name: str) -> dict[str, Any]:
    """Outputs, parameter counts and loss curves (SGD and the task's optimizer) for one workload."""
    model, task, x_eval, x_train, y_train = parity_inputs(workload_name)
    adapter = load_adapter_class(backend)(mode, "fp32", "cpu")
    adapter.build(model, task, init_weights(model, task.seed))
    outputs = adapter.to_numpy(adapter.predict(adapter.put(x_eval)))
    return {"params_native": adapter.trainable_param_count(), "outputs": np.asarray(outputs, np.float64).tolist(),
            "losses_sgd": _losses(adapter, model, task, PARITY_SGD, x_train, y_train),
            "losses_task": _losses(adapter, model, task, task.optimizer, x_train, y_train)}


def main(argv: list[str]) -> int:
    backend, mode, out_path, workloads = argv[0], argv[1], Path(argv[2]), argv[3:]
    results: dict[str, Any] = {}
    for name in workloads:
        try:
            results[name] = run_workload(backend, mode, name)
        except Exception as exc:  # noqa: BLE001 - reported per workload
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": "".join(traceback.format_exc().splitlines(True)[-15:])}
    out_path.write_text(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
