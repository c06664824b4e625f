"""The TensorFlow / Keras 3 adapter: a GradientTape train step wrapped in tf.function ("graph"), XLA ("xla") or
run eagerly ("eager"); fp32, or bf16 mixed precision through each layer's Keras "mixed_bfloat16" dtype policy."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any, ClassVar

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ INFO/WARNING noise down; errors still show

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from backends.base import Adapter, Unsupported  # noqa: E402
from backends.tensorflow import MODES, NAME, probes  # noqa: E402
from backends.tensorflow.layers import NeutralModel, build_model, dtype_policy  # noqa: E402
from backends.tensorflow.optim import make_loss, make_optimizer, reset_optimizer  # noqa: E402
from backends.tensorflow.weights import read_weights, trainable_count, write_weights  # noqa: E402
from common.machine import cpu_model  # noqa: E402
from suites.params import Weights  # noqa: E402
from suites.spec import ModelSpec, TaskSpec, label_shape  # noqa: E402

CPU_PEAK_REASON = ("TF's CPU allocator keeps no statistics: tf.config.experimental.get_memory_info('CPU:0') "
                   "returns {'current': 0, 'peak': 0} whatever was allocated")


class TensorFlowAdapter(Adapter):
    """Keras 3 layers, a tf.GradientTape step with a Keras optimizer, compiled by tf.function / XLA or run eagerly."""

    name: ClassVar[str] = NAME
    modes: ClassVar[tuple[str, ...]] = MODES
    default_mode: ClassVar[str] = MODES[0]

    def __init__(self, mode: str | None = None, precision: str = "fp32", device: str = "auto") -> None:
        super().__init__(mode, precision, device)
        gpus = tf.config.list_physical_devices("GPU")
        if device in ("cuda", "gpu") and not gpus:
            raise Unsupported(f"device {device!r} requested but TensorFlow sees no GPU")
        if device not in ("auto", "cpu", "cuda", "gpu"):
            raise Unsupported(f"device {device!r} is not one of auto, cpu, cuda, gpu")
        self.on_gpu = bool(gpus) and device != "cpu"
        self.tf_device = "/GPU:0" if self.on_gpu else "/CPU:0"
        probes.set_tf32(self.precision == "tf32")  # explicit, never TF's default (on)
        self.spec: ModelSpec | None = None
        self.task: TaskSpec | None = None
        # Per-layer policy, never keras.config.set_dtype_policy: a global would leak into later adapters.
        self.policy = dtype_policy(precision)

    # ---- build ---------------------------------------------------------------------------------------------------

    def build(self, model: ModelSpec, task: TaskSpec, weights: Weights) -> None:
        keras.utils.set_random_seed(task.seed)  # seeds python/numpy/TF; every Dropout's SeedGenerator draws from it
        self.spec, self.task = model, task
        # cuDNN's LSTM kernel cannot be XLA-compiled: under "xla" on a GPU the generic (while-loop) LSTM is used.
        use_cudnn: bool | str = False if self.mode == "xla" else "auto"
        with tf.device(self.tf_device):
            self.model: NeutralModel = build_model(model, use_cudnn=use_cudnn, lstm_unroll=False, dtype=self.policy)
            self.optimizer = make_optimizer(task.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.loss_fn = make_loss(task.loss)
        self.set_weights(weights)
        self._x_dtype = tf.int32 if model.input_dtype == "int32" else tf.float32
        self._y_dtype = tf.int32 if task.is_classification else tf.float32
        self._y_shape: tuple[int, ...] = label_shape(model, task)
        self._train = self._compile(self._train_fn, with_labels=True)
        self._predict = self._compile(self._predict_fn, with_labels=False)
        if self.on_gpu:
            tf.config.experimental.reset_memory_stats("GPU:0")

    def _loss_and_grads(self, x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, list[Any]]:
        """The training-mode mean loss (float32, from float32-cast outputs; no loss scaling: bf16 has fp32's exponent
        range) and its gradients for the float32 trainable variables."""
        with tf.device(self.tf_device):
            with tf.GradientTape() as tape:
                loss = self.loss_fn(y, tf.cast(self.model(x, training=True), tf.float32))
            return loss, tape.gradient(loss, self.model.trainable_variables)

    def _train_fn(self, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
        """One optimizer step; returns the batch's mean loss computed before the update."""
        loss, grads = self._loss_and_grads(x, y)
        with tf.device(self.tf_device):
            self.optimizer.apply(grads, self.model.trainable_variables)
        return loss

    def _predict_fn(self, x: tf.Tensor) -> tf.Tensor:
        """Inference-mode forward pass; outputs as float32 whatever the compute dtype."""
        with tf.device(self.tf_device):
            return tf.cast(self.model(x, training=False), tf.float32)

    def _compile(self, fn: Callable[..., Any], *, with_labels: bool) -> Callable[..., Any]:
        """fn as is ("eager"), or a tf.function with a batch-polymorphic signature (so no shape retraces), XLA on."""
        if self.mode == "eager":
            return fn
        assert self.spec is not None
        signature = [tf.TensorSpec((None, *self.spec.input_shape), self._x_dtype)]
        if with_labels:
            signature.append(tf.TensorSpec((None, *self._y_shape), self._y_dtype))
        # A partial has no __code__, so TF's "frequent retracing" detector keys on this object, not on the shared
        # method code (which would warn falsely once several adapters are built in one process).
        return tf.function(functools.partial(fn), input_signature=signature, reduce_retracing=True,
                           jit_compile=self.mode == "xla")

    # ---- weights -------------------------------------------------------------------------------------------------

    def get_weights(self) -> Weights:
        assert self.spec is not None
        return read_weights(self.model, self.spec)

    def set_weights(self, weights: Weights) -> None:
        assert self.spec is not None
        write_weights(self.model, self.spec, weights)
        reset_optimizer(self.optimizer)

    def trainable_param_count(self) -> int:
        return trainable_count(self.model)

    # ---- data and steps ------------------------------------------------------------------------------------------

    def put(self, x: np.ndarray, y: np.ndarray | None = None) -> Any:
        """Copy a batch to the device (inputs as float32 or int32 ids, labels int32 or float32 (N, out))."""
        xt = self._to_device(np.asarray(x, dtype=self._x_dtype.as_numpy_dtype))
        if y is None:
            return xt
        y_np = np.asarray(y, dtype=self._y_dtype.as_numpy_dtype).reshape((-1, *self._y_shape))
        return xt, self._to_device(y_np)

    def _to_device(self, array: np.ndarray) -> tf.Tensor:
        with tf.device(self.tf_device):
            return tf.identity(tf.convert_to_tensor(array))

    def train_step(self, batch: Any) -> Any:
        x, y = batch
        return self._train(x, y)

    def predict(self, x: Any) -> Any:
        return self._predict(x)

    def train_outputs(self, x: Any) -> Any:
        """Training-mode outputs (batch statistics; dropout as built) of a `put` input, float32, run eagerly; the
        moving statistics (and every other non-trainable variable) are put back as they were."""
        saved = [variable.numpy() for variable in self.model.non_trainable_variables]
        with tf.device(self.tf_device):
            out = tf.cast(self.model(x, training=True), tf.float32)
        for variable, value in zip(self.model.non_trainable_variables, saved, strict=True):
            variable.assign(value)
        return out

    def idiomatic_epoch(self, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> dict[str, Any]:
        """One epoch from tf.data (from_tensor_slices → shuffle(len, seed) → batch(drop_remainder) → prefetch),
        iterated in Python into the mode's train step (tf.function graph / XLA, or eager)."""
        if self.spec is None:
            raise RuntimeError("call build() first")
        start = time.perf_counter()
        x_np = np.asarray(x, dtype=self._x_dtype.as_numpy_dtype)
        y_np = np.asarray(y, dtype=self._y_dtype.as_numpy_dtype).reshape((-1, *self._y_shape))
        dataset = (tf.data.Dataset.from_tensor_slices((x_np, y_np))
                   .shuffle(len(x_np), seed=seed)
                   .batch(batch_size, drop_remainder=True)
                   .prefetch(tf.data.AUTOTUNE))
        steps, loss = 0, None
        for xb, yb in dataset:
            loss = self._train(xb, yb)
            steps += 1
        self.synchronize(loss)
        seconds = time.perf_counter() - start
        step = {"graph": "tf.function", "xla": "tf.function(jit_compile=True)", "eager": "eager"}[self.mode]
        return {"seconds": seconds, "steps": steps, "samples": steps * batch_size,
                "pipeline": f"tf.data from_tensor_slices → shuffle(len, seed) → batch(drop_remainder=True) → "
                            f"prefetch(AUTOTUNE), Python loop into the {step} train step on {self.tf_device}"}

    def counted_flops(self, x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
        """The TF profiler's count of freshly traced, never run predict and loss-gradient graphs (probes)."""
        if self.spec is None:
            raise RuntimeError("call build() first")
        x_np = np.asarray(x, dtype=self._x_dtype.as_numpy_dtype)
        y_np = np.asarray(y, dtype=self._y_dtype.as_numpy_dtype).reshape((-1, *self._y_shape))
        return probes.counted_flops(self.model, self._predict_fn, self._loss_and_grads, x_np, y_np)

    def peak_matmul(self, precision: str | None = None) -> dict[str, Any]:
        """Peak rate of tf.linalg.matmul under tf.function on this adapter's device at `precision` (default: the
        adapter's own), best of N over a few sizes (probes.peak_matmul)."""
        return probes.peak_matmul(self.tf_device, self.on_gpu, precision or self.precision)

    def to_numpy(self, value: Any) -> np.ndarray:
        return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

    def synchronize(self, value: Any = None) -> None:
        """Wait for all queued device work (tf.test.experimental.sync_devices: a SyncDevice op per device + async
        wait), which covers `value`; on CPU TF ops finish before returning, so this is a cheap no-op barrier."""
        tf.test.experimental.sync_devices()

    # ---- reporting -----------------------------------------------------------------------------------------------

    def memory_stats(self) -> dict[str, Any]:
        if self.on_gpu:
            return {"device_peak_bytes": int(tf.config.experimental.get_memory_info("GPU:0")["peak"]),
                    "device_peak_reason": None}
        return {"device_peak_bytes": None, "device_peak_reason": CPU_PEAK_REASON}

    def device_info(self) -> dict[str, Any]:
        info: dict[str, Any] = {"device": self._device_kind(), "framework_version": tf.__version__,
                                "keras_version": keras.__version__, "tf_device": self.tf_device}
        if self.on_gpu:
            details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
            info["device_name"] = details.get("device_name", "GPU")
            info["compute_capability"] = details.get("compute_capability")
        else:
            info["device_name"] = cpu_model()
        info["pci_bus_id"], info["pci_bus_id_source"] = probes.pci_bus_id(self.on_gpu)
        return info

    def _device_kind(self) -> str:
        """'cpu', 'cuda' for an NVIDIA GPU (a CUDA build of TF), else 'gpu'."""
        if not self.on_gpu:
            return "cpu"
        return "cuda" if tf.test.is_built_with_cuda() else "gpu"

    def settings(self) -> dict[str, Any]:
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        inter = tf.config.threading.get_inter_op_parallelism_threads()
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        default_note = ("0 = TF default: port::MaxParallelism() = schedulable CPUs, unless "
                        "TF_NUM_INTRAOP_THREADS / TF_NUM_INTEROP_THREADS is set")
        onednn_env = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
        tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
        return {
            "threads": {"intra_op": intra, "inter_op": inter,
                        "intra_op_effective": intra or int(os.environ.get("TF_NUM_INTRAOP_THREADS", 0) or 0) or cpus,
                        "inter_op_effective": inter or int(os.environ.get("TF_NUM_INTEROP_THREADS", 0) or 0) or cpus,
                        "note": default_note},
            "mode": self.mode,
            "precision": self.precision,
            "dtype_policy": self.policy.name,
            "compute_dtype": self.policy.compute_dtype,
            "variable_dtype": self.policy.variable_dtype,
            "loss_scaling": False,
            "bf16_note": self._bf16_note(),
            "layout": "NHWC",
            "compiled": self.mode in ("graph", "xla"),
            "xla": self.mode == "xla",
            "xla_auto_jit": bool(tf.config.optimizer.get_jit()),
            "tf32": tf32,
            "tf32_effective": tf32 and self.on_gpu and self._ampere(),
            "tf32_reason": None if self.on_gpu else "TF32 exists only on NVIDIA Ampere+ GPUs: on CPU tf32 is the "
                                                    "same arithmetic as fp32",
            "onednn": {"TF_ENABLE_ONEDNN_OPTS": onednn_env, "enabled": _onednn_enabled()},
            "lstm_kernel": self._lstm_kernel(),
            "dropout_rng": "stateless Philox (same masks in graph and eager; XLA's Philox lowering draws others)",
            "optimizer": "keras SGD" if self.task and self.task.optimizer.name == "sgd" else "BiasCorrectedAdam "
                         "(keras Adam with the torch/optax eps placement)",
            "framework_version": tf.__version__,
            "keras_version": keras.__version__,
        }

    def _ampere(self) -> bool:
        """Whether the GPU has TF32 tensor cores (compute capability 8.0 or later)."""
        details = tf.config.experimental.get_device_details(tf.config.get_visible_devices("GPU")[0])
        return tuple(details.get("compute_capability") or (0, 0)) >= (8, 0)

    def pci_bus_id(self) -> str | None:
        """The NVML-form PCI bus id of this adapter's GPU (probes.pci_bus_id); None on CPU."""
        return probes.pci_bus_id(self.on_gpu)[0]

    def _bf16_note(self) -> str | None:
        """How bf16 matmuls really run where that is not plain bf16 kernels (XLA on CPU), else None."""
        if self.precision != "bf16" or self.on_gpu or self.mode != "xla":
            return None
        return ("XLA's CPU compiler rewrites bf16 dot/convolution to f32 (operands rounded to bf16, f32 arithmetic, "
                "plus converts): bf16 numerics, no bf16 speed-up")

    def _lstm_kernel(self) -> str | None:
        """Which LSTM loop runs: cuDNN on a GPU outside XLA, else Keras' fused-gate while-loop."""
        if self.spec is None or not any(layer.kind == "lstm" for layer in self.spec.layers):
            return None
        return "cudnn" if self.on_gpu and self.mode != "xla" else "keras while_loop, fused gates (implementation=2)"


def _onednn_enabled() -> bool | None:
    """Whether this TF build runs oneDNN (MKL) kernels (TF_ENABLE_ONEDNN_OPTS, default on for x86-64 Linux)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())
