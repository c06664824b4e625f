"""FLOPs from the spec agree with PyTorch's own FLOP counter on the same models."""

import numpy as np
import pytest

from suites.flops import forward_flops
from suites.params import init_weights
from suites.registry import get_workload

torch = pytest.importorskip("torch")


# torch's counter has no rule for the fused LSTM kernel or the encoder layer's fast path (it sees only their final
# Dense), so rowmnist_lstm and text_transformer are checked against the spec's formula by hand in suites/flops.py.
@pytest.mark.parametrize("name", ["mnist_mlp", "mnist_cnn", "keras_cnn", "text_cnn", "tfidf_mlp"])
def test_spec_flops_match_torch_flop_counter(name):
    from torch.utils.flop_counter import FlopCounterMode

    from backends.torch.adapter import TorchAdapter

    workload = get_workload(name)
    adapter = TorchAdapter()
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    shape = (4, *workload.model.input_shape)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 100, shape).astype(np.int32) if workload.model.input_dtype == "int32" else \
        rng.random(shape).astype(np.float32)
    batch = adapter.put(x)
    with FlopCounterMode(display=False) as counter:
        adapter.predict(batch)
    counted = counter.get_total_flops() / 4
    expected = forward_flops(workload.model)
    # torch counts matmul/conv FLOPs (2 per multiply-add), the spec's convention
    assert counted == pytest.approx(expected, rel=0.02), (counted, expected)
