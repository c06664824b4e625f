"""What TensorFlow itself measures about a model and the device: its profiler's FLOP count, and its peak GEMM rate."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TF's C++ INFO/WARNING noise down; errors still show

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.profiler import option_builder  # noqa: E402

from backends import gemm, pci  # noqa: E402
from backends.base import Unsupported  # noqa: E402
from backends.tensorflow.layers import NeutralModel  # noqa: E402


def profiled_flops(function: Any) -> float:
    """Float operations the TF profiler (tf.compat.v1.profiler, flops_registry) counts in a concrete function's graph,
    pruned to the ops its outputs need (the graph builder emits gradients nobody fetches, e.g. the input gradient of
    the first Conv2D; the runtime prunes them)."""
    graph_def = function.graph.as_graph_def(add_shapes=True)  # variable reads keep their shapes on import
    fetched = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [t.op.name for t in function.outputs])
    pruned = tf.Graph()
    with pruned.as_default():
        tf.graph_util.import_graph_def(fetched, name="")
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return float(tf.compat.v1.profiler.profile(graph=pruned, options=options).total_float_ops)


def function_ops(function: Any) -> list[str]:
    """Types of the ops in a concrete function's graph that run other function bodies (loops, conds, calls): the
    profiler counts only the top-level graph, so their work would be missed."""
    return sorted({op.type for op in function.graph.get_operations()
                   if any(attr.HasField("func") or attr.list.func for attr in op.node_def.attr.values())})


@contextlib.contextmanager
def unrolled_lstms(model: NeutralModel) -> Iterator[None]:
    """Keras LSTMs trace as unrolled Python loops (no tf.while_loop, no cuDNN) inside this block."""
    lstms = [layer for layer in model.chain if isinstance(layer, keras.layers.LSTM)]
    try:
        for layer in lstms:
            layer.unroll = True
        yield
    finally:
        for layer in lstms:
            layer.unroll = False


def counted_flops(model: NeutralModel, predict: Callable[..., Any], loss_and_grads: Callable[..., Any],
                  x: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    """The TF profiler's float-operation count of freshly traced (never run) tf.functions of the batch's shape:
    `predict(x)` (the inference forward pass) and `loss_and_grads(x, y)` (the training loss with its gradients, no
    optimizer update), LSTMs unrolled.

    Nothing executes, so weights, optimizer slots and dropout seeds stay as they were. The count is of the
    traced TF graph (before Grappler and XLA), whatever the mode; MatMul/Conv2D count 2 per multiply-add and
    element-wise ops 1 per element.
    """
    x_spec, y_spec = tf.TensorSpec(x.shape, tf.as_dtype(x.dtype)), tf.TensorSpec(y.shape, tf.as_dtype(y.dtype))
    with unrolled_lstms(model):
        forward = tf.function(functools.partial(predict)).get_concrete_function(x_spec)
        train = tf.function(functools.partial(loss_and_grads)).get_concrete_function(x_spec, y_spec)
    hidden = function_ops(forward) + function_ops(train)
    if hidden:
        raise Unsupported(f"the TF profiler counts only the top-level graph; {', '.join(sorted(set(hidden)))} "
                          f"ops run function bodies it does not enter, so it would under-count")
    return {"forward_flops": profiled_flops(forward), "train_flops": profiled_flops(train),
            "counter": "tf.compat.v1.profiler float_operation (TF flops_registry: MatMul/Conv2D 2 per "
                       "multiply-add, element-wise ops 1 per element) on traced, unrun tf.function graphs "
                       "pruned to their outputs, LSTMs unrolled: forward = inference predict, train = loss + "
                       "tape.gradient (no optimizer update)"}


GEMM_DTYPES = {"fp32": tf.float32, "tf32": tf.float32, "bf16": tf.bfloat16}
"""Operand dtype of the peak GEMM per precision (tf32 is float32 operands with TF32 tensor-core math)."""


def peak_matmul(tf_device: str, on_gpu: bool, precision: str) -> dict[str, Any]:
    """Peak rate of tf.linalg.matmul under tf.function at this precision on `tf_device` (CPU or GPU), synchronised,
    best of N over a few sizes; TF32 on only for 'tf32' while it runs (the previous setting is restored)."""
    dtype = GEMM_DTYPES[precision]
    saved = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    set_tf32(precision == "tf32")
    try:
        with tf.device(tf_device):
            gen = tf.random.Generator.from_seed(0)
            matmul = tf.function(tf.linalg.matmul)

            def make_run(n: int) -> Callable[[], None]:
                a = tf.cast(gen.normal((n, n), dtype=tf.float32), dtype)
                b = tf.cast(gen.normal((n, n), dtype=tf.float32), dtype)

                def run() -> None:
                    with tf.device(tf_device):
                        matmul(a, b)
                    if on_gpu:
                        tf.test.experimental.sync_devices()  # CPU eager execution returns when the op is done

                return run

            swept = gemm.sweep(make_run, on_gpu)
        tf32 = bool(tf.config.experimental.tensor_float_32_execution_enabled())
    finally:
        set_tf32(saved)
    return gemm.peak_result("tensorflow", tf.__version__,
                            f"tf.function(tf.linalg.matmul) {dtype.name} on {tf_device}, "
                            f"tensor_float_32_execution_enabled={tf32}", precision, swept, tf32=tf32)


def set_tf32(enabled: bool) -> None:
    """TF32 on or off for float32 matmuls and convolutions on Ampere+ GPUs, process-wide (harmless on CPU)."""
    tf.config.experimental.enable_tensor_float_32_execution(enabled)


def pci_bus_id(on_gpu: bool) -> tuple[str | None, str]:
    """(NVML-form PCI bus id, how it was read) of the GPU behind '/GPU:0'; (None, why) on CPU.

    TF exposes no bus id short of device_lib.list_local_devices() (which builds every device again and may reserve
    GPU memory), so the visible physical GPU's CUDA ordinal goes to the CUDA driver's cuDeviceGetPCIBusId."""
    if not on_gpu:
        return None, "CPU device: no PCI bus id"
    name = tf.config.get_visible_devices("GPU")[0].name  # '/physical_device:GPU:<CUDA ordinal>'
    ordinal = int(name.rsplit(":", 1)[1])
    bus_id, how = pci.driver_bus_id(ordinal)
    return bus_id, f"TF {name} → {how}"
