"""NVIDIA GPU sampling through NVML (nvidia-ml-py): utilisation, memory and power per phase, and energy.

Without an NVIDIA GPU or NVML the sampler is 'unavailable' and every GPU field is None with the reason.
The NVML source is injectable so unit tests can drive the sampler with a fake.
"""

from __future__ import annotations

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
    """GpuSource over pynvml for device `index`; raises RuntimeError with the reason if NVML cannot start."""

    def __init__(self, index: int = 0) -> None:
        try:
            import pynvml  # nvidia-ml-py
        except ImportError as exc:
            raise RuntimeError(f"nvidia-ml-py is not installed ({exc})") from None
        try:
            pynvml.nvmlInit()
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            raise RuntimeError(f"NVML unavailable: {exc} (no NVIDIA GPU or driver on this machine)") from None
        self._nvml = pynvml

    def name(self) -> str:
        name = self._nvml.nvmlDeviceGetName(self._handle)
        return name.decode() if isinstance(name, bytes) else str(name)

    def utilization_pct(self) -> float:
        return float(self._nvml.nvmlDeviceGetUtilizationRates(self._handle).gpu)

    def memory_used_bytes(self) -> int:
        return int(self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used)

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
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="gpu-sampler", daemon=True)
        self._t0 = time.perf_counter()

    @classmethod
    def for_device(cls, interval_s: float = 0.02) -> GpuSampler:
        """A sampler on NVML's device 0, or an unavailable one carrying the reason."""
        try:
            return cls(NvmlSource(0), interval_s)
        except RuntimeError as exc:
            return cls(None, interval_s, str(exc))

    def _read_energy(self) -> float | None:
        return self.source.energy_mj() if self.source else None

    def phase(self, name: str) -> None:
        """Start labelling samples (and energy) with `name`."""
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
                    "util_max_pct": None, "energy_j": None, "phases": {}, "timeline": []}
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
        return {"available": True, "reason": None, "device_name": self.source.name(),
                "util_mean_pct": sum(utils) / len(utils) if utils else None,
                "util_max_pct": max(utils) if utils else None,
                "energy_j": sum(energies) if energies else None, "phases": phases,
                "timeline": [(round(s.t_s, 3), s.phase, s.util_pct, s.mem_bytes, s.power_w) for s in self.samples]}
