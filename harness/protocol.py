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
from harness.batching import effective_batch_size, epoch_batches, padded_chunks, steady_rows
from harness.selftest import judge_trials, require_clock
from harness.timing import TrialPlan, latencies, throughput_trials, timed_call
from suites.data.dataset import Dataset
from suites.params import init_weights, param_count
from suites.spec import TaskSpec, Workload


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


def predict_all(adapter: Adapter, x: np.ndarray, batch_size: int) -> tuple[np.ndarray, float]:
    """Outputs for every row of `x`, in fixed-shape chunks (the last padded, then trimmed); and the seconds of the
    first chunk's predict call, synchronised (its input already on the device)."""
    outs, first_call_s = [], math.nan
    for n, (idx, real) in enumerate(padded_chunks(len(x), batch_size)):
        chunk = adapter.put(x[idx])
        if n == 0:
            first_call_s, out = timed_call(adapter, lambda c=chunk: adapter.predict(c))
        else:
            out = adapter.predict(chunk)
        outs.append(adapter.to_numpy(out)[:real])
    return np.concatenate(outs), first_call_s


def _quality(adapter: Adapter, task: TaskSpec, x: np.ndarray, y: np.ndarray, num_classes: int | None,
             batch_size: int) -> tuple[dict[str, Any], float]:
    """The task's metrics on (x, y), and the seconds of the first predict call that produced them."""
    outputs, first_call_s = predict_all(adapter, x, batch_size)
    return metrics.evaluate(task.is_classification, y, outputs, num_classes, task.metrics), first_call_s


def train(adapter: Adapter, workload: Workload, task: TaskSpec, data: Dataset, eval_each_epoch: bool
          ) -> dict[str, Any]:
    """Train for `task.epochs` on the shared batch order; the curve, epoch times, first-step time, time-to-target.

    Curve points and time-to-target are judged on the validation split (`val_<metric>`); the test split is not read.
    The first evaluation holds the first predict call after build: its seconds are `infer_first_call_s`.
    """
    if data.x_val is None or data.y_val is None:
        raise ValueError("train() needs a validation split: Dataset.with_validation(fraction, seed)")
    bs = effective_batch_size(task.batch_size, len(data.x_train))
    curve, epoch_s, first_step_s, train_s, time_to_target = [], [], None, 0.0, None
    infer_first_call_s: float | None = None
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
            quality, call_s = _quality(adapter, task, data.x_val, data.y_val, data.num_classes, bs)
            infer_first_call_s = call_s if infer_first_call_s is None else infer_first_call_s
            point.update({f"val_{k}": v for k, v in quality.items() if k != "confusion_matrix"})
            target = task.target
            if target and time_to_target is None and quality.get(target.metric, -math.inf) >= target.value:
                time_to_target = train_s
        curve.append(point)
    return {"curve": curve, "epoch_s": epoch_s, "first_step_s": first_step_s, "train_s": train_s,
            "time_to_target_s": time_to_target, "batch_size": bs, "infer_first_call_s": infer_first_call_s}


Phase = Callable[[str], None]


def _no_phase(name: str) -> None:
    return None


def steady_state(adapter: Adapter, data: Dataset, batch_size: int, plan: TrialPlan,
                 latency_batch_sizes: tuple[int, ...], on_phase: Phase = _no_phase) -> dict[str, Any]:
    """Train and inference throughput on one device-resident fixed batch, and single-call latencies."""
    bs = effective_batch_size(batch_size, len(data.x_train))
    idx, infer_idx = steady_rows(len(data.x_train), len(data.x_test), bs)
    train_batch = adapter.put(data.x_train[idx], data.y_train[idx])
    train = throughput_trials(adapter, lambda: adapter.train_step(train_batch), bs, plan, on_phase, "train",
                              adapter.to_numpy)
    infer_x = adapter.put(data.x_test[infer_idx])
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


def _compile_s(first_call_s: float | None, batch_size: int, samples_per_s: float | None) -> float | None:
    """First call minus the steady per-call seconds at the same batch size (never below 0), or None."""
    if first_call_s is None or not samples_per_s:
        return None
    return max(0.0, first_call_s - batch_size / samples_per_s)


def run_protocol(adapter: Adapter, workload: Workload, task: TaskSpec, data: Dataset, plan: TrialPlan,
                 latency_batch_sizes: tuple[int, ...] = (1,), eval_each_epoch: bool = True,
                 on_phase: Phase = _no_phase) -> dict[str, Any]:
    """Build from the shared initial weights, train, evaluate and time; everything a record needs from the run.

    The validation split is carved here (task.validation_fraction, seeded), so `dataset` in the result holds the
    sizes the run used. Compile seconds: the first train step / predict call minus its steady per-call time.
    """
    data = data.with_validation(task.validation_fraction, task.seed)
    on_phase("build")
    start = time.perf_counter()
    adapter.build(workload.model, task, init_weights(workload.model, task.seed))
    build_s = time.perf_counter() - start
    on_phase("fit")
    trained = train(adapter, workload, task, data, eval_each_epoch)
    on_phase("evaluate")
    quality, _ = _quality(adapter, task, data.x_test, data.y_test, data.num_classes, trained["batch_size"])
    timing = steady_state(adapter, data, task.batch_size, plan, latency_batch_sizes, on_phase)
    if plan.idiomatic_epoch:
        on_phase("idiomatic_epoch")
        timing["idiomatic_epoch"] = idiomatic_epoch(adapter, data, task)
    else:
        timing["idiomatic_epoch"] = {"seconds": None, "samples_per_s": None, "pipeline": None,
                                     "reason": "not measured: the trial plan leaves the idiomatic epoch out"}
    on_phase("done")
    bs, first, infer_first = trained["batch_size"], trained["first_step_s"], trained["infer_first_call_s"]
    return {"quality": quality, "curve": trained["curve"], "time_to_target_s": trained["time_to_target_s"],
            "dataset": data.summary(),
            "timing": {"build_s": build_s, "first_step_s": first,
                       "compile_s": _compile_s(first, bs, timing["train"]["median"]),
                       "infer_first_call_s": infer_first,
                       "infer_compile_s": _compile_s(infer_first, timing["infer"]["batch_size"],
                                                     timing["infer"]["median"]),
                       "train_epoch_s": trained["epoch_s"], "train_s": trained["train_s"], **timing},
            "params": param_count(workload.model), "params_native": adapter.trainable_param_count()}
