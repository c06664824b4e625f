"""The report's environment section: one MFU denominator per (device, precision), each named with its kernel."""

from __future__ import annotations

from typing import Any

from reports.html_sections import environment
from reports.palette import Palette


def _record(backend: str, precision: str, flops: float, method: str) -> dict[str, Any]:
    return {"cell": {"workload": "w", "backend": backend, "mode": "m", "precision": precision}, "status": "ok",
            "device_info": {"device": "cpu"}, "efficiency": {"peak_flops_per_s": flops, "peak_method": method}}


def test_each_device_and_precision_shows_its_own_shared_peak() -> None:
    records = [_record("torch", "fp32", 2.194e11, "tensorflow matmul fp32"),
               _record("jax", "fp32", 2.194e11, "tensorflow matmul fp32"),
               _record("torch", "bf16", 4.436e11, "torch.mm bf16")]
    peak = environment({"run_id": "r"}, records, Palette())["peak"]
    assert peak == ("cpu/bf16: 444 GFLOP/s (torch.mm bf16); cpu/fp32: 219 GFLOP/s (tensorflow matmul fp32)")
