"""Provenance: machine, versions and source tree, gathered without importing any framework."""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from typing import Any

import psutil

from backends.registry import all_backends
from common.machine import REPO, cpu_model, gpu_identity
from harness.allocator import allocator_settings, malloc_env

BASE_PACKAGES = ("numpy", "scipy", "scikit-learn", "nvidia-ml-py")
"""Distributions every record keeps the version of, besides each backend's VERSIONED ones."""


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that matter to a result (None when absent)."""
    versions: dict[str, str | None] = {}
    backend_packages = [pkg for info in all_backends().values() for pkg in info.versioned]
    for name in dict.fromkeys([*backend_packages, *BASE_PACKAGES]):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


@lru_cache(maxsize=1)
def git_state() -> dict[str, Any]:
    """The source tree's commit and whether it had uncommitted changes."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {"git_sha": sha, "git_dirty": None if status is None else bool(status)}


@lru_cache(maxsize=1)
def _gpu() -> dict[str, str]:
    return gpu_identity() or {}


def machine() -> dict[str, Any]:
    """The host: name, OS, CPU model, logical/physical cores, memory, Python, and the first NVIDIA GPU with its
    driver (None without one)."""
    gpu = _gpu()
    return {"hostname": platform.node(), "os": platform.platform(), "cpu_model": cpu_model(),
            "cpu_logical": psutil.cpu_count(logical=True), "cpu_physical": psutil.cpu_count(logical=False),
            "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
            "memory_bytes": psutil.virtual_memory().total, "python": sys.version.split()[0],
            "gpu": gpu.get("gpu_name"), "driver": gpu.get("gpu_driver")}


def machine_key(info: dict[str, Any] | None = None) -> str:
    """A short stable key of the hardware a result is comparable on (host, CPU, cores, memory, and the GPU where
    there is one: a machine without a GPU keeps the key it had before GPUs were part of it)."""
    info = info or machine()
    text = "|".join(str(info[k]) for k in ("hostname", "cpu_model", "cpu_logical", "memory_bytes"))
    text += f"|{info['gpu']}" if info.get("gpu") else ""
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def provenance() -> dict[str, Any]:
    """Everything about where and with what a record was produced (the allocator its cell processes run with)."""
    info = machine()
    return {"machine": info, "machine_key": machine_key(info), "packages": package_versions(),
            "allocator": allocator_settings({**os.environ, **malloc_env(os.environ)}), **git_state()}
