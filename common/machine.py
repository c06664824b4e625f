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
