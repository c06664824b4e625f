"""The measurement protocol, once for every backend: train for the budget, evaluate, then time steady state."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from backends.base import Adapter, Unsupported
from common.stats import percentiles_ms, summarize
from harness import metrics
from harness.batching import effective_batch_size, epoch_batches, padded_chunks
from harness.selftest import judge_trials, require_clock
from harness.timing import TrialPlan, latencies, throughput_trials, timed_call
from suites.data.dataset import Dataset
from suites.params import init_weights, param_count
from suites.spec import TaskSpec, Workload


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


def predict_all(adapter: Adapter, x: np.ndarray, batch_size: int) -> np.ndarray:
    """Outputs for every row of `x`, in fixed-shape chunks (the last padded, then trimmed)."""
    outs = []
    for idx, real in padded_chunks(len(x), batch_size):
        outs.append(adapter.to_numpy(adapter.predict(adapter.put(x[idx])))[:real])
    return np.concatenate(outs)


def _quality(adapter: Adapter, task: TaskSpec, data: Dataset, batch_size: int) -> dict[str, Any]:
    outputs = predict_all(adapter, data.x_test, batch_size)
    return metrics.evaluate(task.is_classification, data.y_test, outputs, data.num_classes, task.metrics)


def train(adapter: Adapter, workload: Workload, task: TaskSpec, data: Dataset, eval_each_epoch: bool
          ) -> dict[str, Any]:
    """Train for `task.epochs` on the shared batch order; the curve, epoch times, first-step time, time-to-target."""
    bs = effective_batch_size(task.batch_size, len(data.x_train))
    curve, epoch_s, first_step_s, train_s, time_to_target = [], [], None, 0.0, None
    for epoch in range(task.epochs):
        losses = []
        start = time.perf_counter()
        for idx in epoch_batches(len(data.x_train), bs, task.seed, epoch):
            batch = adapter.put(data.x_train[idx], data.y_train[idx])
            if first_step_s is None:
                first_step_s, loss = timed_call(adapter, lambda b=batch: adapter.train_step(b))
            else:
                loss = adapter.train_step(batch)
            losses.append(loss)
        adapter.synchronize(losses[-1] if losses else None)
        seconds = time.perf_counter() - start
        train_s += seconds
        epoch_s.append(seconds)
        mean_loss = float(np.mean([float(adapter.to_numpy(v)) for v in losses]))
        if not math.isfinite(mean_loss):
            raise Diverged(f"training loss is {mean_loss} in epoch {epoch + 1}")
        point: dict[str, Any] = {"epoch": epoch + 1, "train_loss": mean_loss, "epoch_s": seconds, "train_s": train_s}
        if eval_each_epoch or epoch == task.epochs - 1:
            quality = _quality(adapter, task, data, bs)
            point.update({k: v for k, v in quality.items() if k != "confusion_matrix"})
            target = task.target
            if target and time_to_target is None and quality.get(target.metric, -math.inf) >= target.value:
                time_to_target = train_s
        curve.append(point)
    return {"curve": curve, "epoch_s": epoch_s, "first_step_s": first_step_s, "train_s": train_s,
            "time_to_target_s": time_to_target, "batch_size": bs}


Phase = Callable[[str], None]


def _no_phase(name: str) -> None:
    return None


def steady_state(adapter: Adapter, data: Dataset, batch_size: int, plan: TrialPlan,
                 latency_batch_sizes: tuple[int, ...], on_phase: Phase = _no_phase) -> dict[str, Any]:
    """Train and inference throughput on one device-resident fixed batch, and single-call latencies."""
    bs = effective_batch_size(batch_size, len(data.x_train))
    idx = np.arange(bs) % len(data.x_train)
    train_batch = adapter.put(data.x_train[idx], data.y_train[idx])
    train = throughput_trials(adapter, lambda: adapter.train_step(train_batch), bs, plan, on_phase, "train",
                              adapter.to_numpy)
    infer_x = adapter.put(data.x_test[np.arange(bs) % len(data.x_test)])
    infer = throughput_trials(adapter, lambda: adapter.predict(infer_x), bs, plan, on_phase, "infer",
                              adapter.to_numpy)
    clock = {what: judge_trials(r["trial_s"], r["fetch_after_s"], r["steps_per_trial"])
             for what, r in (("train", train), ("infer", infer))}
    for what, result in clock.items():
        require_clock(result, f"{what} clock self-test")
    on_phase("latency")
    latency: dict[str, Any] = {}
    for lbs in latency_batch_sizes:
        x = adapter.put(data.x_test[np.arange(lbs) % len(data.x_test)])
        calls = latencies(adapter, lambda x=x: adapter.predict(x), plan)
        latency[str(lbs)] = {**percentiles_ms(calls), "raw_ms": [c * 1e3 for c in calls]}
    return {"train": {**summarize(train["samples_per_s"]), "steps_per_trial": train["steps_per_trial"],
                      "warmup_s": train["warmup_s"], "batch_size": bs, "samples": train["samples"]},
            "infer": {**summarize(infer["samples_per_s"]), "steps_per_trial": infer["steps_per_trial"],
                      "warmup_s": infer["warmup_s"], "batch_size": bs, "samples": infer["samples"]},
            "latency_ms": latency, "clock_selftest": clock}


def idiomatic_epoch(adapter: Adapter, data: Dataset, task: TaskSpec) -> dict[str, Any]:
    """End-to-end epoch time with the framework's own input pipeline (a separate, labelled figure), or the reason."""
    bs = effective_batch_size(task.batch_size, len(data.x_train))
    try:
        result = adapter.idiomatic_epoch(data.x_train, data.y_train, bs, task.seed)
    except Unsupported as exc:
        return {"seconds": None, "samples_per_s": None, "pipeline": None, "reason": str(exc)}
    return {**result, "samples_per_s": result["samples"] / result["seconds"] if result["seconds"] else None,
            "reason": None}


def run_protocol(adapter: Adapter, workload: Workload, task: TaskSpec, data: Dataset, plan: TrialPlan,
                 latency_batch_sizes: tuple[int, ...] = (1,), eval_each_epoch: bool = True,
                 on_phase: Phase = _no_phase) -> dict[str, Any]:
    """Build from the shared initial weights, train, evaluate and time; everything a record needs from the run."""
    on_phase("build")
    start = time.perf_counter()
    adapter.build(workload.model, task, init_weights(workload.model, task.seed))
    build_s = time.perf_counter() - start
    on_phase("fit")
    trained = train(adapter, workload, task, data, eval_each_epoch)
    on_phase("evaluate")
    quality = _quality(adapter, task, data, trained["batch_size"])
    timing = steady_state(adapter, data, task.batch_size, plan, latency_batch_sizes, on_phase)
    on_phase("idiomatic_epoch")
    timing["idiomatic_epoch"] = idiomatic_epoch(adapter, data, task)
    on_phase("done")
    step_s = trained["batch_size"] / timing["train"]["median"] if timing["train"]["median"] else None
    first = trained["first_step_s"]
    compile_s = max(0.0, first - step_s) if first is not None and step_s is not None else None
    return {"quality": quality, "curve": trained["curve"], "time_to_target_s": trained["time_to_target_s"],
            "timing": {"build_s": build_s, "first_step_s": first, "compile_s": compile_s,
                       "train_epoch_s": trained["epoch_s"], "train_s": trained["train_s"], **timing},
            "params": param_count(workload.model), "params_native": adapter.trainable_param_count()}
