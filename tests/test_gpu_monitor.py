"""The NVML sampler: driven by a fake source here; the real one under the `gpu` marker."""

import time

import pytest

from harness.monitors.gpu import GpuSampler, NvmlSource


class FakeNvml:
    """A GPU whose utilisation follows the phase and whose energy counter grows 5 J per 10 ms."""

    def __init__(self):
        self.t0 = time.perf_counter()
        self.busy = 0.0

    def name(self):
        return "Fake H100"

    def utilization_pct(self):
        return self.busy

    def memory_used_bytes(self):
        return int(1e9 + self.busy * 1e7)

    def power_w(self):
        return 100.0 + 4 * self.busy

    def energy_mj(self):
        return (time.perf_counter() - self.t0) * 500_000.0


def test_sampler_splits_phases_and_energy():
    fake = FakeNvml()
    with GpuSampler(fake, interval_s=0.005) as sampler:
        sampler.phase("train")
        fake.busy = 90.0
        time.sleep(0.2)
        sampler.phase("infer")
        fake.busy = 40.0
        time.sleep(0.1)
        fake.busy = 0.0
        sampler.phase("latency")
    s = sampler.summary({"train": 1000, "infer": 500})
    assert s["available"] and s["device_name"] == "Fake H100"
    train, infer = s["phases"]["train"], s["phases"]["infer"]
    assert train["util_max_pct"] == 90.0 and infer["util_mean_pct"] == pytest.approx(40.0, abs=15)
    assert train["energy_j"] == pytest.approx(100.0, rel=0.3)  # 0.2 s at 500 J/s
    assert train["energy_j_per_sample"] == pytest.approx(train["energy_j"] / 1000)
    assert s["energy_j"] == pytest.approx(train["energy_j"] + infer["energy_j"])
    assert s["util_max_pct"] == 90.0 and train["mem_peak_bytes"] > 1e9
    assert s["timeline"]


def test_unavailable_is_null_with_reason_not_zero():
    sampler = GpuSampler.for_device() if not _has_gpu() else GpuSampler(None, unavailable_reason="forced")
    with sampler:
        sampler.phase("train")
    s = sampler.summary({"train": 10})
    assert s["available"] is False and s["reason"]
    assert s["util_mean_pct"] is None and s["energy_j"] is None


def _has_gpu() -> bool:
    try:
        NvmlSource(0)
    except RuntimeError:
        return False
    return True


@pytest.mark.gpu
@pytest.mark.skipif(not _has_gpu(), reason="no NVIDIA GPU / NVML on this machine")
def test_real_nvml_samples():
    with GpuSampler.for_device(interval_s=0.01) as sampler:
        sampler.phase("train")
        time.sleep(0.2)
    s = sampler.summary({"train": 1})
    assert s["available"] and s["phases"]["train"]["samples"] >= 5
    assert s["phases"]["train"]["mem_peak_bytes"] > 0
