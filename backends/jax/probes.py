"""What JAX itself measures about a model and the device: XLA's cost analysis, and the peak GEMM rate per precision."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from backends import gemm, pci
from backends.base import Unsupported
from backends.jax.layers import unrolled_scans


def cost_flops(lowered: Any) -> tuple[float, str] | None:
    """('flops', source) from XLA's cost analysis of a jax Lowered (unoptimised HLO), else of its compiled module
    (optimised HLO); None if neither reports flops."""
    analyses = ((lowered.cost_analysis, "lowered, unoptimised HLO"),
                (lambda: lowered.compile().cost_analysis(), "compiled, optimised HLO"))
    for analyse, source in analyses:
        try:
            cost = analyse()
        except (NotImplementedError, RuntimeError, jax.errors.JaxRuntimeError):
            continue
        if isinstance(cost, (list, tuple)):  # older jax: one dict per device program
            cost = cost[0] if cost else None
        if cost and cost.get("flops") is not None:
            return float(cost["flops"]), source
    return None


def counted_flops(infer: Callable[..., Any], loss_and_grads: Callable[..., Any], params: list[jax.Array],
                  key: jax.Array, x: jax.Array, y: jax.Array) -> dict[str, Any]:
    """XLA's cost analysis of jax.jit(infer)(params, x), and of jax.jit(loss_and_grads)(params, key, x, y) (forward
    with dropout + backward, no optimizer update); lowered only, so nothing runs and no state changes. Both functions
    must be fresh (not jitted before): a cached trace would keep the rolled LSTM loop."""
    with unrolled_scans():
        forward = cost_flops(jax.jit(infer).lower(params, x))
        train = cost_flops(jax.jit(loss_and_grads).lower(params, key, x, y))
    if forward is None:
        platform = next(iter(x.devices())).platform
        raise Unsupported(f"jax {jax.__version__}: XLA cost_analysis reports no 'flops' on {platform}")
    return {"forward_flops": forward[0], "train_flops": train[0] if train else None,
            "counter": f"XLA cost_analysis ({forward[1]}, LSTM scans unrolled; dot/conv 2 per multiply-add, "
                       "+1 per element of element-wise ops): forward = jitted predict, train = "
                       "jax.value_and_grad of the loss (forward + backward, no optimizer update)"}


GEMM_SETTINGS = {"fp32": (jnp.float32, jax.lax.Precision.HIGHEST), "tf32": (jnp.float32, jax.lax.Precision.HIGH),
                 "bf16": (jnp.bfloat16, jax.lax.Precision.DEFAULT)}
"""(operand dtype, explicit dot precision) of the peak GEMM per precision: HIGHEST is IEEE float32, HIGH is TF32 on
Ampere+ GPUs, DEFAULT on bfloat16 operands is the bf16 kernel."""


def peak_matmul(device: jax.Device, precision: str) -> dict[str, Any]:
    """Peak rate of a jitted jnp.dot at this precision on `device` (CPU or GPU), block_until_ready, best of N over a
    few sizes; the precision is explicit in the dot, so the process-wide default does not matter."""
    dtype, dot_precision = GEMM_SETTINGS[precision]
    dot = jax.jit(lambda p, q: jnp.dot(p, q, precision=dot_precision))
    key = jax.random.key(0)

    def make_run(n: int) -> Callable[[], None]:
        key_a, key_b = jax.random.split(jax.random.fold_in(key, n))
        a = jax.device_put(jax.random.normal(key_a, (n, n), jnp.float32).astype(dtype), device)
        b = jax.device_put(jax.random.normal(key_b, (n, n), jnp.float32).astype(dtype), device)
        return lambda: dot(a, b).block_until_ready()  # type: ignore[no-any-return]

    swept = gemm.sweep(make_run, device.platform != "cpu")
    return gemm.peak_result("jax", jax.__version__,
                            f"jax.jit(jnp.dot) {jnp.dtype(dtype).name} precision={dot_precision.name} on "
                            f"{device.platform}", precision, swept, tf32=dot_precision == jax.lax.Precision.HIGH)


TF32_PRECISIONS = {True: "tensorfloat32", False: "highest"}
"""jax_default_matmul_precision per TF32 switch: Precision.HIGH (TF32 on Ampere+ GPUs) or HIGHEST (IEEE float32)."""


def set_tf32(enabled: bool) -> None:
    """TF32 on or off for float32 dots and convolutions without an explicit precision, process-wide (harmless on CPU).

    The adapter also traces its steps under its precision's jax.default_matmul_precision, which takes precedence."""
    jax.config.update("jax_default_matmul_precision", TF32_PRECISIONS[enabled])


def pci_bus_id(device: jax.Device) -> tuple[str | None, str]:
    """(NVML-form PCI bus id, how it was read) of a GPU device; (None, why) on CPU.

    The device's own `pci_bus_id` attribute where this jaxlib exposes one, else its CUDA ordinal
    (local_hardware_id) through the CUDA driver's cuDeviceGetPCIBusId."""
    if device.platform == "cpu":
        return None, "CPU device: no PCI bus id"
    own = getattr(device, "pci_bus_id", None)
    if isinstance(own, str) and pci.normalize_bus_id(own):
        return pci.normalize_bus_id(own), f"jax device {device.id} .pci_bus_id"
    ordinal = getattr(device, "local_hardware_id", None)
    ordinal = device.id if ordinal is None else ordinal
    bus_id, how = pci.driver_bus_id(int(ordinal))
    return bus_id, f"jax device {device.id} has no pci_bus_id; local_hardware_id {ordinal} → {how}"
