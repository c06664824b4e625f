"""Where the code lives and what CPU it runs on, read without importing any framework."""

from __future__ import annotations

import platform
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository root (the folder holding run_bench.py)."""


def cpu_model() -> str:
    """The CPU model name from /proc/cpuinfo, else platform's answer."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def gpu_identity() -> dict[str, str] | None:
    """{'gpu_name', 'gpu_driver'} of the first NVIDIA GPU through NVML; None without one."""
    try:
        import pynvml  # nvidia-ml-py

        pynvml.nvmlInit()
        name = pynvml.nvmlDeviceGetName(pynvml.nvmlDeviceGetHandleByIndex(0))
        driver = pynvml.nvmlSystemGetDriverVersion()
    except Exception:  # noqa: BLE001 - no module, no driver, no GPU: all mean "no GPU to calibrate"
        return None
    text = [v.decode() if isinstance(v, bytes) else str(v) for v in (name, driver)]
    return {"gpu_name": text[0], "gpu_driver": text[1]}
