"""FLOPs from the spec agree with PyTorch's own FLOP counter on the same models, forward and training step."""

import numpy as np
import pytest

from backends.base import Unsupported
from suites.flops import forward_flops, train_flops
from suites.params import init_weights
from suites.registry import get_workload

torch = pytest.importorskip("torch")
BATCH = 4


def _batch(name: str) -> tuple[np.ndarray, np.ndarray]:
    workload = get_workload(name)
    rng = np.random.default_rng(0)
    shape = (BATCH, *workload.model.input_shape)
    x = rng.integers(0, 100, shape).astype(np.int32) if workload.model.input_dtype == "int32" else \
        rng.random(shape).astype(np.float32)
    y = rng.integers(0, 2, BATCH).astype(np.int32) if workload.task.is_classification else \
        rng.random((BATCH, 1)).astype(np.float32)
    return x, y


def _adapter(name: str):
    from backends.torch.adapter import TorchAdapter

    workload = get_workload(name)
    adapter = TorchAdapter()
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    return workload, adapter


# mnist_mlp, tfidf_mlp and linear_regression start with a Dense (its training step needs no input gradient: 2x, not
# 3x); text_cnn's first matmul follows a trainable Embedding (3x): the spec's rule must match both.
@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn", "keras_cnn", "text_cnn", "tfidf_mlp", "linear_regression"])
def test_spec_flops_match_torch_flop_counter(name):
    workload, adapter = _adapter(name)
    before = adapter.get_weights()
    counted = adapter.counted_flops(*_batch(name))
    # torch counts matmul/conv FLOPs (2 per multiply-add), the spec's convention
    assert counted["forward_flops"] / BATCH == pytest.approx(forward_flops(workload.model), rel=0.02)
    assert counted["train_flops"] / BATCH == pytest.approx(train_flops(workload.model), rel=0.02)
    after = adapter.get_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)  # counting trains nothing


# torch's counter has no rule for the fused LSTM kernel or the encoder layer's fast path (it would see only the
# final Dense), so the adapter refuses rather than under-count; these two are checked against XLA's cost analysis.
@pytest.mark.parametrize("name", ["rowmnist_lstm", "text_transformer"])
def test_torch_counter_refuses_what_it_cannot_see(name):
    _, adapter = _adapter(name)
    with pytest.raises(Unsupported, match="no rule"):
        adapter.counted_flops(*_batch(name))


def test_mfu_is_not_computed_against_a_peak_of_another_precision():
    from harness.efficiency import efficiency

    model = get_workload("mnist_cnn").model
    timing = {"train": {"median": 1000.0}, "infer": {"median": 4000.0}}
    bf16 = efficiency(model, timing, "cuda", {"peak_flops_per_s": 1e12, "method": "fp32 GEMM"}, "bf16")
    assert bf16["mfu_train"] is None and "bf16" in bf16["mfu_reason"]
    assert bf16["achieved_train_flops_per_s"] == pytest.approx(1000.0 * train_flops(model))
    fp32 = efficiency(model, timing, "cuda", {"peak_flops_per_s": 1e12, "method": "fp32 GEMM"}, "fp32")
    assert fp32["mfu_train"] == pytest.approx(1000.0 * train_flops(model) / 1e12)
