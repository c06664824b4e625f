"""FLOPs per sample, achieved FLOP/s and MFU of a finished cell against the device's calibrated matmul peak."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from backends.base import Adapter, Unsupported
from harness.calibrate import cpu_peak
from suites.flops import forward_flops, train_flops
from suites.spec import ModelSpec


def efficiency(model: ModelSpec, timing: dict[str, Any], device: str,
               gpu_peak: dict[str, Any] | None, precision: str = "fp32") -> dict[str, Any]:
    """Spec FLOPs, achieved FLOP/s (train and infer medians) and MFU; MFU None with a reason if no peak is known
    for the device at this precision (the calibrated peaks are float32 GEMMs)."""
    fwd, trn = forward_flops(model), train_flops(model)
    train_rate = (timing.get("train") or {}).get("median")
    infer_rate = (timing.get("infer") or {}).get("median")
    out: dict[str, Any] = {"forward_flops_per_sample": fwd, "train_flops_per_sample": trn,
                           "achieved_train_flops_per_s": trn * train_rate if train_rate else None,
                           "achieved_infer_flops_per_s": fwd * infer_rate if infer_rate else None}
    peak = None if precision != "fp32" else cpu_peak() if device == "cpu" else gpu_peak
    if not peak:
        reason = (f"no calibrated matmul peak for device {device!r}" if precision == "fp32" else
                  f"no {precision} matmul peak calibrated: the float32 GEMM peak would overstate the utilisation of "
                  f"{precision} compute")
        out.update(peak_flops_per_s=None, peak_method=None, mfu_train=None, mfu_infer=None, mfu_reason=reason)
        return out
    p = peak["peak_flops_per_s"]
    out.update(peak_flops_per_s=p, peak_method=peak["method"], mfu_reason=None,
               mfu_train=out["achieved_train_flops_per_s"] / p if out["achieved_train_flops_per_s"] else None,
               mfu_infer=out["achieved_infer_flops_per_s"] / p if out["achieved_infer_flops_per_s"] else None)
    return out


COUNT_BATCH = 8
"""Samples in the batch the framework's FLOP counter sees (counts scale linearly with the batch)."""


def cross_check(adapter: Adapter, model: ModelSpec, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The framework's own FLOP count per sample beside the spec's, as ratios counted / spec; or the reason."""
    n = min(COUNT_BATCH, len(x))
    start = time.perf_counter()
    try:
        counted = adapter.counted_flops(x[:n], y[:n])
    except Unsupported as exc:
        return {"counter": None, "reason": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the cross-check is auxiliary: keep the measured cell, say why
        return {"counter": None, "reason": f"counter failed: {type(exc).__name__}: {exc}"}
    fwd = counted["forward_flops"] / n
    trn = counted["train_flops"] / n if counted.get("train_flops") is not None else None
    spec_fwd, spec_trn = forward_flops(model), train_flops(model)
    return {"counter": counted["counter"], "reason": None, "batch": n, "count_s": time.perf_counter() - start,
            "forward_flops_per_sample": fwd, "train_flops_per_sample": trn,
            "forward_ratio": fwd / spec_fwd if spec_fwd else None,
            "train_ratio": trn / spec_trn if trn is not None and spec_trn else None}
