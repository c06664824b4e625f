"""The JAX adapter: a Flax NNX model split once into (graphdef, params); jax.jit-compiled pure train/predict steps.

The hot path is two jitted functions of plain arrays: train(params, opt_state, key, x, y) -> (params, opt_state,
key, loss), with params/opt_state/key buffers donated, and predict(params, x). Params travel as a flat list of
arrays (cheapest to dispatch); the NNX module is merged back inside the trace only, so no nnx.jit or graph
traversal runs per step. Matmuls and convolutions are traced under matmul precision "float32" (no TF32 on GPUs).
"""

from __future__ import annotations

import collections
import itertools
import os
import time
from collections.abc import Iterator
from typing import Any, ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flax  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import jaxlib  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
from flax import nnx  # noqa: E402

from backends.base import Adapter, Unsupported  # noqa: E402
from backends.jax.layers import LSTM_SCAN_UNROLL, NeutralModel  # noqa: E402
from backends.jax.weights import ParamIndex  # noqa: E402
from suites.params import Weights, check_weights, param_shapes  # noqa: E402
from suites.spec import ModelSpec, OptimizerSpec, TaskSpec  # noqa: E402

MATMUL_PRECISION = "float32"
"""jax.default_matmul_precision used while tracing fp32 steps: full float32 dots/convs (no TF32/bf16 passes)."""


def make_optimizer(spec: OptimizerSpec) -> optax.GradientTransformation:
    """The Optax optimizer with every constant from the spec (SGD without nesterov, Adam with eps_root=0)."""
    if spec.name == "sgd":
        return optax.sgd(spec.learning_rate, momentum=spec.momentum or None, nesterov=False)
    if spec.name == "adam":
        return optax.adam(spec.learning_rate, b1=spec.beta1, b2=spec.beta2, eps=spec.eps, eps_root=0.0)
    raise Unsupported(f"jax backend has no optimizer {spec.name!r}")


def loss_fn(name: str, outputs: jax.Array, labels: jax.Array) -> jax.Array:
    """Mean softmax cross-entropy on logits with integer labels, or mean squared error."""
    if name == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(outputs, labels).mean()
    return jnp.mean(jnp.square(outputs - labels))


def _pick_device(device: str) -> jax.Device:
    """The jax device for "auto" (the default backend's first device), "cpu", or "cuda"/"gpu"."""
    if device == "auto":
        return jax.devices()[0]
    if device == "cpu":
        return jax.devices("cpu")[0]
    if device in ("cuda", "gpu"):
        try:
            return jax.devices("gpu")[0]
        except RuntimeError as exc:
            raise Unsupported(f"jax sees no GPU (install jax[cuda12]): {exc}") from None
    raise Unsupported(f"jax backend has no device {device!r}; use auto, cpu, cuda or gpu")


def prefetch_to_device(batches: Iterator[Any], size: int, device: jax.Device) -> Iterator[Any]:
    """Yield `batches` after jax.device_put, keeping `size` transfers in flight (as flax.jax_utils' prefetch)."""
    queue: collections.deque[Any] = collections.deque()

    def enqueue(count: int) -> None:
        for batch in itertools.islice(batches, count):
            queue.append(jax.device_put(batch, device))

    enqueue(size)
    while queue:
        yield queue.popleft()
        enqueue(1)


