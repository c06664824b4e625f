"""One flat row per cell record: the export schema, the table source and the pandas loader's columns."""

from __future__ import annotations

import json
from typing import Any

FIELDS = (
    "run_id", "suite", "workload", "backend", "mode", "precision", "device", "status", "error", "sweep",
    "accuracy", "f1_macro", "precision_macro", "recall_macro", "loss", "perplexity", "confusion_matrix",
    "mse", "mae", "r2",
    "train_samples_per_s", "train_samples_per_s_ci_low", "train_samples_per_s_ci_high", "train_samples_per_s_cv",
    "train_samples_per_s_cv_between",
    "infer_samples_per_s", "infer_samples_per_s_ci_low", "infer_samples_per_s_ci_high", "infer_samples_per_s_cv",
    "infer_samples_per_s_cv_between", "processes", "tokens_per_sample", "train_tokens_per_s", "infer_tokens_per_s",
    "latency_ms_p50", "latency_ms_p90", "latency_ms_p99", "latency_ms_p99_reason",
    "compile_s", "first_step_s", "infer_compile_s", "infer_first_call_s", "train_s",
    "epoch_samples_per_s_idiomatic", "idiomatic_pipeline",
    "time_to_target_s", "host_peak_bytes", "host_baseline_bytes", "host_model_bytes",
    "memory_estimate_bytes", "memory_estimate_ratio",
    "device_peak_bytes", "device_peak_reason",
    "gpu_util_mean_pct", "gpu_util_max_pct", "gpu_energy_j", "gpu_energy_j_per_train_sample", "gpu_reason",
    "params", "params_native", "flops_per_sample", "achieved_flops_per_s", "mfu", "mfu_reason",
    "flops_counter", "flops_counted_train_ratio", "flops_counted_forward_ratio",
    "spec_hash", "git_sha", "git_dirty", "started_at", "wall_s",
)


def dig(data: Any, *path: str) -> Any:
    """data[path[0]][path[1]]... or None where a step is missing."""
    for key in path:
        if not isinstance(data, dict) or key not in data:
            return None
        data = data[key]
    return data


def measured_for_estimate(record: dict[str, Any]) -> int | None:
    """The measured figure the spec's memory estimate (suites/memory.py) is compared with: the framework's own device
    peak where the record has one (a GPU: its allocator holds exactly the training state), else the host peak RSS
    minus the framework's imported baseline (host_model_bytes: what the cell itself added; on a CPU the training
    state lives there, next to the dataset and compiled code, which the estimate does not count)."""
    device = dig(record, "memory", "device_peak_bytes")
    return device if device is not None else dig(record, "memory", "host_model_bytes")


def estimate_ratio(record: dict[str, Any]) -> float | None:
    """Measured (measured_for_estimate) over the estimated total bytes; None where either is missing."""
    measured, estimated = measured_for_estimate(record), dig(record, "memory_estimate", "total_bytes")
    if measured is None or not estimated:
        return None
    return measured / estimated


