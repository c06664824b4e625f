"""JAX internals behind the conformance suite: dropout and max-pool primitives, one trace, bf16, XLA cost analysis."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

jax = pytest.importorskip("jax")
pytest.importorskip("flax")
pytest.importorskip("optax")

from backends.jax.adapter import JaxAdapter, device_kind  # noqa: E402
from backends.jax.layers import dropout, max_pool  # noqa: E402
from suites.flops import forward_flops  # noqa: E402
from suites.params import init_weights  # noqa: E402
from suites.reference import forward  # noqa: E402
from suites.registry import OFFLINE_WORKLOADS, get_workload  # noqa: E402


def _build(name: str, precision: str = "fp32", drop: bool = False) -> tuple[Any, Any, JaxAdapter]:
    workload = get_workload(name)
    model = workload.model.without_dropout() if drop else workload.model
    adapter = JaxAdapter(precision=precision, device="cpu")
    adapter.build(model, workload.task, init_weights(model, 0))
    return model, workload.task, adapter


def test_dropout_is_inverted_and_off_without_a_key() -> None:
    x = jax.numpy.ones((200, 500))
    dropped = np.asarray(dropout(x, 0.3, jax.random.key(0)))
    np.testing.assert_allclose(np.unique(dropped), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((dropped == 0).mean() - 0.3) < 0.01 and dropout(x, 0.3, None) is x


def test_max_pool_matches_flax_values_and_first_max_gradient() -> None:
    from flax import nnx
    x = jax.numpy.asarray(np.random.default_rng(0).integers(0, 3, (2, 9, 8, 3)).astype(np.float32))  # many ties
    w = jax.numpy.asarray(np.random.default_rng(1).standard_normal((2, 4, 3, 3)).astype(np.float32))

    def ours(v: jax.Array) -> jax.Array:
        return (max_pool(v, 3, 2, (1, 2)) * w).sum()

    def flax_pool(v: jax.Array) -> jax.Array:
        return (nnx.max_pool(v, (3, 3), (2, 2), "VALID") * w).sum()

    assert float(ours(x)) == float(flax_pool(x))
    np.testing.assert_array_equal(np.asarray(jax.grad(ours)(x)), np.asarray(jax.grad(flax_pool)(x)))
    inference = max_pool(x, 3, 2, (1, 2), training=False)  # the forward-only path: flax's own reduce_window
    np.testing.assert_array_equal(np.asarray(inference), np.asarray(nnx.max_pool(x, (3, 3), (2, 2), "VALID")))
    assert "reduce_window_max" in str(jax.make_jaxpr(lambda v: max_pool(v, 3, 2, (1, 2), training=False))(x))
    assert "reduce_window_max" not in str(jax.make_jaxpr(jax.grad(ours))(x))


@pytest.mark.parametrize("name", ["mnist_cnn", "rowmnist_lstm", "text_transformer"])
def test_one_trace_per_batch_shape(make_batch: Any, name: str) -> None:
    model, task, adapter = _build(name)
    batch = adapter.put(*make_batch(model, task, 8))
    for _ in range(3):  # a repeated shape, then an epoch of fixed-size batches
        adapter.train_step(batch)
    assert "device_put" in adapter.idiomatic_epoch(*make_batch(model, task, 32), 8, seed=0)["pipeline"]
    assert adapter._train._cache_size() == 1


def test_bf16_keeps_fp32_master_weights_and_optimizer_state(make_batch: Any) -> None:
    """Internals behind tests/test_bf16.py: params and Adam moments stay float32; the settings name the dtypes."""
    model, task, adapter = _build("mnist_cnn", precision="bf16")
    adapter.train_step(adapter.put(*make_batch(model, task, 8)))
    assert all(p.dtype == jax.numpy.float32 for p in adapter._params)
    assert all(leaf.dtype == jax.numpy.float32 for leaf in jax.tree.leaves(adapter._opt_state)
               if jax.numpy.issubdtype(leaf.dtype, jax.numpy.floating))
    settings = adapter.settings()
    assert (settings["compute_dtype"], settings["param_dtype"], settings["loss_dtype"], settings["compiled"],
            settings["xla"], settings["layout"]) == ("bfloat16", "float32", "float32", True, True, "NHWC")


@pytest.mark.parametrize("name", OFFLINE_WORKLOADS)
def test_bf16_every_workload_stays_close_to_reference(make_batch: Any, name: str) -> None:
    """bf16 runs every layer kind (token ids stay int32, LSTM, attention, regression) with fp32 outputs and loss."""
    model, task, adapter = _build(name, precision="bf16", drop=True)
    x, y = make_batch(model, task, 8)
    out = adapter.predict(adapter.put(x))
    ref = forward(model, init_weights(model, 0), x)
    assert out.dtype == jax.numpy.float32
    assert np.abs(adapter.to_numpy(out) - ref).max() < 5e-2 * max(1.0, float(np.abs(ref).max()))
    loss = adapter.train_step(adapter.put(x, y))
    assert loss.dtype == jax.numpy.float32 and np.isfinite(float(adapter.to_numpy(loss)))
    assert all(w.dtype == np.float32 for w in adapter.get_weights().values())


@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn", "rowmnist_lstm", "text_transformer"])
def test_cost_analysis_counts_every_layer_and_keeps_the_dropout_key(make_batch: Any, name: str) -> None:
    """XLA counts the spec's dot/conv FLOPs plus 1 per element-wise op element: XLA/spec 1.001, 1.023, 1.013 (0.40
    with the LSTM scan rolled: XLA counts a loop body once), 1.035. Lowering only: the dropout key is untouched."""
    model, task, adapter = _build(name)
    x, y = make_batch(model, task, 4)
    counted = adapter.counted_flops(x, y)
    assert 1.0 <= counted["forward_flops"] / 4 / forward_flops(model) < 1.15, counted
    assert counted["train_flops"] is not None and counted["train_flops"] > counted["forward_flops"]
    assert counted["counter"].startswith("XLA cost_analysis")
    _, _, fresh = _build(name)
    batch = adapter.put(x, y)
    assert float(adapter.to_numpy(adapter.train_step(batch))) == float(fresh.to_numpy(fresh.train_step(batch)))


def test_an_nvidia_gpu_is_recorded_as_cuda() -> None:
    """jax calls every GPU platform 'gpu'; the record says 'cuda' for NVIDIA, as torch and TensorFlow do."""
    from types import SimpleNamespace as Fake

    def kind(platform: str, client: str, version: str) -> str:  # a fake jax.Device
        return device_kind(Fake(platform=platform, client=Fake(platform=client, platform_version=version)))

    assert kind("gpu", "cuda", "cuda 12080") == "cuda" and kind("gpu", "gpu", "cuda 12020") == "cuda"
    assert kind("gpu", "rocm", "rocm 6.0") == "gpu" and device_kind(jax.devices("cpu")[0]) == "cpu"


@pytest.mark.gpu
def test_peak_matmul_runs_at_highest_precision() -> None:
    if jax.default_backend() != "gpu":
        pytest.skip("jax sees no GPU")
    peak = JaxAdapter(device="gpu").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "HIGHEST" in peak["method"]
