"""TF32 is set explicitly and alike in every backend: off for fp32 and bf16, on for tf32; real numerics under `gpu`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backends.pci import normalize_bus_id
from backends.registry import load_adapter_class
from tests.conftest import BACKEND_NAMES, require_backend

REPO = Path(__file__).resolve().parent.parent
FP32_REL_MAX = 1e-5
"""IEEE float32 against float64 on a K=4096 product: ~1e-7 relative (Frobenius); TF32's 10-bit mantissa gives ~5e-4."""
TF32_REL_MIN = 1e-4


def native_matmul(adapter: Any, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a @ b run by the adapter's framework on its device, as its steps would run it, back on the host."""
    if adapter.name == "torch":
        import torch

        return (torch.from_numpy(a).to(adapter.dev) @ torch.from_numpy(b).to(adapter.dev)).cpu().numpy()
    if adapter.name == "tensorflow":
        import tensorflow as tf

        with tf.device(adapter.tf_device):
            return tf.linalg.matmul(tf.constant(a), tf.constant(b)).numpy()
    import jax
    import jax.numpy as jnp

    put = [jax.device_put(m, adapter._device) for m in (a, b)]
    return np.asarray(jax.jit(adapter._traced(jnp.matmul))(*put))


def matmul_rel_error(backend: str, precision: str, device: str, n: int) -> float:
    """‖float32 a@b − float64 a@b‖ / ‖float64 a@b‖ for seeded n×n normal matrices, with the adapter's TF32 setting."""
    adapter = load_adapter_class(backend)(None, precision, device)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((n, n)).astype(np.float32) for _ in range(2))
    out = native_matmul(adapter, a, b).astype(np.float64)
    ref = a.astype(np.float64) @ b.astype(np.float64)
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def gpu_report(backend: str, precision: str) -> dict[str, Any]:
    """On the GPU: the 4096² matmul error, the adapter's settings and bus id, and the NVML handle opened by it."""
    from harness.monitors.gpu import NvmlSource

    adapter = load_adapter_class(backend)(None, precision, "cuda")
    bus_id = adapter.pci_bus_id()
    source = NvmlSource(0, bus_id)
    return {"rel_error": matmul_rel_error(backend, precision, "cuda", 4096), "settings": adapter.settings(),
            "bus_id": bus_id, "nvml_bus_id": source.bus_id(), "selection": source.selection,
            "device_info": adapter.device_info()}


def _has_cuda() -> bool:
    try:
        from harness.monitors.gpu import NvmlSource

        NvmlSource(0)
    except RuntimeError:
        return False
    return True


# -- CPU: the switch is recorded, and tf32 is fp32's arithmetic ------------------------------------------------------
@pytest.mark.parametrize("backend", BACKEND_NAMES)
@pytest.mark.parametrize(("precision", "tf32"), [("fp32", False), ("bf16", False), ("tf32", True)])
def test_settings_record_the_tf32_switch(backend: str, precision: str, tf32: bool) -> None:
    require_backend(backend)
    adapter = load_adapter_class(backend)(None, precision, "cpu")
    settings = adapter.settings()
    assert settings["tf32"] is tf32 and settings["tf32_effective"] is False
    assert "same arithmetic as fp32" in settings["tf32_reason"]
    assert adapter.pci_bus_id() is None and adapter.device_info()["pci_bus_id"] is None


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_the_frameworks_own_flags_follow_the_precision(backend: str) -> None:
    require_backend(backend)
    cls = load_adapter_class(backend)
    for precision, on in (("tf32", True), ("fp32", False), ("tf32", True), ("bf16", False)):
        cls(None, precision, "cpu")
        if backend == "torch":
            import torch

            assert torch.backends.cuda.matmul.allow_tf32 is on and torch.backends.cudnn.allow_tf32 is on
        elif backend == "tensorflow":
            import tensorflow as tf

            assert tf.config.experimental.tensor_float_32_execution_enabled() is on
        else:
            import jax

            assert jax.config.jax_default_matmul_precision == ("tensorfloat32" if on else "highest")


@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_tf32_on_cpu_is_fp32_arithmetic(backend: str) -> None:
    require_backend(backend)
    errors = {p: matmul_rel_error(backend, p, "cpu", 512) for p in ("fp32", "tf32")}
    assert max(errors.values()) < FP32_REL_MAX, errors


def test_bus_ids_normalise_to_nvmls_form() -> None:
    assert normalize_bus_id("0000:3b:00.0") == normalize_bus_id("00000000:3B:00.0") == "00000000:3B:00.0"
    assert normalize_bus_id("3b:00.0") == "00000000:3B:00.0" and normalize_bus_id("GPU-1234") is None


# -- GPU: TF32 is really off for fp32 and on for tf32, and NVML samples the framework's device ------------------------
def _run_on_gpu(backend: str, precision: str) -> dict[str, Any]:
    """gpu_report in a fresh process (each framework would otherwise reserve the GPU's memory for itself)."""
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false", "TF_FORCE_GPU_ALLOW_GROWTH": "true"}
    code = f"import json; from tests.test_tf32 import gpu_report; print(json.dumps(gpu_report({backend!r}, " \
           f"{precision!r}), default=str))"
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="no NVIDIA GPU / NVML on this machine")
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_tf32_is_really_off_for_fp32_and_on_for_tf32(backend: str) -> None:
    require_backend(backend)
    fp32, tf32 = _run_on_gpu(backend, "fp32"), _run_on_gpu(backend, "tf32")
    assert fp32["settings"]["tf32"] is False and fp32["rel_error"] < FP32_REL_MAX, fp32
    if not tf32["settings"]["tf32_effective"]:
        pytest.skip(f"no TF32 tensor cores on this GPU: {tf32['device_info']}")
    assert tf32["rel_error"] > TF32_REL_MIN, tf32  # the switch does reach the kernels


@pytest.mark.gpu
@pytest.mark.skipif(not _has_cuda(), reason="no NVIDIA GPU / NVML on this machine")
@pytest.mark.parametrize("backend", BACKEND_NAMES)
def test_nvml_samples_the_frameworks_device(backend: str) -> None:
    require_backend(backend)
    got = _run_on_gpu(backend, "fp32")
    assert got["bus_id"] is not None, got["device_info"].get("pci_bus_id_source")
    assert normalize_bus_id(got["nvml_bus_id"]) == normalize_bus_id(got["bus_id"]), got
    assert got["selection"].startswith("PCI bus id")
