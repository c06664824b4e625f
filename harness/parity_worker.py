"""Child process of `run_bench.py parity`: one backend's outputs, training losses and trained weights in one
(mode, precision, device), plus the short runs compared with the float64 reference training step (REFERENCE_RUNS).
For a model with running statistics (BatchNorm) also its training-mode outputs; its weights include the statistics.

`measure(backend, mode, case, precision, device)` is the measurement as a plain in-process function (the mutation
tests call it with planted bugs); `main` runs it per workload and writes JSON (outputs, losses, counts) plus an .npz
of the weights.
"""

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
from suites.params import Weights, init_weights, state_shapes
from suites.registry import get_workload
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec

PARITY_BATCH = 32
TRAIN_STEPS = 10
PARITY_SGD = OptimizerSpec("sgd", learning_rate=0.05)
WEIGHT_NOISE = 0.1
"""Std of the N(0, ·) noise added to every initial parameter, so no bias is 0 and no norm scale is 1."""

RUNS = ("sgd", "task")
"""The two training runs from the parity weights: plain SGD, then the task's own optimizer."""
REFERENCE_RUNS = {"ref_sgd": 1, "ref_adam": 3}
"""Runs from the parity weights compared with suites/reference_train.py: steps of plain SGD (the weights after one step
give the gradient, (w0 - w1) / lr) and of Adam (reference_adam)."""
DEFAULT_ADAM_LR = 1e-3
PROBE_PERTURBATION = 1e-7
"""A chaotic workload's probe (harness/parity_chaos.py): every parity weight scaled by 1 + this · N(0, 1), about one
float32 rounding."""
PROBE_RUNS = ("sgd", "task", "ref_adam")
"""The multi-step runs the probe repeats from the perturbed weights (stored as 'probe_<run>')."""


def reference_adam(task: TaskSpec) -> OptimizerSpec:
    """The task's optimizer if it is Adam, else Adam with OptimizerSpec's defaults (lr DEFAULT_ADAM_LR)."""
    return task.optimizer if task.optimizer.name == "adam" else OptimizerSpec("adam", learning_rate=DEFAULT_ADAM_LR)


def reference_optimizers(task: TaskSpec) -> dict[str, OptimizerSpec]:
    """The optimizer of each REFERENCE_RUNS run."""
    return {"ref_sgd": PARITY_SGD, "ref_adam": reference_adam(task)}


@dataclasses.dataclass(frozen=True)
class ParityCase:
    """One parity problem: the model as specified (outputs, eval mode), its dropout-free twin (training), data."""

    name: str
    model: ModelSpec
    task: TaskSpec
    weights: Weights
    x_eval: np.ndarray
    x_train: np.ndarray
    y_train: np.ndarray
    chaotic: bool = False
    """The workload declares chaotic training (Workload.chaotic_training): the worker also runs PROBE_RUNS from
    perturbed weights."""

    @property
    def train_model(self) -> ModelSpec:
        """The dropout-free model the training steps run (dropout masks differ per framework)."""
        return self.model.without_dropout()


def parity_weights(model: ModelSpec, seed: int) -> Weights:
    """The seeded initialisation plus N(0, WEIGHT_NOISE) on every array (float32): random biases and norm scales, and
    running statistics away from (0, 1) (a running variance stays positive: 1 + N(0, 0.1))."""
    rng = np.random.default_rng([seed, 7919])
    return {k: (v + rng.normal(0.0, WEIGHT_NOISE, v.shape)).astype(np.float32)
            for k, v in init_weights(model, seed).items()}


def parity_case(workload_name: str) -> ParityCase:
    """A registered workload's parity case: its parity weights, a fixed evaluation batch and its training rows."""
    workload = get_workload(workload_name)
    task = workload.task
    data = load_dataset(task.dataset, task.seed, task.test_fraction)
    n = min(PARITY_BATCH, len(data.x_train))
    return ParityCase(workload_name, workload.model, task, parity_weights(workload.model, task.seed),
                      data.x_test[:n], data.x_train, data.y_train, bool(workload.chaotic_training))


def probe_weights(case: ParityCase) -> Weights:
    """The parity weights, each scaled by 1 + PROBE_PERTURBATION · N(0, 1) (seeded): the chaos probe's start."""
    rng = np.random.default_rng([case.task.seed, 104729])
    return {k: (v * (1.0 + PROBE_PERTURBATION * rng.normal(size=v.shape))).astype(np.float32)
            for k, v in case.weights.items()}


def train_batches(case: ParityCase, steps: int) -> list[np.ndarray]:
    """The row indices of each of the first `steps` training batches (the shared order every run uses)."""
    order = epoch_batches(len(case.x_train), min(PARITY_BATCH, len(case.x_train)), case.task.seed, 0)
    return [order[step % len(order)] for step in range(steps)]


