"""FLOPs per sample, achieved FLOP/s and MFU of a finished cell against the device's calibrated matmul peak."""

from __future__ import annotations

from typing import Any

from harness.calibrate import cpu_peak
from suites.flops import forward_flops, train_flops
from suites.spec import ModelSpec


def efficiency(model: ModelSpec, timing: dict[str, Any], device: str,
               gpu_peak: dict[str, Any] | None) -> dict[str, Any]:
    """Spec FLOPs, achieved FLOP/s (train and infer medians) and MFU; MFU None with a reason if no peak is known."""
    fwd, trn = forward_flops(model), train_flops(model)
    train_rate = (timing.get("train") or {}).get("median")
    infer_rate = (timing.get("infer") or {}).get("median")
    out: dict[str, Any] = {"forward_flops_per_sample": fwd, "train_flops_per_sample": trn,
                           "achieved_train_flops_per_s": trn * train_rate if train_rate else None,
                           "achieved_infer_flops_per_s": fwd * infer_rate if infer_rate else None}
    peak = cpu_peak() if device == "cpu" else gpu_peak
    if not peak:
        out.update(peak_flops_per_s=None, peak_method=None, mfu_train=None, mfu_infer=None,
                   mfu_reason=f"no calibrated matmul peak for device {device!r}")
        return out
    p = peak["peak_flops_per_s"]
    out.update(peak_flops_per_s=p, peak_method=peak["method"], mfu_reason=None,
               mfu_train=out["achieved_train_flops_per_s"] / p if out["achieved_train_flops_per_s"] else None,
               mfu_infer=out["achieved_infer_flops_per_s"] / p if out["achieved_infer_flops_per_s"] else None)
    return out
