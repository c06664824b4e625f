"""glibc malloc pinned to its steady state in every cell process (fixed mmap and trim thresholds), and recorded.

glibc starts with a 128 KiB mmap threshold and raises it (to at most 32 MiB, the trim threshold to twice that) only
after the process frees a large mmapped chunk. Until then every large buffer a step allocates is a fresh mmap whose
pages fault in again on every step; the heap top is trimmed back to the OS as well. Whether a process reaches the
raised state depends on its allocation history, so fresh processes of one cell landed at two speed levels: torch
mnist_cnn inference on one thread gave 4.9k-5.9k samples/s with 510k-630k minor page faults, or 10.6k-12.2k with 69k,
from the same script. Pinning glibc's own raised state gives every process, of every framework, the fast level.
A threshold the user sets in the environment is kept, never overridden.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping
from typing import Any

MMAP_THRESHOLD_BYTES = 32 * 2**20
"""glibc's largest dynamic mmap threshold (DEFAULT_MMAP_THRESHOLD_MAX on 64-bit): buffers below it reuse the heap."""
TRIM_THRESHOLD_BYTES = 2 * MMAP_THRESHOLD_BYTES
"""glibc's trim threshold once the mmap threshold is raised dynamically (twice it)."""
MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES), "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES)}
"""The glibc tunables (environment variables read when malloc initialises) every cell process starts with."""


def malloc_env(environ: Mapping[str, str]) -> dict[str, str]:
    """The variables of MALLOC_ENV that `environ` lacks (a value the user set is kept)."""
    return {name: value for name, value in MALLOC_ENV.items() if name not in environ}


def _bytes(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def allocator_settings(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What malloc this process runs with: libc, the two thresholds (None: glibc's dynamic default), and whether
    they are the suite's pinned values."""
    env = os.environ if environ is None else environ
    libc, libc_version = platform.libc_ver()
    mmap_bytes = _bytes(env.get("MALLOC_MMAP_THRESHOLD_"))
    trim_bytes = _bytes(env.get("MALLOC_TRIM_THRESHOLD_"))
    return {"libc": f"{libc} {libc_version}".strip() or None, "mmap_threshold_bytes": mmap_bytes,
            "trim_threshold_bytes": trim_bytes,
            "pinned": (mmap_bytes, trim_bytes) == (MMAP_THRESHOLD_BYTES, TRIM_THRESHOLD_BYTES),
            "ld_preload": env.get("LD_PRELOAD") or None}