def _train(adapter: Any, case: ParityCase, optimizer: OptimizerSpec,
           steps: int = TRAIN_STEPS) -> tuple[list[float], Weights]:
    """Mean batch losses of `steps` steps from the parity weights on the shared batch order, and the weights
    after them (neutral layout)."""
    task = dataclasses.replace(case.task, optimizer=optimizer)
    adapter.build(case.train_model, task, case.weights)
    losses = []
    for idx in train_batches(case, steps):
        losses.append(float(adapter.to_numpy(adapter.train_step(adapter.put(case.x_train[idx], case.y_train[idx])))))
    return losses, {k: np.asarray(v, np.float32) for k, v in adapter.get_weights().items()}


def measure(backend: str, mode: str, case: ParityCase, precision: str = "fp32", device: str = "cpu") -> dict[str, Any]:
    """Eval-mode outputs of the model as specified, the trainable count, the device it ran on ('cpu', 'cuda'), and
    losses and final weights (with the running statistics) per run (RUNS, then REFERENCE_RUNS); for a model with
    running statistics also the dropout-free model's training-mode outputs (batch statistics) on the same batch; for a
    chaotic case also PROBE_RUNS from probe_weights."""
    adapter = load_adapter_class(backend)(mode, precision, device)
    adapter.build(case.model, case.task, case.weights)
    outputs = np.asarray(adapter.to_numpy(adapter.predict(adapter.put(case.x_eval))), np.float64)
    result: dict[str, Any] = {"params_native": adapter.trainable_param_count(), "outputs": outputs,
                              "device": str(adapter.device_info().get("device", device))}
    if state_shapes(case.model):
        adapter.build(case.train_model, case.task, case.weights)
        train_outputs = adapter.to_numpy(adapter.train_outputs(adapter.put(case.x_eval)))
        result["train_outputs"] = np.asarray(train_outputs, np.float64)
    optimizers = {**dict(zip(RUNS, (PARITY_SGD, case.task.optimizer), strict=True)), **reference_optimizers(case.task)}
    for run, optimizer in optimizers.items():
        steps = REFERENCE_RUNS.get(run, TRAIN_STEPS)
        result[f"losses_{run}"], result[f"weights_{run}"] = _train(adapter, case, optimizer, steps)
    if case.chaotic:
        probe = dataclasses.replace(case, weights=probe_weights(case))
        for run in PROBE_RUNS:
            steps = REFERENCE_RUNS.get(run, TRAIN_STEPS)
            result[f"losses_probe_{run}"], result[f"weights_probe_{run}"] = _train(adapter, probe, optimizers[run],
                                                                                 steps)
    return result


def _write(results: dict[str, dict[str, Any]], out_path: Path) -> None:
    """JSON of everything but the weights, and `<out>.npz` with "<workload>/<run>/<name>" weight arrays."""
    arrays: dict[str, np.ndarray] = {}
    plain: dict[str, dict[str, Any]] = {}
    for name, result in results.items():
        plain[name] = {}
        for key, value in result.items():
            if key.startswith("weights_"):
                arrays.update({f"{name}/{key}/{p}": a for p, a in value.items()})
            else:
                plain[name][key] = value.tolist() if isinstance(value, np.ndarray) else value
    np.savez(out_path.with_suffix(".npz"), **arrays)
    out_path.write_text(json.dumps(plain))


def read_results(out_path: Path) -> dict[str, dict[str, Any]]:
    """A worker's results as `measure` returns them (outputs as arrays, weights back from the .npz)."""
    results: dict[str, dict[str, Any]] = json.loads(out_path.read_text())
    for result in results.values():
        for key in ("outputs", "train_outputs"):
            if key in result:
                result[key] = np.asarray(result[key], np.float64)
    with np.load(out_path.with_suffix(".npz")) as arrays:
        for key in arrays.files:
            name, run, param = key.split("/", 2)
            results[name].setdefault(run, {})[param] = arrays[key]
    return results


def main(argv: list[str]) -> int:
    """argv: backend mode precision device out.json workload..."""
    backend, mode, precision, device, out_path, workloads = *argv[:4], Path(argv[4]), argv[5:]
    results: dict[str, Any] = {}
    for name in workloads:
        try:
            results[name] = measure(backend, mode, parity_case(name), precision, device)
        except Exception as exc:  # noqa: BLE001 - reported per workload
            results[name] = {"error": f"{type(exc).__name__}: {exc}",
                             "traceback": "".join(traceback.format_exc().splitlines(True)[-15:])}
    _write(results, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
