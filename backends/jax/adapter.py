"""The JAX adapter: a Flax NNX model split once into (graphdef, params); jax.jit-compiled pure train/predict steps.

The hot path is two jitted functions of plain arrays: train(params, stats, opt_state, key, x, y) -> (params, stats,
opt_state, key, loss), with params/stats/opt_state/key buffers donated, and predict(params, stats, x). Params (the
nnx.Param leaves) and stats (the nnx.BatchStat leaves: BatchNorm's running statistics, an empty list without them)
travel as flat lists of arrays (cheapest to dispatch); the NNX module is merged back inside the trace only, so no
nnx.jit or graph traversal runs per step; the training step returns the stats its forward pass updated. fp32
matmuls and convolutions are traced under matmul precision "float32" (no TF32 on GPUs), tf32 under "tensorfloat32"
(TF32 on Ampere+ GPUs, plain float32 on CPU). bf16 is mixed precision: float32
params and Optax state; inside the jitted functions the params and float inputs are cast to bfloat16 for the
forward pass (gradients flow back to the float32 params) and the outputs cast to float32 before the loss, so the loss
and `predict` are float32.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from backends.base import Adapter  # noqa: E402
from backends.jax import MODES, NAME, probes  # noqa: E402
from backends.jax.layers import LSTM_SCAN_UNROLL, build_model  # noqa: E402
from backends.jax.optim import make_loss, make_optimizer  # noqa: E402
from backends.jax.pooling import PHASE_POOLS  # noqa: E402
from backends.jax.runtime import cast_floating, device_kind, pick_device, prefetch_to_device  # noqa: E402
from backends.jax.weights import ParamIndex, read_weights, trainable_count, write_weights  # noqa: E402
from suites.params import Weights, state_shapes  # noqa: E402
from suites.spec import ModelSpec, TaskSpec  # noqa: E402

MATMUL_PRECISION = "float32"
"""jax.default_matmul_precision used while tracing fp32 steps: full float32 dots/convs (no TF32/bf16 passes)."""

MATMUL_PRECISIONS = {"fp32": MATMUL_PRECISION, "bf16": "bfloat16", "tf32": "tensorfloat32"}
"""Trace-time matmul precision per precision: bf16 operands take the backend's default single bf16 pass (float32
accumulation on GPU), not the multi-pass "float32" algorithm."""

COMPUTE_DTYPES: dict[str, Any] = {"fp32": jnp.float32, "bf16": jnp.bfloat16, "tf32": jnp.float32}
"""The dtype the forward pass computes in, per precision; params and optimizer state are always float32."""

Leaves = list[jax.Array]
Outputs = Callable[[Leaves, Leaves, jax.Array, jax.Array | None], tuple[jax.Array, Leaves]]
"""outputs(params, stats, x, key or None) → (float32 model outputs, the stats after the pass: updated in training,
the same in inference)."""


class JaxAdapter(Adapter):
    """Flax NNX + Optax, one jax.jit-compiled pure training step and predict function."""

    name: ClassVar[str] = NAME
    modes: ClassVar[tuple[str, ...]] = MODES
    default_mode: ClassVar[str] = MODES[0]

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)  # fp32, or bf16 mixed precision (float32 params and Optax state)
        self._device = pick_device(device)
        probes.set_tf32(self.precision == "tf32")  # explicit, never jax's default (None: TF32 on Ampere+ GPUs)

    def build(self, model: ModelSpec, task: TaskSpec, weights: Weights) -> None:
        self._model, self._task = model, task
        module = build_model(model)  # abstract: no placeholder init is computed
        graphdef, state, stats, rest = nnx.split(module, nnx.Param, nnx.BatchStat, ...)
        if jax.tree.leaves(rest):
            raise RuntimeError(f"jax backend: model holds state that is neither Param nor BatchStat {rest}")
        self._index = ParamIndex.of(state, model)
        self._stat_index = ParamIndex.of(stats, model, state_shapes(model))
        self._tx = make_optimizer(task.optimizer)
        self._loss = make_loss(task.loss)
        self._x_dtype = np.int32 if model.input_dtype == "int32" else np.float32
        self._y_dtype = np.int32 if task.is_classification else np.float32
        self._outputs = self._outputs_fn(graphdef, rest)
        self._train = jax.jit(self._traced(self._step), donate_argnums=(0, 1, 2, 3))
        self._predict = jax.jit(self._traced(self._infer))
        self.set_weights(weights)

    def _outputs_fn(self, graphdef: nnx.GraphDef, rest: nnx.State) -> Outputs:
        """The pure forward pass; under bf16 it casts params and float inputs to bfloat16, and outputs to float32."""
        index, stat_index, compute = self._index, self._stat_index, COMPUTE_DTYPES[self.precision]
        mixed = compute != jnp.float32

        def outputs(params: Leaves, stats: Leaves, x: jax.Array, key: jax.Array | None) -> tuple[jax.Array, Leaves]:
            if mixed:  # stats stay float32: BatchNorm normalises in float32 (norm_layers.batch_norm)
                params, x = cast_floating(params, compute), cast_floating(x, compute)
            module = nnx.merge(graphdef, index.unflatten(params), stat_index.unflatten(stats), rest)
            out = module(x, key)
            new_stats = jax.tree.leaves(nnx.state(module, nnx.BatchStat)) if stats else stats
            return (out.astype(jnp.float32) if mixed else out), new_stats

        return outputs

    def _infer(self, params: Leaves, stats: Leaves, x: jax.Array) -> jax.Array:
        """Inference outputs (no dropout, running statistics), float32."""
        return self._outputs(params, stats, x, None)[0]

    def _traced(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` traced under this precision's jax.default_matmul_precision."""
        precision = MATMUL_PRECISIONS[self.precision]

        @functools.wraps(fn)
        def traced(*args: Any) -> Any:
            with jax.default_matmul_precision(precision):
                return fn(*args)

        return traced

    def _loss_and_grads(self, params: Leaves, stats: Leaves, key: jax.Array, x: jax.Array,
                        y: jax.Array) -> tuple[jax.Array, Leaves, Leaves]:
        """Mean loss (float32, training mode: dropout on, batch statistics), the updated stats, and the loss's
        float32 gradients w.r.t. params."""
        def objective(p: Leaves) -> tuple[jax.Array, Leaves]:
            out, new_stats = self._outputs(p, stats, x, key)
            return self._loss(out, y), new_stats

        (loss, new_stats), grads = jax.value_and_grad(objective, has_aux=True)(params)
        return loss, new_stats, grads

    def _step(self, params: Leaves, stats: Leaves, opt_state: Any, key: jax.Array, x: jax.Array,
              y: jax.Array) -> tuple[Leaves, Leaves, Any, jax.Array, jax.Array]:
        """One pure training step: (params, stats, opt_state, key) → updated, plus the loss before the update."""
        key, dropout_key = jax.random.split(key)
        loss, stats, grads = self._loss_and_grads(params, stats, dropout_key, x, y)
        updates, opt_state = self._tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state, key, loss

    def train_outputs(self, x: Any) -> Any:
        """Training-mode outputs (batch statistics; dropout from the adapter's key) of a `put` input, float32; no
        weight or running statistic changes."""
        return self._traced(self._outputs)(self._params, self._stats, x, self._key)[0]

    def get_weights(self) -> Weights:
        return {**read_weights(self._index, self._model, self._params),
                **read_weights(self._stat_index, self._model, self._stats)}

    def set_weights(self, weights: Weights) -> None:
        self._params = write_weights(self._index, self._model, weights, self._device)
        self._stats = write_weights(self._stat_index, self._model, weights, self._device)
        self._opt_state = jax.device_put(self._tx.init(self._params), self._device)
        self._key = jax.device_put(jax.random.key(self._task.seed), self._device)

    def trainable_param_count(self) -> int:
        return trainable_count(self._params)

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        x_dev = jax.device_put(np.asarray(x, dtype=self._x_dtype), self._device)
        if y is None:
            return x_dev
        return x_dev, jax.device_put(self._host_labels(y), self._device)

    def train_step(self, batch: Any) -> Any:
        x, y = batch
        self._params, self._stats, self._opt_state, self._key, loss = self._train(
            self._params, self._stats, self._opt_state, self._key, x, y)
        return loss

    def _host_labels(self, y: np.ndarray) -> np.ndarray:
        y_host = np.asarray(y, dtype=self._y_dtype)
        if not self._task.is_classification and y_host.ndim == 1:
            y_host = y_host[:, None]
        return y_host

    def idiomatic_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
        """One epoch from a numpy-side shuffled index iterator whose batches are jax.device_put two ahead (the flax
        examples' prefetch_to_device pattern), each fed to the jitted train step."""
        start = time.perf_counter()
        x_host, y_host = np.asarray(x, dtype=self._x_dtype), self._host_labels(y)
        steps = len(x_host) // batch_size
        order = np.random.default_rng(seed).permutation(len(x_host))[: steps * batch_size]

        def host_batches() -> Iterator[tuple[np.ndarray, np.ndarray]]:
            for idx in order.reshape(steps, batch_size):
                yield x_host[idx], y_host[idx]

        loss = None
        for x_dev, y_dev in prefetch_to_device(host_batches(), 2, self._device):
            self._params, self._stats, self._opt_state, self._key, loss = self._train(
                self._params, self._stats, self._opt_state, self._key, x_dev, y_dev)
        self.synchronize(loss)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "steps": steps, "samples": steps * batch_size,
                "pipeline": "numpy permutation(seed) index batches (host gather) → jax.device_put 2 ahead "
                            f"(prefetch deque) → jitted train step on {self._device.platform}"}

    def counted_flops(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """XLA's cost analysis of freshly lowered (never run) predict and loss-gradient functions (probes)."""
        x_dev, y_dev = self.put(x, y)
        key = jax.device_put(jax.random.key(self._task.seed), self._device)
        stats = self._stats  # fresh closures (never jitted) over the current stats: lowered only, nothing runs

        def infer(params: Leaves, x: jax.Array) -> jax.Array:
            return self._infer(params, stats, x)

        def loss_and_grads(params: Leaves, key: jax.Array, x: jax.Array, y: jax.Array) -> Any:
            return self._loss_and_grads(params, stats, key, x, y)

        return probes.counted_flops(self._traced(infer), self._traced(loss_and_grads), self._params, key, x_dev, y_dev)

    def peak_matmul(self, precision: str | None = None) -> dict[str, Any]:
        """Peak jitted jnp.dot rate on this adapter's device at `precision` (default: the adapter's own), best of N
        over a few sizes (probes.peak_matmul)."""
        return probes.peak_matmul(self._device, precision or self.precision)

    def _ampere(self) -> bool:
        """Whether the device has TF32 tensor cores (an NVIDIA GPU of compute capability 8.0 or later)."""
        return device_kind(self._device) == "cuda" and float(getattr(self._device, "compute_capability", 0)) >= 8

    def pci_bus_id(self) -> str | None:
        """The NVML-form PCI bus id of this adapter's GPU (probes.pci_bus_id); None on CPU."""
        return probes.pci_bus_id(self._device)[0]

    def predict(self, x: Any) -> Any:
        if isinstance(x, tuple):
            x = x[0]
        return self._predict(self._params, self._stats, x)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(jax.device_get(value))

    def synchronize(self, value: Any = None) -> None:
        if value is not None:
            jax.block_until_ready(value)
        else:
            jax.block_until_ready((self._params, self._stats, self._opt_state, self._key))

    def memory_stats(self) -> dict[str, Any]:
        stats = self._device.memory_stats()
        if not stats:
            return {"device_peak_bytes": None,
                    "device_peak_reason": f"jax {self._device.platform} device.memory_stats() returns None "
                                          "(the XLA CPU client does not track allocations)"}
        peak = stats.get("peak_bytes_in_use")
        return {"device_peak_bytes": int(peak) if peak is not None else None,
                "device_peak_reason": None if peak is not None else "memory_stats() has no 'peak_bytes_in_use'"}

    def device_info(self) -> dict[str, Any]:
        platform = self._device.platform
        bus_id, bus_source = probes.pci_bus_id(self._device)
        return {"device": device_kind(self._device), "device_name": self._device.device_kind,
                "framework_version": jax.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "flax": flax.__version__, "optax": optax.__version__, "default_backend": jax.default_backend(),
                "platform": platform, "device_count": jax.device_count(platform),
                "pci_bus_id": bus_id, "pci_bus_id_source": bus_source}

    def settings(self) -> dict[str, Any]:
        xla_flags = os.environ.get("XLA_FLAGS", "")
        thread_flags = [f for f in xla_flags.split() if "thread" in f or "eigen" in f]
        try:
            affinity: int | None = len(os.sched_getaffinity(0))
        except AttributeError:
            affinity = None
        on_cpu = self._device.platform == "cpu"
        matmul_precision = MATMUL_PRECISIONS[self.precision]
        return {
            "threads": {"intra_op": affinity or os.cpu_count(), "inter_op": None,
                        "os_cpu_count": os.cpu_count(), "affinity_cpus": affinity,
                        "xla_thread_flags": thread_flags or None,
                        "note": "XLA CPU sizes its own Eigen intra-op pool from the usable cores unless XLA_FLAGS "
                                "limit it; it has no inter-op pool setting"},
            "mode": self.mode, "precision": self.precision, "layout": "NHWC", "compiled": True, "xla": True,
            "tf32": self.precision == "tf32", "tf32_effective": self.precision == "tf32" and self._ampere(),
            "tf32_reason": ("TF32 exists only on NVIDIA Ampere+ GPUs: on CPU tf32 is the same arithmetic as fp32"
                            if on_cpu else f"steps traced under matmul precision {matmul_precision}"),
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "trace_matmul_precision": matmul_precision,
            "compute_dtype": jnp.dtype(COMPUTE_DTYPES[self.precision]).name, "param_dtype": "float32",
            "loss_dtype": "float32",
            "xla_flags": xla_flags or None, "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "donated_buffers": True, "lstm": f"fused-weight lax.scan (unroll {LSTM_SCAN_UNROLL})",
            "max_pool": dict(PHASE_POOLS),
        }
