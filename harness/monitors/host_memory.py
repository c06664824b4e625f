"""Peak resident memory of this process: a sampling thread (psutil) plus the kernel's ru_maxrss."""

from __future__ import annotations

import resource
import threading

import psutil


class HostMemorySampler:
    """Samples this process's RSS every `interval_s` while running; `peak_bytes` is the largest seen."""

    def __init__(self, interval_s: float = 0.05) -> None:
        self.interval_s = interval_s
        self.peak_bytes = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="host-memory-sampler", daemon=True)
        self._process = psutil.Process()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)
            self.samples += 1
            self._stop.wait(self.interval_s)

    def __enter__(self) -> HostMemorySampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak_bytes = max(self.peak_bytes, self._process.memory_info().rss)


def ru_maxrss_bytes() -> int:
    """The kernel's high-water mark of this process's RSS (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
