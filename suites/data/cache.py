"""The local data cache directory and an npz memo for derived arrays."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

ENV_VAR = "BENCH_DATA_DIR"


def cache_dir() -> Path:
    """$BENCH_DATA_DIR, else ~/.cache/bench-data; created on first use."""
    path = Path(os.environ.get(ENV_VAR) or Path.home() / ".cache" / "bench-data")
    path.mkdir(parents=True, exist_ok=True)
    return path


def memo_npz(key: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Arrays stored under `key`.npz in the cache, built once by `build` (written atomically)."""
    path = cache_dir() / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    arrays = build()
    tmp = path.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays
