"""What torch itself measures about a model and the device: its FLOP counter, and the peak float32 GEMM rate."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from backends import pci
from backends.base import Unsupported
from backends.torch.layers import NeutralModel
from backends.torch.optim import Loss
from common.clock import best_seconds

BLIND_KINDS = {"lstm": "LSTM", "transformer_encoder": "TransformerEncoder"}
"""Layer kinds whose fused kernels torch.utils.flop_counter has no rule for (it would silently skip them)."""


def counted_flops(model: NeutralModel, loss: Loss, x: torch.Tensor, y: torch.Tensor,
                  autocast: Callable[[], contextlib.AbstractContextManager[Any]]) -> dict[str, Any]:
    """torch.utils.flop_counter over the eager module: one no-grad eval forward, and one train-mode forward, loss
    and backward (gradients then dropped, no optimizer step); leaves the module in train mode. Unsupported for LSTM
    and Transformer encoder layers, whose fused kernels the counter has no rule for."""
    from torch.utils.flop_counter import FlopCounterMode

    blind = sorted({BLIND_KINDS[layer.kind] for layer in model.spec.layers if layer.kind in BLIND_KINDS})
    if blind:
        raise Unsupported(f"torch.utils.flop_counter has no rule for the fused kernels of {', '.join(blind)}")
    model.train(False)
    with FlopCounterMode(display=False) as forward, torch.no_grad(), autocast():
        model(x)
    model.train(True)
    with FlopCounterMode(display=False) as train, autocast():
        loss(model(x), y).backward()
    model.zero_grad(set_to_none=True)
    return {"forward_flops": float(forward.get_total_flops()), "train_flops": float(train.get_total_flops()),
            "counter": "torch.utils.flop_counter.FlopCounterMode (eager module; matmul/conv FLOPs, 2 per MAC)"}


def peak_matmul(device: torch.device) -> dict[str, Any] | None:
    """Best of 5 synchronised fp32 torch.mm of two 8192² matrices on CUDA (TF32 as currently set); None on CPU.

    Allocates three 256 MiB matrices, which count toward torch.cuda.max_memory_allocated: call it before build
    (or in its own process) when the device peak matters."""
    if device.type != "cuda":
        return None
    n = 8192
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(n, n, device=device, dtype=torch.float32, generator=gen)
    b = torch.randn(n, n, device=device, dtype=torch.float32, generator=gen)
    out = torch.empty(n, n, device=device, dtype=torch.float32)

    def run() -> None:
        torch.mm(a, b, out=out)
        torch.cuda.synchronize(device)

    best = best_seconds(run, repeats=5, warmup=3)
    tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
    return {"peak_flops_per_s": 2 * n**3 / best,
            "method": f"torch.mm float32 {n}x{n}, 3 warm-up, best of 5 synchronised, "
                      f"torch.backends.cuda.matmul.allow_tf32={tf32}"}


def set_tf32(enabled: bool) -> None:
    """TF32 on or off for CUDA float32 matmuls (cuBLAS) and cuDNN convolutions/RNNs, process-wide (harmless on CPU)."""
    torch.backends.cuda.matmul.allow_tf32 = enabled  # the legacy flags: mixing them with fp32_precision raises
    torch.backends.cudnn.allow_tf32 = enabled


def pci_bus_id(device: torch.device) -> tuple[str | None, str]:
    """(NVML-form PCI bus id, how it was read) of a CUDA device; (None, why) on CPU."""
    if device.type != "cuda":
        return None, f"{device.type} device: no PCI bus id"
    index = device.index if device.index is not None else torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    if all(hasattr(props, f"pci_{part}_id") for part in ("domain", "bus", "device")):
        return (pci.nvml_bus_id(props.pci_domain_id, props.pci_bus_id, props.pci_device_id),
                f"torch.cuda.get_device_properties({index}).pci_domain_id/pci_bus_id/pci_device_id")
    return pci.driver_bus_id(index)
