"""torch internals behind the conformance suite: compiled graphs survive, channels_last layout, bf16 master weights."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")

from backends.torch.adapter import TorchAdapter  # noqa: E402
from suites.params import init_weights  # noqa: E402
from suites.reference import forward  # noqa: E402
from suites.registry import get_workload  # noqa: E402


def _build(name: str, mode: str, precision: str = "fp32") -> tuple[Any, TorchAdapter]:
    workload = get_workload(name)
    adapter = TorchAdapter(mode, precision=precision, device="cpu")
    adapter.build(workload.model, workload.task, init_weights(workload.model, 0))
    return workload, adapter


def _losses(adapter: TorchAdapter, batch: Any, steps: int) -> list[float]:
    return [float(adapter.to_numpy(adapter.train_step(batch))) for _ in range(steps)]


def test_compile_mode_does_not_recompile(make_batch: Any) -> None:
    """In-place weight loads and a fresh optimizer keep the compiled graphs valid."""
    workload, adapter = _build("mnist_mlp", "compile")
    assert adapter.settings()["compiled"] is True
    x, y = make_batch(workload.model, workload.task, 16)
    batch, probe = adapter.put(x, y), adapter.put(x)
    first = _losses(adapter, batch, 1)
    adapter.predict(probe)
    with torch._dynamo.config.patch(error_on_recompile=True):
        later = _losses(adapter, batch, 8)
        adapter.predict(probe)
        adapter.set_weights(init_weights(workload.model, 0))
        adapter.train_step(batch)
        adapter.predict(probe)
    assert later[-1] < first[0]


@pytest.mark.parametrize("name", ["mnist_cnn", "keras_cnn"])
def test_channels_last_keeps_nhwc_memory_and_trains_like_eager(make_batch: Any, name: str) -> None:
    workload, adapter = _build(name, "channels_last")
    model, task = workload.model, workload.task
    assert adapter.settings()["layout"] == "NHWC (channels_last)" and adapter.settings()["compiled"] is False
    convs = [m for m in adapter._net().modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    x, y = make_batch(model, task, 16, seed=5)
    probe = adapter.put(x)
    assert probe.shape[1] == model.input_shape[-1] and probe.is_contiguous(memory_format=torch.channels_last)
    assert not any(layer.kind == "dropout" for layer in model.layers)  # deterministic steps: compare with eager
    _, eager = _build(name, "eager")
    got, want = _losses(adapter, adapter.put(x, y), 12), _losses(eager, eager.put(x, y), 12)
    assert got[-1] < got[0]
    np.testing.assert_allclose(got, want, rtol=1e-3)  # same maths, other kernels' rounding
    assert all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)  # the optimizer kept it
    out = adapter.to_numpy(adapter.predict(probe))
    ref = forward(model, adapter.get_weights(), x)
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-4 * max(1.0, float(np.abs(ref).max())))


def test_bf16_keeps_fp32_master_weights_and_optimizer_state(make_batch: Any) -> None:
    """Internals behind tests/test_bf16.py: autocast leaves parameters and Adam moments in float32."""
    workload, adapter = _build("mnist_cnn", "eager", precision="bf16")
    adapter.train_step(adapter.put(*make_batch(workload.model, workload.task, 8)))
    assert all(p.dtype == torch.float32 for p in adapter.net.parameters())
    assert all(t.dtype == torch.float32 for state in adapter.optimizer.state.values() for t in state.values()
               if torch.is_tensor(t) and t.is_floating_point())
    assert adapter.settings()["optimizer_impl"] in ("fused", "foreach")


def test_settings_name_torch_threads_layout_and_the_dataloader(make_batch: Any) -> None:
    workload, adapter = _build("mnist_mlp", "eager")
    settings = adapter.settings()
    assert settings["threads"] == {"intra_op": torch.get_num_threads(), "inter_op": torch.get_num_interop_threads()}
    assert (settings["layout"], settings["compiled"], settings["xla"]) == ("NCHW", False, False)
    result = adapter.idiomatic_epoch(*make_batch(workload.model, workload.task, 64), 16, seed=0)
    assert "DataLoader" in result["pipeline"]


@pytest.mark.gpu
def test_peak_matmul_names_the_tf32_setting() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    peak = TorchAdapter("eager", device="cuda").peak_matmul()
    assert peak is not None and peak["peak_flops_per_s"] > 0 and "allow_tf32" in peak["method"]
