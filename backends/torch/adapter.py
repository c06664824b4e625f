"""The PyTorch adapter: eager, torch.compile or channels_last (eager, NHWC memory format) steps on a neutral model."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch

from backends.base import Adapter, Unsupported
from backends.torch import MODES, NAME, probes
from backends.torch.layers import NeutralModel, build_model
from backends.torch.optim import make_loss, make_optimizer, optimizer_impl
from backends.torch.weights import read_weights, trainable_count, write_weights
from common.machine import cpu_model
from suites.params import Weights
from suites.spec import ModelSpec, TaskSpec

Batch = tuple[torch.Tensor, torch.Tensor]


def resolve_device(device: str) -> torch.device:
    """'auto' → CUDA when torch sees one, else CPU; 'cuda'/'gpu' require CUDA; 'cpu' forces CPU."""
    if device == "cpu":
        return torch.device("cpu")
    if device in ("cuda", "gpu"):
        if not torch.cuda.is_available():
            raise Unsupported(f"device {device!r} requested but torch sees no CUDA device")
        return torch.device("cuda")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    raise Unsupported(f"unknown device {device!r}; use auto, cpu, cuda or gpu")


class TorchAdapter(Adapter):
    """A neutral model as an nn.Module trained with torch.optim; 'compile' wraps the steps in torch.compile;
    'channels_last' is eager with 4-D conv weights and image batches in torch.channels_last (NHWC) memory format."""

    name: ClassVar[str] = NAME
    modes: ClassVar[tuple[str, ...]] = MODES
    default_mode: ClassVar[str] = MODES[0]

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)  # fp32, or bf16 autocast (mixed precision, fp32 master weights)
        self.dev = resolve_device(device)
        probes.set_tf32(self.precision == "tf32")  # explicit, never torch's defaults (matmul off, cuDNN on)
        self.net: NeutralModel | None = None
        self.optimizer: torch.optim.Optimizer | None = None
        self._training = True

    # -- build -------------------------------------------------------------------------------------------------
    @classmethod
    def preload(cls) -> None:
        """torch.optim imports torch._dynamo on its first optimizer (1-2 s): that is import time, not build time."""
        import torch._dynamo  # noqa: F401

    def build(self, model: ModelSpec, task: TaskSpec, weights: Weights) -> None:
        torch.manual_seed(task.seed)
        self.model, self.task = model, task
        self.net = build_model(model).to(self.dev)
        if self.mode == "channels_last":
            self.net = self.net.to(memory_format=torch.channels_last)  # 4-D (Conv2d) weights only; copy_ keeps it
        self.net.train()
        self._training = True
        self._params = [p for p in self.net.parameters() if p.requires_grad]
        self._loss = make_loss(task.loss)
        forward_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = self._forward_loss
        forward: Callable[[torch.Tensor], torch.Tensor] = self.net
        if self.mode == "compile":
            torch._dynamo.reset()  # per-code-object caches are shared by every NeutralModel: start clean for this model
            forward_loss = torch.compile(forward_loss, dynamic=False)
            forward = torch.compile(forward, dynamic=False)
        self._loss_fn, self._forward_fn = forward_loss, forward
        self.set_weights(weights)

    def _forward_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        assert self.net is not None
        return self._loss(self.net(x), y)

    def _autocast(self) -> torch.autocast:
        """bf16 autocast around forward and loss when precision is 'bf16' (weights and optimizer stay fp32)."""
        return torch.autocast(device_type=self.dev.type, dtype=torch.bfloat16, enabled=self.precision == "bf16")

    def _net(self) -> NeutralModel:
        if self.net is None:
            raise RuntimeError("call build() first")
        return self.net

    def _set_training(self, flag: bool) -> None:
        if self._training != flag:
            self._net().train(flag)
            self._training = flag

    # -- weights -----------------------------------------------------------------------------------------------
    def get_weights(self) -> Weights:
        return read_weights(self._net(), self.model)

    def set_weights(self, weights: Weights) -> None:
        write_weights(self._net(), self.model, weights)
        self.optimizer = make_optimizer(self._params, self.task.optimizer)

    def trainable_param_count(self) -> int:
        return trainable_count(self._net())

    # -- steps -------------------------------------------------------------------------------------------------
    def _host_x(self, x: np.ndarray) -> torch.Tensor:
        xt = torch.from_numpy(np.ascontiguousarray(x))
        return xt.long() if self._net().spec.input_dtype == "int32" else xt.float()

    def _host_y(self, y: np.ndarray) -> torch.Tensor:
        yt = torch.from_numpy(np.ascontiguousarray(y))
        return yt.long() if self.task.is_classification else yt.float()

    def _model_layout(self, xt: torch.Tensor) -> torch.Tensor:
        """A device batch in the neutral channels-last order → the layout the net's first layer wants."""
        if not self._net().input_channels_first:
            return xt
        xt = xt.movedim(-1, 1)  # NHWC data seen as NCHW: already channels_last strides, no copy yet
        if self.mode == "channels_last" and xt.ndim == 4:
            return xt.contiguous(memory_format=torch.channels_last)
        return xt.contiguous()

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        xt = self._model_layout(self._host_x(x).to(self.dev))
        if y is None:
            return xt
        return xt, self._host_y(y).to(self.dev)

    def train_step(self, batch: Batch) -> torch.Tensor:
        x, y = batch
        self._set_training(True)
        assert self.optimizer is not None
        with self._autocast():
            loss = self._loss_fn(x, y)
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss.detach()

    def idiomatic_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
        """One epoch from a DataLoader over a TensorDataset of CPU tensors (seeded shuffle, drop_last, no workers,
        pinned on CUDA); each batch goes to the device (non_blocking on CUDA) and is laid out there."""
        self._net()
        cuda = self.dev.type == "cuda"
        start = time.perf_counter()
        dataset = torch.utils.data.TensorDataset(self._host_x(x), self._host_y(y))
        generator = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator,
                                             drop_last=True, num_workers=0, pin_memory=cuda)
        steps, loss = 0, None
        for xb, yb in loader:
            xb = self._model_layout(xb.to(self.dev, non_blocking=cuda))
            loss = self.train_step((xb, yb.to(self.dev, non_blocking=cuda)))
            steps += 1
        self.synchronize(loss)
        seconds = time.perf_counter() - start
        layout = {"eager": "NHWC→NCHW on device", "compile": "NHWC→NCHW on device",
                  "channels_last": "NHWC→NCHW view, channels_last"}[self.mode]
        return {"seconds": seconds, "steps": steps, "samples": steps * batch_size,
                "pipeline": f"torch DataLoader(TensorDataset, shuffle=True seeded, drop_last=True, num_workers=0, "
                            f"pin_memory={cuda}) → .to({self.dev.type}, non_blocking={cuda})"
                            + (f", {layout}" if self._net().input_channels_first else "")}

    def counted_flops(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """torch.utils.flop_counter over the eager module (probes.counted_flops); no optimizer step."""
        xt, yt = self.put(x, y)
        try:
            return probes.counted_flops(self._net(), self._loss, xt, yt, self._autocast)
        finally:
            self._training = self._net().training

    def peak_matmul(self, precision: str | None = None) -> dict[str, Any]:
        """Peak torch.mm rate on this adapter's device at `precision` (default: the adapter's own), best of N over a
        few sizes (probes.peak_matmul)."""
        return probes.peak_matmul(self.dev, precision or self.precision)

    def pci_bus_id(self) -> str | None:
        """The NVML-form PCI bus id of this adapter's GPU (probes.pci_bus_id); None on CPU."""
        return probes.pci_bus_id(self.dev)[0]

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self._set_training(False)
        with torch.inference_mode(), self._autocast():
            out = self._forward_fn(x)
        return out.float() if out.dtype == torch.bfloat16 else out

    def train_outputs(self, x: torch.Tensor) -> torch.Tensor:
        """Training-mode outputs (batch statistics; dropout as built) of a `put` input, eagerly, without gradients;
        the running statistics (every buffer) are put back as they were."""
        net = self._net()
        saved = {name: buffer.clone() for name, buffer in net.named_buffers()}
        self._set_training(True)
        with torch.no_grad(), self._autocast():
            out = net(x)
            for name, buffer in net.named_buffers():
                buffer.copy_(saved[name])
        return out.float() if out.dtype == torch.bfloat16 else out

    def to_numpy(self, value: Any) -> np.ndarray:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy()
        return np.asarray(value)

    def synchronize(self, value: Any = None) -> None:
        if self.dev.type == "cuda":
            torch.cuda.synchronize(self.dev)

    # -- reporting ---------------------------------------------------------------------------------------------
    def memory_stats(self) -> dict[str, Any]:
        if self.dev.type == "cuda":
            return {"device_peak_bytes": int(torch.cuda.max_memory_allocated(self.dev)), "device_peak_reason": None}
        return {"device_peak_bytes": None,
                "device_peak_reason": "torch has no peak-allocation counter for CPU tensors"}

    def device_info(self) -> dict[str, Any]:
        cuda = self.dev.type == "cuda"
        bus_id, bus_source = probes.pci_bus_id(self.dev)
        return {
            "device": self.dev.type,
            "device_name": torch.cuda.get_device_name(self.dev) if cuda else cpu_model(),
            "framework": "torch",
            "framework_version": torch.__version__,
            "cuda_version": torch.version.cuda if cuda else None,
            "cudnn_version": torch.backends.cudnn.version() if cuda else None,
            "mkldnn": torch.backends.mkldnn.is_available(),
            "pci_bus_id": bus_id, "pci_bus_id_source": bus_source,
        }

    def settings(self) -> dict[str, Any]:
        cuda = self.dev.type == "cuda"
        matmul_tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        cudnn_tf32 = bool(torch.backends.cudnn.allow_tf32)
        ampere = cuda and torch.cuda.get_device_capability(self.dev)[0] >= 8  # TF32 tensor cores: sm_80 and later
        return {
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "mode": self.mode,
            "precision": self.precision,
            "layout": "NHWC (channels_last)" if self.mode == "channels_last" else "NCHW",
            "compiled": self.mode == "compile",
            "compile_mode": "torch.compile(default, dynamic=False)" if self.mode == "compile" else None,
            "xla": False,
            "tf32": matmul_tf32 or cudnn_tf32,
            "tf32_effective": (matmul_tf32 or cudnn_tf32) and cuda and ampere,
            "tf32_reason": None if cuda else "TF32 applies to CUDA only: on CPU tf32 is the same arithmetic as fp32",
            "tf32_matmul": matmul_tf32,
            "tf32_cudnn": cudnn_tf32,
            "optimizer_impl": optimizer_impl(self.optimizer),
        }
