"""The adapter contract every backend implements (this file imports no framework)."""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from suites.params import Weights
from suites.spec import ModelSpec, TaskSpec

PRECISIONS = ("fp32", "bf16", "tf32")
"""fp32: IEEE float32 matmuls/convs (TF32 off); bf16: bf16 mixed precision; tf32: float32 with TF32 on (Ampere+)."""

T = TypeVar("T")


class Unsupported(Exception):
    """This backend cannot run the requested mode, precision, device or layer; the cell is skipped with this reason."""


def for_kind(table: Mapping[str, T], kind: str, backend: str, what: str = "layer") -> T:
    """The entry of a per-kind table (LAYER_BUILDERS, WEIGHT_MAPS), or Unsupported("<backend> lacks layer '<kind>'")."""
    try:
        return table[kind]
    except KeyError:
        raise Unsupported(f"{backend} lacks {what} '{kind}'") from None


def unmapped_layout(backend: str, kind: str, native: Mapping[str, tuple[int, ...]],
                    neutral: Mapping[str, tuple[int, ...]]) -> Unsupported:
    """The error for a layer without a WEIGHT_MAPS entry whose native weights are not in the neutral layout."""
    return Unsupported(f"{backend} lacks weight map for layer '{kind}': its native weights "
                       f"{dict(sorted(native.items()))} are not the neutral layout {dict(sorted(neutral.items()))}; "
                       f"add a WEIGHT_MAPS entry in backends/{backend}/weights.py")


class Adapter(ABC):
    """One framework's native build of a neutral spec, driven by the harness.

    A subclass takes `name` and `modes` from its package (backends/<name>/__init__.py: NAME, MODES; the first mode is
    the default), so the registry and the adapter cannot disagree. The harness owns the protocol (warm-up, timing,
    trials, metrics); an adapter only builds and runs steps.
    Device values (`put`, `train_step`, `predict` results) stay on the device: nothing here syncs unless asked.
    """

    name: ClassVar[str]
    modes: ClassVar[tuple[str, ...]]
    default_mode: ClassVar[str]

    @classmethod
    def layer_kinds(cls) -> tuple[str, ...] | None:
        """The neutral layer kinds this backend builds: the keys of LAYER_BUILDERS in the layers module beside the
        adapter (every backend folder has one); None when the backend keeps no such table (its cells then find out)."""
        package = cls.__module__.rsplit(".", 1)[0]
        try:
            module = importlib.import_module(f"{package}.layers")
        except ModuleNotFoundError:
            return None
        builders = getattr(module, "LAYER_BUILDERS", None)
        return tuple(builders) if isinstance(builders, Mapping) else None

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        self.mode = mode or self.default_mode
        if self.mode not in self.modes:
            raise Unsupported(f"{self.name} has no mode {self.mode!r}; modes: {', '.join(self.modes)}")
        if precision not in PRECISIONS:
            raise Unsupported(f"precision {precision!r} is not one of {PRECISIONS}")
        self.precision = precision
        self.device = device

    @abstractmethod
    def build(self, model: ModelSpec, task: TaskSpec, weights: Weights) -> None:
        """Build the native model, loss and optimizer (constants from the spec), then load `weights`."""

    @abstractmethod
    def get_weights(self) -> Weights:
        """Every trainable parameter in the neutral numpy layout (suites.params)."""

    @abstractmethod
    def set_weights(self, weights: Weights) -> None:
        """Load neutral-layout weights; resets the optimizer state."""

    @abstractmethod
    def trainable_param_count(self) -> int:
        """Trainable scalars as the framework counts them."""

    @abstractmethod
    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Move one batch (neutral layout: images NHWC float32, token ids int32, labels int32) to the device."""

    @abstractmethod
    def train_step(self, batch: Any) -> Any:
        """One optimizer step on a `put` batch (dropout on); returns the mean loss before the update, on device."""

    @abstractmethod
    def predict(self, x: Any) -> Any:
        """Model outputs (logits, or the regression value) for a `put` input, inference mode, on device."""

    @abstractmethod
    def to_numpy(self, value: Any) -> np.ndarray:
        """A device value as a host numpy array (this synchronises)."""

    @abstractmethod
    def synchronize(self, value: Any = None) -> None:
        """Block until the device has finished the work that produces `value` (or all queued work)."""

    @abstractmethod
    def memory_stats(self) -> dict[str, Any]:
        """{'device_peak_bytes': int | None, 'device_peak_reason': str | None} from the framework's own API."""

    @abstractmethod
    def device_info(self) -> dict[str, Any]:
        """{'device': 'cpu'|'cuda', 'device_name': str, 'framework_version': str, ...}.

        'device' is 'cuda' for an NVIDIA GPU in every backend (the framework's own word, e.g. jax's 'gpu', is not
        used); another accelerator gives its platform name."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """Settings that affect fairness: threads, layout, compile/XLA, precision, TF32, ..."""

    @classmethod
    def preload(cls) -> None:
        """Import what the framework would otherwise import lazily on first use (a fork server calls this once)."""
        return None

    def idiomatic_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
        """One training epoch fed from host arrays by the framework's own input pipeline, timed end to end.

        Returns {'seconds': float, 'steps': int, 'samples': int, 'pipeline': str}; the clock stops after a device sync.
        """
        raise Unsupported(f"{self.name} has no idiomatic input pipeline yet")

    def counted_flops(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """FLOPs the framework's own counter reports for one batch (host arrays, neutral layout), for cross-checking
        the spec's count: {'forward_flops': float, 'train_flops': float | None, 'counter': str}.

        'forward_flops' is one inference forward pass over the whole batch; 'train_flops' one training step's forward
        and backward (no optimizer update is applied; None where the counter cannot see it). Untimed; may compile.
        Raises Unsupported with the reason where the framework has no counter.
        """
        raise Unsupported(f"{self.name} has no FLOP counter")

    def peak_matmul(self, precision: str | None = None) -> dict[str, Any]:
        """The framework's own peak GEMM rate on this adapter's device (CPU or GPU) at `precision` (default: the
        adapter's): {'peak_flops_per_s', 'method', 'framework', 'framework_version', 'precision', ...}, synchronised,
        warm-up then best of N. Raises Unsupported where the backend has no probe."""
        raise Unsupported(f"{self.name} has no peak GEMM probe")

    def pci_bus_id(self) -> str | None:
        """The PCI bus id of the GPU this adapter runs on, in NVML's format; None on CPU (or when unknown)."""
        return None
