"""FLOPs per sample, achieved FLOP/s and MFU of a finished cell against the shared calibrated matmul peak of its
(device, precision)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from backends.base import Adapter, Unsupported
from harness.calibrate import peak_precision
from suites.flops import forward_flops, train_flops
from suites.spec import ModelSpec


def peak_fields(peak: dict[str, Any] | None, device: str, precision: str) -> dict[str, Any]:
    """The efficiency dict's peak_* fields from the shared peak of the cell's (device, precision), with mfu_reason
    set where there is no usable one (none calibrated, or a peak of another precision)."""
    wanted = peak_precision(device, precision)
    reason = None
    if peak is None or wanted is None:
        reason = (f"no calibrated {precision} matmul peak for device {device!r}" +
                  ("; run `run_bench.py calibrate`" if wanted else ""))
    elif peak.get("precision", "fp32") != wanted:  # a peak without a precision is a float32 GEMM
        reason = (f"no {precision} matmul peak calibrated: the {peak.get('precision', 'fp32')} GEMM peak would "
                  f"misstate the utilisation of {precision} compute")
    elif not peak.get("peak_flops_per_s"):
        reason = peak.get("reason") or f"no framework measured a {wanted} matmul peak on {device!r}"
    if reason:
        return {"peak_flops_per_s": None, "peak_method": None, "peak_backend": None, "peak_source": None,
                "peak_measured_at": None, "peak_precision": wanted, "mfu_reason": reason}
    assert peak is not None
    per_backend = peak.get("per_backend") or {}
    return {"peak_flops_per_s": peak["peak_flops_per_s"], "peak_method": peak["method"],
            "peak_backend": peak.get("best_backend"), "peak_measured_at": peak.get("measured_at"),
            "peak_precision": wanted, "mfu_reason": None,
            "peak_source": {b: r.get("peak_flops_per_s") or r.get("error") for b, r in per_backend.items()} or None}


def efficiency(model: ModelSpec, timing: dict[str, Any], device: str, peak: dict[str, Any] | None,
               precision: str = "fp32") -> dict[str, Any]:
    """Spec FLOPs, achieved FLOP/s (train and infer medians) and MFU against `peak`, the shared calibrated peak of
    the cell's (device, precision) (harness.calibrate.cached_peak); MFU None with the reason where there is none, or
    where the cell itself beats that peak (`peak_exceeded`: the run then marks the cached peak stale)."""
    fwd, trn = forward_flops(model), train_flops(model)
    train_rate = (timing.get("train") or {}).get("median")
    infer_rate = (timing.get("infer") or {}).get("median")
    out: dict[str, Any] = {"forward_flops_per_sample": fwd, "train_flops_per_sample": trn,
                           "achieved_train_flops_per_s": trn * train_rate if train_rate else None,
                           "achieved_infer_flops_per_s": fwd * infer_rate if infer_rate else None}
    out.update(peak_fields(peak, device, precision))
    p = out["peak_flops_per_s"]
    out["mfu_train"] = out["achieved_train_flops_per_s"] / p if p and out["achieved_train_flops_per_s"] else None
    out["mfu_infer"] = out["achieved_infer_flops_per_s"] / p if p and out["achieved_infer_flops_per_s"] else None
    best = max((r for r in (out["achieved_train_flops_per_s"], out["achieved_infer_flops_per_s"]) if r), default=0.0)
    out["peak_exceeded"] = bool(p and best > p)
    if out["peak_exceeded"]:  # a peak below what a cell does is no peak: it was measured low (a loaded machine)
        out.update(mfu_train=None, mfu_infer=None, mfu_reason=(
            f"this cell's {best / 1e9:,.0f} GFLOP/s exceeds the calibrated peak {p / 1e9:,.0f} GFLOP/s (measured "
            f"{out['peak_measured_at']}): that peak was measured low, on a loaded machine or at too small a size; "
            "the next run measures it again (`run_bench.py calibrate --refresh` does now, on an idle machine)"))
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
