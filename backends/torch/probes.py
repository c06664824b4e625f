"""What torch itself measures about a model and the device: its FLOP counter, and the peak GEMM rate per precision."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import torch

from backends import gemm, pci
from backends.base import Unsupported
from backends.torch.layers import NeutralModel
from backends.torch.optim import Loss

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


GEMM_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16}
"""Operand dtype of the peak GEMM per precision (tf32 is float32 operands with TF32 tensor-core math)."""


def peak_matmul(device: torch.device, precision: str) -> dict[str, Any]:
    """Peak rate of torch.mm at this precision on `device` (CPU or CUDA), synchronised, best of N over a few sizes;
    TF32 on only for 'tf32' while it runs (the previous flags are restored).

    On CUDA it allocates three 256 MiB matrices, which count toward torch.cuda.max_memory_allocated: measure in
    its own process (harness.peak_worker)."""
    cuda = device.type == "cuda"
    dtype = GEMM_DTYPES[precision]
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    set_tf32(precision == "tf32")
    try:
        gen = torch.Generator(device=device).manual_seed(0)

        def make_run(n: int) -> Callable[[], None]:
            a = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
            b = torch.randn(n, n, device=device, dtype=dtype, generator=gen)
            out = torch.empty(n, n, device=device, dtype=dtype)

            def run() -> None:
                torch.mm(a, b, out=out)
                if cuda:
                    torch.cuda.synchronize(device)

            return run

        swept = gemm.sweep(make_run, cuda)
        tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved
    threads = f", {torch.get_num_threads()} threads" if not cuda else ""
    return gemm.peak_result("torch", torch.__version__,
                            f"torch.mm {str(dtype).removeprefix('torch.')} on {device.type}{threads}, "
                            f"torch.backends.cuda.matmul.allow_tf32={tf32}", precision, swept, tf32=tf32)


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