class JaxAdapter(Adapter):
    """Flax NNX + Optax, one jax.jit-compiled pure training step and predict function."""

    name: ClassVar[str] = "jax"
    modes: ClassVar[tuple[str, ...]] = ("jit",)
    default_mode: ClassVar[str] = "jit"

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)
        if precision != "fp32":
            raise Unsupported("jax backend implements fp32 only; bf16 mixed precision is not implemented")
        self._device = _pick_device(device)

    def build(self, model: ModelSpec, task: TaskSpec, weights: Weights) -> None:
        self._model, self._task = model, task
        module = nnx.eval_shape(lambda: NeutralModel(model))  # abstract: no placeholder init is computed
        graphdef, state, rest = nnx.split(module, nnx.Param, ...)
        if jax.tree.leaves(rest):
            raise RuntimeError(f"jax backend: model holds non-parameter state {rest}")
        self._index = ParamIndex.of(state)
        self._tx = make_optimizer(task.optimizer)
        self._x_dtype = np.int32 if model.input_dtype == "int32" else np.float32
        self._y_dtype = np.int32 if task.is_classification else np.float32
        self._train = self._compile_train(graphdef, rest)
        self._predict = self._compile_predict(graphdef, rest)
        self.set_weights(weights)

    def _compile_train(self, graphdef: nnx.GraphDef, rest: nnx.State) -> Any:
        index, tx, loss_name = self._index, self._tx, self._task.loss

        def step(params: list[jax.Array], opt_state: Any, key: jax.Array, x: jax.Array,
                 y: jax.Array) -> tuple[list[jax.Array], Any, jax.Array, jax.Array]:
            with jax.default_matmul_precision(MATMUL_PRECISION):
                key, dropout_key = jax.random.split(key)

                def objective(p: list[jax.Array]) -> jax.Array:
                    net = nnx.merge(graphdef, index.unflatten(p), rest)
                    return loss_fn(loss_name, net(x, dropout_key), y)

                loss, grads = jax.value_and_grad(objective)(params)
                updates, opt_state = tx.update(grads, opt_state, params)
                return optax.apply_updates(params, updates), opt_state, key, loss

        return jax.jit(step, donate_argnums=(0, 1, 2))

    def _compile_predict(self, graphdef: nnx.GraphDef, rest: nnx.State) -> Any:
        index = self._index

        def predict(params: list[jax.Array], x: jax.Array) -> jax.Array:
            with jax.default_matmul_precision(MATMUL_PRECISION):
                return nnx.merge(graphdef, index.unflatten(params), rest)(x)

        return jax.jit(predict)

    def get_weights(self) -> Weights:
        weights = self._index.to_weights(self._params)
        return {name: weights[name] for name in param_shapes(self._model)}

    def set_weights(self, weights: Weights) -> None:
        check_weights(self._model, weights)
        self._params = self._index.to_leaves(weights, self._device)
        self._opt_state = jax.device_put(self._tx.init(self._params), self._device)
        self._key = jax.device_put(jax.random.key(self._task.seed), self._device)

    def trainable_param_count(self) -> int:
        return sum(int(leaf.size) for leaf in self._params)

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        x_dev = jax.device_put(np.asarray(x, dtype=self._x_dtype), self._device)
        if y is None:
            return x_dev
        return x_dev, jax.device_put(self._host_labels(y), self._device)

    def train_step(self, batch: Any) -> Any:
        x, y = batch
        self._params, self._opt_state, self._key, loss = self._train(self._params, self._opt_state, self._key, x, y)
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
            self._params, self._opt_state, self._key, loss = self._train(self._params, self._opt_state, self._key,
                                                                         x_dev, y_dev)
        self.synchronize(loss)
        seconds = time.perf_counter() - start
        return {"seconds": seconds, "steps": steps, "samples": steps * batch_size,
                "pipeline": "numpy permutation(seed) index batches (host gather) → jax.device_put 2 ahead "
                            f"(prefetch deque) → jitted train step on {self._device.platform}"}

    def peak_matmul(self) -> dict[str, Any] | None:
        """Best of 5 synchronised jitted float32 matmul of two 8192² matrices at Precision.HIGHEST on a GPU; None on
        CPU."""
        if self._device.platform == "cpu":
            return None
        n = 8192
        key_a, key_b = jax.random.split(jax.random.key(0))
        a = jax.device_put(jax.random.normal(key_a, (n, n), jnp.float32), self._device)
        b = jax.device_put(jax.random.normal(key_b, (n, n), jnp.float32), self._device)
        matmul = jax.jit(lambda p, q: jnp.matmul(p, q, precision=jax.lax.Precision.HIGHEST))
        for _ in range(3):
            matmul(a, b).block_until_ready()
        best = float("inf")
        for _ in range(5):
            start = time.perf_counter()
            matmul(a, b).block_until_ready()
            best = min(best, time.perf_counter() - start)
        del a, b
        return {"peak_flops_per_s": 2 * n**3 / best,
                "method": f"jax.jit(jnp.matmul) float32 {n}x{n}, precision=HIGHEST, 3 warm-up, "
                          "best of 5 block_until_ready"}

    def predict(self, x: Any) -> Any:
        if isinstance(x, tuple):
            x = x[0]
        return self._predict(self._params, x)

    def to_numpy(self, value: Any) -> np.ndarray:
        return np.asarray(jax.device_get(value))

    def synchronize(self, value: Any = None) -> None:
        if value is not None:
            jax.block_until_ready(value)
        else:
            jax.block_until_ready((self._params, self._opt_state, self._key))

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
        return {"device": "cpu" if platform == "cpu" else "gpu", "device_name": self._device.device_kind,
                "framework_version": jax.__version__, "jax": jax.__version__, "jaxlib": jaxlib.__version__,
                "flax": flax.__version__, "optax": optax.__version__, "default_backend": jax.default_backend(),
                "platform": platform, "device_count": jax.device_count(platform)}

    def settings(self) -> dict[str, Any]:
        xla_flags = os.environ.get("XLA_FLAGS", "")
        thread_flags = [f for f in xla_flags.split() if "thread" in f or "eigen" in f]
        try:
            affinity: int | None = len(os.sched_getaffinity(0))
        except AttributeError:
            affinity = None
        on_cpu = self._device.platform == "cpu"
        return {
            "threads": {"intra_op": affinity or os.cpu_count(), "inter_op": None,
                        "os_cpu_count": os.cpu_count(), "affinity_cpus": affinity,
                        "xla_thread_flags": thread_flags or None,
                        "note": "XLA CPU sizes its own Eigen intra-op pool from the usable cores unless XLA_FLAGS "
                                "limit it; it has no inter-op pool setting"},
            "mode": self.mode, "precision": self.precision, "layout": "NHWC", "compiled": True, "xla": True,
            "tf32": None if on_cpu else False,
            "tf32_reason": "CPU has no TF32" if on_cpu else f"steps traced under matmul precision {MATMUL_PRECISION}",
            "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
            "trace_matmul_precision": MATMUL_PRECISION,
            "xla_flags": xla_flags or None, "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "donated_buffers": True, "lstm": f"fused-weight lax.scan (unroll {LSTM_SCAN_UNROLL})",
        }
