"""Resident memory of this process: a sampling thread (psutil), the kernel's ru_maxrss, and the fork baseline.

A child forked from a zygote does not inherit the page-table entries of the zygote's file-backed mappings (Linux
copies them lazily on fork), so its RSS leaves out the library pages a fresh process would hold. The zygote lists
its resident file-backed pages once (`resident_file_runs`); each child maps them again (`populate`) before it
measures anything, so its growth counts only what the cell itself adds.
"""

from __future__ import annotations

import ctypes
import os
import resource
import threading
from dataclasses import dataclass

import numpy as np
import psutil

MADV_POPULATE_READ = 22
"""madvise(2) advice (Linux 5.14+): fault the range in for reading, as a read of every page would."""
PAGE_BYTES = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
PRESENT_BIT = np.uint64(1 << 63)


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


@dataclass(frozen=True)
class Baseline:
    """The RSS of a process with the framework imported and nothing run, and whether the cell is its fork."""

    bytes: int
    forked: bool
    prefaulted_bytes: int | None = None
    """File-backed bytes the forked child mapped again before measuring (None: not attempted or failed)."""

    @property
    def method(self) -> str:
        """How the cell's host peak is derived from this baseline, as records state it."""
        if not self.forked:
            return "sampled RSS of a fresh process (baseline: its RSS after the imports)"
        how = "file pages prefaulted" if self.prefaulted_bytes is not None else "file pages NOT prefaulted"
        return f"zygote RSS after imports + child RSS growth over its start ({how})"


def rss_bytes() -> int:
    """This process's resident set size now."""
    return int(psutil.Process().memory_info().rss)


def ru_maxrss_bytes() -> int:
    """The kernel's high-water mark of this process's RSS (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _file_mappings() -> list[tuple[int, int]]:
    """(start, end) of this process's readable mappings of regular files."""
    spans = []
    try:
        with open("/proc/self/maps") as maps:
            for line in maps:
                parts = line.split(maxsplit=5)
                path = parts[5].strip() if len(parts) > 5 else ""
                if parts[4] == "0" or not path.startswith("/") or path.startswith("/dev/") or parts[1][0] != "r":
                    continue
                start, end = (int(x, 16) for x in parts[0].split("-"))
                spans.append((start, end))
    except OSError:
        return []
    return spans


def resident_file_runs() -> list[tuple[int, int]]:
    """(address, length) runs of file-backed pages present in this process's page table (/proc/self/pagemap)."""
    runs: list[tuple[int, int]] = []
    try:
        pagemap = os.open("/proc/self/pagemap", os.O_RDONLY)
    except OSError:
        return runs
    try:
        for start, end in _file_mappings():
            first, count = start // PAGE_BYTES, (end - start) // PAGE_BYTES
            raw = os.pread(pagemap, 8 * count, 8 * first)
            present = (np.frombuffer(raw, dtype=np.uint64) & PRESENT_BIT) != 0
            edges = np.flatnonzero(np.diff(np.concatenate(([False], present, [False])).astype(np.int8)))
            for lo, hi in zip(edges[::2], edges[1::2], strict=True):
                runs.append((start + int(lo) * PAGE_BYTES, int(hi - lo) * PAGE_BYTES))
    except (OSError, ValueError):
        return []
    finally:
        os.close(pagemap)
    return runs


def populate(runs: list[tuple[int, int]]) -> int | None:
    """Map `runs` into this process's page table (MADV_POPULATE_READ); the bytes done, or None if unsupported."""
    if not runs:
        return None
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return None
    libc.madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
    done = 0
    for address, length in runs:
        if libc.madvise(address, length, MADV_POPULATE_READ) == 0:
            done += length
        elif ctypes.get_errno() == 22 and done == 0:  # EINVAL on the first run: the kernel lacks the advice
            return None
    return done
