"""The PyTorch adapter: eager, torch.compile or channels_last (eager, NHWC memory format) steps on a neutral model."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from backends.base import Adapter, Unsupported
from backends.torch.layers import NeutralNet
from backends.torch.weights import load_weights, read_weights, trainable_count
from suites.params import Weights
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec

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


def cpu_name() -> str:
    """The CPU model name from /proc/cpuinfo, else platform's answer."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_optimizer(params: list[torch.nn.Parameter], spec: OptimizerSpec) -> torch.optim.Optimizer:
    """SGD (momentum, no nesterov, no decay) or Adam with the spec's constants, fused kernels where available."""
    if spec.name == "sgd":
        def build(**impl: bool) -> torch.optim.Optimizer:
            return torch.optim.SGD(params, lr=spec.learning_rate, momentum=spec.momentum, dampening=0.0,
                                   weight_decay=0.0, nesterov=False, **impl)
    else:
        def build(**impl: bool) -> torch.optim.Optimizer:
            return torch.optim.Adam(params, lr=spec.learning_rate, betas=(spec.beta1, spec.beta2), eps=spec.eps,
                                    weight_decay=0.0, amsgrad=False, **impl)
    try:
        return build(fused=True)
    except (RuntimeError, ValueError):
        return build(foreach=True)


class TorchAdapter(Adapter):
    """A neutral model as an nn.Module trained with torch.optim; 'compile' wraps the steps in torch.compile;
    'channels_last' is eager with 4-D conv weights and image batches in torch.channels_last (NHWC) memory format."""

    name: ClassVar[str] = "torch"
    modes: ClassVar[tuple[str, ...]] = ("eager", "compile", "channels_last")
    default_mode: ClassVar[str] = "eager"

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)  # fp32, or bf16 autocast (mixed precision, fp32 master weights)
        self.dev = resolve_device(device)
        self.net: NeutralNet | None = None
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
        self.net = NeutralNet(model).to(self.dev)
        if self.mode == "channels_last":
            self.net = self.net.to(memory_format=torch.channels_last)  # 4-D (Conv2d) weights only; copy_ keeps it
        self.net.train()
        self._training = True
        self._params = [p for p in self.net.parameters() if p.requires_grad]
        self._loss = F.cross_entropy if task.is_classification else F.mse_loss
        forward_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = self._forward_loss
        forward: Callable[[torch.Tensor], torch.Tensor] = self.net
        if self.mode == "compile":
            torch._dynamo.reset()  # per-code-object caches are shared by every NeutralNet: start clean for this model
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

    def _net(self) -> NeutralNet:
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
        load_weights(self._net(), self.model, weights)
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
        """torch.utils.flop_counter over the eager module: one no-grad eval forward, and one train-mode forward,
        loss and backward (gradients then dropped, no optimizer step). Unsupported for LSTM and Transformer encoder
        layers, whose fused kernels the counter has no rule for (it would silently see only the other layers)."""
        from torch.utils.flop_counter import FlopCounterMode

        blind = sorted({type(layer).__name__ for layer in self._net().spec.layers
                        if type(layer).__name__ in ("LSTM", "TransformerEncoder")})
        if blind:
            raise Unsupported(f"torch.utils.flop_counter has no rule for the fused kernels of {', '.join(blind)}")
        xt, yt = self.put(x, y)
        net = self._net()
        self._set_training(False)
        with FlopCounterMode(display=False) as forward, torch.no_grad(), self._autocast():
            net(xt)
        self._set_training(True)
        with FlopCounterMode(display=False) as train, self._autocast():
            self._loss(net(xt), yt).backward()
        assert self.optimizer is not None
        self.optimizer.zero_grad(set_to_none=True)
        return {"forward_flops": float(forward.get_total_flops()), "train_flops": float(train.get_total_flops()),
                "counter": "torch.utils.flop_counter.FlopCounterMode (eager module; matmul/conv FLOPs, 2 per MAC)"}

    def peak_matmul(self) -> dict[str, Any] | None:
        """Best of 5 synchronised fp32 torch.mm of two 8192² matrices on CUDA (TF32 as currently set); None on CPU.

        Allocates three 256 MiB matrices, which count toward torch.cuda.max_memory_allocated: call it before build
        (or in its own process) when the device peak matters."""
        if self.dev.type != "cuda":
            return None
        n = 8192
        gen = torch.Generator(device=self.dev).manual_seed(0)
        a = torch.randn(n, n, device=self.dev, dtype=torch.float32, generator=gen)
        b = torch.randn(n, n, device=self.dev, dtype=torch.float32, generator=gen)
        out = torch.empty(n, n, device=self.dev, dtype=torch.float32)
        for _ in range(3):
            torch.mm(a, b, out=out)
        torch.cuda.synchronize(self.dev)
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            torch.mm(a, b, out=out)
            torch.cuda.synchronize(self.dev)
            best = min(best, time.perf_counter() - start)
        del a, b, out
        tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        return {"peak_flops_per_s": 2 * n**3 / best,
                "method": f"torch.mm float32 {n}x{n}, 3 warm-up, best of 5 synchronised, "
                          f"torch.backends.cuda.matmul.allow_tf32={tf32}"}

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        self._set_training(False)
        with torch.inference_mode(), self._autocast():
            out = self._forward_fn(x)
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
        return {
            "device": self.dev.type,
            "device_name": torch.cuda.get_device_name(self.dev) if cuda else cpu_name(),
            "framework": "torch",
            "framework_version": torch.__version__,
            "cuda_version": torch.version.cuda if cuda else None,
            "cudnn_version": torch.backends.cudnn.version() if cuda else None,
            "mkldnn": torch.backends.mkldnn.is_available(),
        }

    def settings(self) -> dict[str, Any]:
        cuda = self.dev.type == "cuda"
        matmul_tf32 = bool(torch.backends.cuda.matmul.allow_tf32)
        cudnn_tf32 = bool(torch.backends.cudnn.allow_tf32)
        return {
            "threads": {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()},
            "mode": self.mode,
            "precision": self.precision,
            "layout": "NHWC (channels_last)" if self.mode == "channels_last" else "NCHW",
            "compiled": self.mode == "compile",
            "compile_mode": "torch.compile(default, dynamic=False)" if self.mode == "compile" else None,
            "xla": False,
            "tf32": (matmul_tf32 or cudnn_tf32) if cuda else None,
            "tf32_reason": None if cuda else "TF32 applies to CUDA only; this run is on CPU",
            "tf32_matmul": matmul_tf32,
            "tf32_cudnn": cudnn_tf32,
            "optimizer_impl": self._optimizer_impl(),
        }

    def _optimizer_impl(self) -> str | None:
        if self.optimizer is None:
            return None
        group = self.optimizer.param_groups[0]
        return "fused" if group.get("fused") else "foreach" if group.get("foreach") else "for-loop"