def flatten(record: dict[str, Any], run_id: str | None = None, suite: str | None = None) -> dict[str, Any]:
    """The export row of one record (missing measurements are None)."""
    cell, quality, timing = record.get("cell", {}), record.get("quality") or {}, record.get("timing") or {}
    error = record.get("error")
    latency = dig(timing, "latency_ms", "1") or {}
    row = {
        "run_id": run_id, "suite": suite, "workload": cell.get("workload"), "backend": cell.get("backend"),
        "mode": cell.get("mode"), "precision": cell.get("precision"),
        "device": dig(record, "device_info", "device"), "status": record.get("status"),
        "error": f"{error['type']}: {error['message']}" if error else None,
        "loss": quality.get("loss"),
        "confusion_matrix": json.dumps(quality["confusion_matrix"]) if "confusion_matrix" in quality else None,
        "train_samples_per_s": dig(timing, "train", "median"),
        "train_samples_per_s_ci_low": dig(timing, "train", "ci_low"),
        "train_samples_per_s_ci_high": dig(timing, "train", "ci_high"),
        "train_samples_per_s_cv": dig(timing, "train", "cv"),
        "train_samples_per_s_cv_between": dig(timing, "train", "cv_between"),
        "infer_samples_per_s_cv": dig(timing, "infer", "cv"),
        "infer_samples_per_s_cv_between": dig(timing, "infer", "cv_between"),
        "processes": len(record.get("repeats") or []) or (1 if record.get("status") else None),
        "latency_ms_p99_reason": latency.get("p99_reason"),
        "infer_samples_per_s": dig(timing, "infer", "median"),
        "infer_samples_per_s_ci_low": dig(timing, "infer", "ci_low"),
        "infer_samples_per_s_ci_high": dig(timing, "infer", "ci_high"),
        "latency_ms_p50": latency.get("p50"), "latency_ms_p90": latency.get("p90"),
        "latency_ms_p99": latency.get("p99"),
        "epoch_samples_per_s_idiomatic": dig(timing, "idiomatic_epoch", "samples_per_s"),
        "idiomatic_pipeline": dig(timing, "idiomatic_epoch", "pipeline") or dig(timing, "idiomatic_epoch", "reason"),
        "compile_s": timing.get("compile_s"), "first_step_s": timing.get("first_step_s"),
        "infer_compile_s": timing.get("infer_compile_s"), "infer_first_call_s": timing.get("infer_first_call_s"),
        "train_s": timing.get("train_s"), "time_to_target_s": record.get("time_to_target_s"),
        "host_peak_bytes": dig(record, "memory", "host_peak_bytes"),
        "host_baseline_bytes": dig(record, "memory", "host_baseline_bytes"),
        "host_model_bytes": dig(record, "memory", "host_model_bytes"),
        "memory_estimate_bytes": dig(record, "memory_estimate", "total_bytes"),
        "memory_estimate_ratio": estimate_ratio(record),
        "device_peak_bytes": dig(record, "memory", "device_peak_bytes"),
        "device_peak_reason": dig(record, "memory", "device_peak_reason"),
        "gpu_util_mean_pct": dig(record, "gpu", "util_mean_pct"),
        "gpu_util_max_pct": dig(record, "gpu", "util_max_pct"),
        "gpu_energy_j": dig(record, "gpu", "energy_j"),
        "gpu_energy_j_per_train_sample": dig(record, "gpu", "phases", "train", "energy_j_per_sample"),
        "gpu_reason": dig(record, "gpu", "reason") if record.get("gpu") else "cell did not finish",
        "flops_per_sample": dig(record, "efficiency", "train_flops_per_sample"),
        "achieved_flops_per_s": dig(record, "efficiency", "achieved_train_flops_per_s"),
        "mfu": dig(record, "efficiency", "mfu_train"),
        "mfu_reason": dig(record, "efficiency", "mfu_reason") if record.get("efficiency") else "cell did not finish",
        "flops_counter": dig(record, "efficiency", "framework_count", "counter")
        or dig(record, "efficiency", "framework_count", "reason"),
        "flops_counted_train_ratio": dig(record, "efficiency", "framework_count", "train_ratio"),
        "flops_counted_forward_ratio": dig(record, "efficiency", "framework_count", "forward_ratio"),
        "params": record.get("params"), "params_native": record.get("params_native"),
        "spec_hash": record.get("spec_hash"), "git_sha": record.get("git_sha"), "git_dirty": record.get("git_dirty"),
        "started_at": record.get("started_at"), "wall_s": record.get("wall_s"),
    }
    for metric in ("accuracy", "f1_macro", "precision_macro", "recall_macro", "perplexity", "mse", "mae", "r2"):
        row[metric] = quality.get(metric)
    tokens = record.get("tokens_per_sample")
    row["sweep"], row["tokens_per_sample"] = record.get("sweep"), tokens
    for phase in ("train", "infer"):
        per_s = row.get(f"{phase}_samples_per_s")
        row[f"{phase}_tokens_per_s"] = per_s * tokens if tokens and per_s is not None else None
    return {name: row.get(name) for name in FIELDS}
