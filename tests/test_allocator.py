"""glibc malloc pinned in every cell process: the environment, the record, and the page faults it removes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from harness.allocator import MALLOC_ENV, MMAP_THRESHOLD_BYTES, allocator_settings, malloc_env
from harness.launch import child_env
from reports.html_sections import describe_allocator

FAULTS_PER_FORWARD = """
import resource, torch
from torch import nn
torch.set_num_threads(1)
m = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
                  nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10)).eval()
x = torch.rand(128, 1, 28, 28)
with torch.inference_mode():
    for _ in range(5):
        m(x)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        m(x)
    print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def test_cell_environment_pins_malloc_and_keeps_the_users_value(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in MALLOC_ENV:
        monkeypatch.delenv(name, raising=False)
    env = child_env()
    assert {k: env[k] for k in MALLOC_ENV} == MALLOC_ENV
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4096")
    assert child_env()["MALLOC_MMAP_THRESHOLD_"] == "4096"
    assert "MALLOC_MMAP_THRESHOLD_" not in malloc_env(os.environ)


def test_settings_say_whether_pinned() -> None:
    pinned = allocator_settings(MALLOC_ENV)
    assert pinned["pinned"] and pinned["mmap_threshold_bytes"] == MMAP_THRESHOLD_BYTES
    dynamic = allocator_settings({})
    assert not dynamic["pinned"] and dynamic["mmap_threshold_bytes"] is None
    assert "pinned steady state" in describe_allocator(pinned)
    assert "dynamic thresholds" in describe_allocator(dynamic)
    assert describe_allocator(None) == "–"


def _faults_per_forward(extra: dict[str, str]) -> float:
    env = {k: v for k, v in os.environ.items() if k not in MALLOC_ENV}
    out = subprocess.run([sys.executable, "-c", FAULTS_PER_FORWARD], env={**env, **extra}, capture_output=True,
                         text=True, timeout=300, check=True)
    return float(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc tunables and ru_minflt are Linux-specific")
def test_pinned_malloc_removes_the_per_step_page_faults() -> None:
    """glibc's initial 128 KiB threshold, held (what an unlucky fresh process has): every forward re-faults its
    activations (about 14k minor faults here). The suite's pinned state reuses the heap: almost none."""
    pytest.importorskip("torch")
    initial = _faults_per_forward({"MALLOC_MMAP_THRESHOLD_": "131072"})
    pinned = _faults_per_forward(child_env())
    assert initial > 2000, f"the 128 KiB threshold should re-fault activations every forward, got {initial}"
    assert pinned < 50, f"pinned malloc still faults {pinned} pages per forward"
