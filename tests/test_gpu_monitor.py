"""The NVML sampler: driven by a fake source here; the real one under the `gpu` marker."""

import os
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


class FakeNvmlError(Exception):
    """pynvml.NVMLError's stand-in."""


class FakeProcess:
    def __init__(self, pid, used):
        self.pid, self.usedGpuMemory = pid, used


class FakePynvml:
    """A pynvml module with two GPUs (NVML index 0 at bus 00000000:1A:00.0, index 1 at 00000000:3B:00.0)."""

    NVMLError = FakeNvmlError
    BUS_IDS = ("00000000:1A:00.0", "00000000:3B:00.0")

    def __init__(self, processes=(), process_error=None):
        self.opened_by, self.processes, self.process_error = None, list(processes), process_error

    def nvmlInit(self):
        pass

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        self.opened_by = ("bus", bus_id)
        if bus_id not in self.BUS_IDS:
            raise FakeNvmlError("Not Found")
        return self.BUS_IDS.index(bus_id)

    def nvmlDeviceGetHandleByIndex(self, index):
        self.opened_by = ("index", index)
        return index

    def nvmlDeviceGetHandleByUUID(self, uuid):
        self.opened_by = ("uuid", uuid)
        return 1

    def nvmlDeviceGetPciInfo(self, handle):
        return type("PciInfo", (), {"busId": self.BUS_IDS[handle].encode()})()

    def nvmlDeviceGetName(self, handle):
        return f"Fake GPU {handle}".encode()

    def nvmlDeviceGetUtilizationRates(self, handle):
        return type("Util", (), {"gpu": 50})()

    def nvmlDeviceGetMemoryInfo(self, handle):
        return type("Mem", (), {"used": 2**30})()

    def nvmlDeviceGetComputeRunningProcesses(self, handle):
        if self.process_error:
            raise FakeNvmlError(self.process_error)
        return self.processes

    def nvmlDeviceGetPowerUsage(self, handle):
        return 250_000

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        return 1_000_000


def _summary(source):
    with GpuSampler(source, interval_s=0.005) as sampler:
        sampler.phase("train")
        time.sleep(0.02)
    return sampler.summary({"train": 1})


def test_the_handle_is_opened_by_the_frameworks_pci_bus_id(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    nvml = FakePynvml()
    source = NvmlSource(0, "00000000:3B:00.0", nvml=nvml)
    assert nvml.opened_by == ("bus", "00000000:3B:00.0") and source.bus_id() == "00000000:3B:00.0"
    s = _summary(source)
    assert s["pci_bus_id"] == "00000000:3B:00.0" and s["device_name"] == "Fake GPU 1"
    assert "PCI bus id 00000000:3B:00.0" in s["device_selection"]


def test_an_unknown_bus_id_is_an_error_with_the_reason():
    with pytest.raises(RuntimeError, match="Not Found"):
        NvmlSource(0, "00000000:99:00.0", nvml=FakePynvml())


@pytest.mark.parametrize(("visible", "opened", "words"), [
    (None, ("index", 0), "CUDA_VISIBLE_DEVICES names none; NVML index 0"),
    ("1,0", ("index", 1), "NVML index 1, first in CUDA_VISIBLE_DEVICES (CUDA_DEVICE_ORDER=FASTEST_FIRST"),
    ("GPU-abc,GPU-def", ("uuid", "GPU-abc"), "UUID GPU-abc"),
])
def test_without_a_bus_id_the_fallback_and_its_reason_are_recorded(monkeypatch, visible, opened, words):
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    nvml = FakePynvml()
    s = _summary(NvmlSource(0, None, nvml=nvml))
    assert nvml.opened_by == opened
    assert "the framework gave no PCI bus id" in s["device_selection"] and words in s["device_selection"]


def test_process_memory_is_this_processs_entry_in_nvmls_list():
    nvml = FakePynvml([FakeProcess(os.getpid() + 1, 7 * 2**30), FakeProcess(os.getpid(), 3 * 2**30)])
    s = _summary(NvmlSource(0, "00000000:1A:00.0", nvml=nvml))
    assert s["process_memory_bytes"] == 3 * 2**30 and s["process_memory_reason"] is None


@pytest.mark.parametrize(("processes", "error", "words"), [
    ([], None, "is not in NVML's compute-process list"),
    ([FakeProcess(os.getpid(), None)], None, "usedGpuMemory is N/A"),
    ([], "Insufficient Permissions", "Insufficient Permissions"),
])
def test_process_memory_is_null_with_the_reason_where_the_driver_withholds_it(processes, error, words):
    s = _summary(NvmlSource(0, "00000000:1A:00.0", nvml=FakePynvml(processes, error)))
    assert s["process_memory_bytes"] is None and words in s["process_memory_reason"]


def test_a_source_without_process_memory_says_so():
    s = _summary(FakeNvml())
    assert s["process_memory_bytes"] is None and "does not report" in s["process_memory_reason"]
    assert s["pci_bus_id"] is None and s["device_selection"] is None
