"""NVIDIA GPU sampling through NVML (nvidia-ml-py): utilisation, memory and power per phase, energy, and this
process's own GPU memory, on the GPU the cell uses (opened by the framework's PCI bus id where it gives one).

Without an NVIDIA GPU or NVML the sampler is 'unavailable' and every GPU field is None with the reason.
The NVML source (and NvmlSource's pynvml module) is injectable so unit tests can drive the sampler with a fake.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Protocol


class GpuSource(Protocol):
    """What the sampler reads: one device's utilisation (%), memory used (bytes), power (W), energy (mJ)."""

    def name(self) -> str: ...
    def utilization_pct(self) -> float: ...
    def memory_used_bytes(self) -> int: ...
    def power_w(self) -> float | None: ...
    def energy_mj(self) -> float | None: ...


class NvmlSource:
    """GpuSource over pynvml for the GPU at PCI bus id `pci_bus_id`, else the one CUDA_VISIBLE_DEVICES names first,
    else device `index`; `selection` says which and why. Raises RuntimeError with the reason if NVML cannot start."""

    def __init__(self, index: int = 0, pci_bus_id: str | None = None, nvml: Any = None) -> None:
        if nvml is None:
            try:
                import pynvml as nvml  # nvidia-ml-py
            except ImportError as exc:
                raise RuntimeError(f"nvidia-ml-py is not installed ({exc})") from None
        self._nvml = nvml
        try:
            nvml.nvmlInit()
            self._handle, self.selection = self._open(index, pci_bus_id)
        except nvml.NVMLError as exc:
            raise RuntimeError(f"NVML unavailable: {exc} (no NVIDIA GPU or driver on this machine)") from None
        self.pid = os.getpid()

    def _open(self, index: int, pci_bus_id: str | None) -> tuple[Any, str]:
        """(handle, how it was chosen): by bus id (nvmlDeviceGetHandleByPciBusId_v2), CUDA_VISIBLE_DEVICES, index."""
        nvml = self._nvml
        if pci_bus_id:
            return nvml.nvmlDeviceGetHandleByPciBusId(pci_bus_id), f"PCI bus id {pci_bus_id} (the framework's device)"
        why = "the framework gave no PCI bus id"
        visible = os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",")[0].strip()
        if visible.startswith(("GPU-", "MIG-")):
            return nvml.nvmlDeviceGetHandleByUUID(visible), f"{why}; UUID {visible}, first in CUDA_VISIBLE_DEVICES"
        if visible.isdigit():
            order = os.environ.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST")
            caveat = "" if order == "PCI_BUS_ID" else f" (CUDA_DEVICE_ORDER={order}: CUDA may order GPUs unlike NVML)"
            return (nvml.nvmlDeviceGetHandleByIndex(int(visible)),
                    f"{why}; NVML index {visible}, first in CUDA_VISIBLE_DEVICES{caveat}")
        return nvml.nvmlDeviceGetHandleByIndex(index), f"{why} and CUDA_VISIBLE_DEVICES names none; NVML index {index}"

    def bus_id(self) -> str | None:
        """The sampled device's PCI bus id as NVML writes it ('00000000:3B:00.0')."""
        try:
            bus = self._nvml.nvmlDeviceGetPciInfo(self._handle).busId
        except self._nvml.NVMLError:
            return None
        return bus.decode() if isinstance(bus, bytes) else str(bus)

    def name(self) -> str:
        name = self._nvml.nvmlDeviceGetName(self._handle)
        return name.decode() if isinstance(name, bytes) else str(name)

    def utilization_pct(self) -> float:
        return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)

    def memory_used_bytes(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

    def process_memory_bytes(self) -> tuple[int | None, str | None]:
        """(GPU memory this process holds on the device, None) from NVML's compute-process list; (None, why) else."""
        try:
            processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(self._handle)
        except self._nvml.NVMLError as exc:
            return None, f"nvmlDeviceGetComputeRunningProcesses failed: {exc}"
        mine = [p for p in processes if p.pid == self.pid]
        if not mine:
            return None, (f"pid {self.pid} is not in NVML's compute-process list (a container's PID namespace hides "
                          f"it, or no CUDA context yet)")
        used = [p.usedGpuMemory for p in mine]
        if any(u is None for u in used):
            return None, "the driver does not report per-process memory (usedGpuMemory is N/A)"
        return int(sum(used)), None

    def power_w(self) -> float | None:
        try:
            return self._nvml.nvmlDeviceGetPowerUsage(self._handle) / 1000.0
        except self._nvml.NVMLError:
            return None

    def energy_mj(self) -> float | None:
        try:
            return float(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
        except self._nvml.NVMLError:
            return None


@dataclass
class Sample:
    t_s: float
    phase: str
    util_pct: float
    mem_bytes: int
    power_w: float | None


class GpuSampler:
    """Samples a GpuSource every `interval_s` on a thread; `phase(name)` labels the samples that follow."""

    def __init__(self, source: GpuSource | None, interval_s: float = 0.02, unavailable_reason: str | None = None):
        self.source, self.interval_s = source, interval_s
        self.reason = unavailable_reason if source is None else None
        self.samples: list[Sample] = []
        self._phase = "setup"
        self._energy: dict[str, list[float]] = {}
        self._process_peak: int | None = None
        self._process_reason: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
        self._t0 = time.perf_counter()

    @classmethod
    def for_device(cls, interval_s: float = 0.02, pci_bus_id: str | None = None) -> GpuSampler:
        """A sampler on the GPU at `pci_bus_id` (the cell's device; None: CUDA_VISIBLE_DEVICES' first, else NVML
        index 0, the reason recorded), or an unavailable one carrying the reason."""
        try:
            return cls(NvmlSource(0, pci_bus_id), interval_s)
        except RuntimeError as exc:
            return cls(None, interval_s, str(exc))

    def _read_energy(self) -> float | None:
        return self.source.energy_mj() if self.source else None

    def _read_process_memory(self) -> None:
        """Keep the peak of this process's GPU memory (NVML's process list), or the reason it cannot be read."""
        read = getattr(self.source, "process_memory_bytes", None)
        if read is None:
            self._process_reason = "this GPU source does not report per-process memory"
            return
        used, reason = read()
        if used is None:
            self._process_reason = self._process_reason if self._process_peak is not None else reason
            return
        self._process_peak = max(used, self._process_peak or 0)

    def phase(self, name: str) -> None:
        """Start labelling samples (and energy) with `name`; reads this process's GPU memory at each boundary."""
        if self.source is not None:
            self._read_process_memory()
        energy = self._read_energy()
        if self._phase in self._energy and energy is not None:
            self._energy[self._phase].append(energy)
        self._phase = name
        if energy is not None:
            self._energy.setdefault(name, []).append(energy)

    def _run(self) -> None:
        assert self.source is not None
        while not self._stop.is_set():
            self.samples.append(Sample(time.perf_counter() - self._t0, self._phase, self.source.utilization_pct(),
                                       self.source.memory_used_bytes(), self.source.power_w()))
            self._stop.wait(self.interval_s)

    def __enter__(self) -> GpuSampler:
        if self.source is not None:
            self.phase("setup")
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.source is not None:
            self._stop.set()
            self._thread.join()
            self.phase("done")

    def summary(self, samples_by_phase: dict[str, int] | None = None) -> dict[str, Any]:
        """Per-phase mean/max utilisation, peak memory, mean power, energy (J) and J/sample; None + reason if absent."""
        if self.source is None:
            return {"available": False, "reason": self.reason, "device_name": None, "util_mean_pct": None,
                    "util_max_pct": None, "energy_j": None, "phases": {}, "timeline": [], "pci_bus_id": None,
                    "device_selection": None, "process_memory_bytes": None, "process_memory_reason": self.reason}
        phases: dict[str, Any] = {}
        for name in dict.fromkeys(s.phase for s in self.samples):
            rows = [s for s in self.samples if s.phase == name]
            powers = [s.power_w for s in rows if s.power_w is not None]
            marks = self._energy.get(name, [])
            energy_j = (marks[-1] - marks[0]) / 1000.0 if len(marks) >= 2 else None
            n = (samples_by_phase or {}).get(name)
            phases[name] = {"util_mean_pct": sum(s.util_pct for s in rows) / len(rows),
                            "util_max_pct": max(s.util_pct for s in rows),
                            "mem_peak_bytes": max(s.mem_bytes for s in rows),
                            "power_mean_w": sum(powers) / len(powers) if powers else None,
                            "energy_j": energy_j,
                            "energy_j_per_sample": energy_j / n if energy_j is not None and n else None,
                            "samples": len(rows)}
        timed = [p for k, p in phases.items() if k in ("train", "infer")]
        utils = [s.util_pct for s in self.samples if s.phase in ("train", "infer")]
        energies = [p["energy_j"] for p in timed if p["energy_j"] is not None]
        bus_id = getattr(self.source, "bus_id", lambda: None)()
        return {"available": True, "reason": None, "device_name": self.source.name(),
                "pci_bus_id": bus_id, "device_selection": getattr(self.source, "selection", None),
                "process_memory_bytes": self._process_peak,
                "process_memory_reason": None if self._process_peak is not None else self._process_reason,
                "util_mean_pct": sum(utils) / len(utils) if utils else None,
                "util_max_pct": max(utils) if utils else None,
                "energy_j": sum(energies) if energies else None, "phases": phases,
                "timeline": [(round(s.t_s, 3), s.phase, s.util_pct, s.mem_bytes, s.power_w) for s in self.samples]}
