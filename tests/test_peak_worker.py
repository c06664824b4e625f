"""The calibration's child process: one framework's own peak GEMM per precision, failures as reasons; on a GPU the
peak differs by precision and fp32 runs with TF32 off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import peak_worker
from harness.calibrate import gpu_identity
from harness.launch import finish, start_module
from tests.conftest import BACKEND_NAMES, require_backend


def run_child(tmp_path: Path, backend: str, device: str, precisions: list[str]) -> dict[str, Any]:
    """`python -m harness.peak_worker` as the calibration starts it; its results."""
    out, err = tmp_path / f"{backend}.json", tmp_path / f"{backend}.err"
    code = finish(start_module("harness.peak_worker", [backend, device, str(out), *precisions], err), 600)
    assert code == 0 and out.exists(), err.read_text()[-2000:]
    return json.loads(out.read_text())


def test_the_child_writes_each_precisions_peak(tmp_path: Path) -> None:
    require_backend("torch")
    result = run_child(tmp_path, "torch", "cpu", ["fp32"])
    assert result["fp32"]["peak_flops_per_s"] > 1e8 and "torch.mm float32" in result["fp32"]["method"]


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_a_device_the_backend_lacks_is_a_reason_not_a_crash(backend: str) -> None:
    require_backend(backend)
    if gpu_identity():
        pytest.skip("this machine has a GPU")
    result = peak_worker.measure(backend, "cuda", ["fp32", "bf16"])
    assert set(result) == {"fp32", "bf16"} and all(r["error"] for r in result.values())


def test_an_unknown_precision_fails_alone(backend: str) -> None:
    result = peak_worker.measure(backend, "cpu", ["fp8"])
    assert "fp8" in result["fp8"]["error"]


def _compute_capability() -> tuple[int, int]:
    import pynvml

    pynvml.nvmlInit()
    return tuple(pynvml.nvmlDeviceGetCudaComputeCapability(pynvml.nvmlDeviceGetHandleByIndex(0)))  # type: ignore


@pytest.mark.gpu
@pytest.mark.skipif(gpu_identity() is None, reason="no NVIDIA GPU / NVML on this machine")
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_gpu_peaks_differ_by_precision_and_fp32_has_tf32_off(tmp_path: Path, backend: str) -> None:
    require_backend(backend)
    peaks = run_child(tmp_path, backend, "cuda", ["fp32", "tf32", "bf16"])
    assert all(p.get("peak_flops_per_s") for p in peaks.values()), peaks
    fp32, tf32, bf16 = (peaks[p] for p in ("fp32", "tf32", "bf16"))
    assert fp32["tf32"] is False and tf32["tf32"] is True and fp32["peak_flops_per_s"] > 1e12, peaks
    if _compute_capability()[0] < 8:
        pytest.skip("no TF32/bf16 tensor cores before Ampere (sm_80)")
    assert tf32["peak_flops_per_s"] > 1.5 * fp32["peak_flops_per_s"], peaks  # TF32 tensor cores: off for fp32
    assert bf16["peak_flops_per_s"] > 1.5 * fp32["peak_flops_per_s"], peaks
