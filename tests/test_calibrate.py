"""The shared MFU denominator: cache freshness (fingerprint, age, refresh), the best framework's peak, the record's
peak fields; the clock, fingerprint and measurement are injected (nothing sleeps, nothing is measured)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from harness import calibrate
from harness.efficiency import efficiency
from suites.registry import get_workload

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FINGERPRINT = {"cpu_model": "Test CPU", "cpu_cores": 2, "frameworks": {"torch": "2.0"}}
RATES = {"torch": 50e9, "tensorflow": 80e9, "jax": 60e9}


class FakeMeasure:
    """measure(device, precisions): the RATES (or a failure per backend), counting the calls."""

    def __init__(self, failing: tuple[str, ...] = ()) -> None:
        self.calls: list[tuple[str, list[str]]] = []
        self.failing = failing

    def __call__(self, device: str, precisions: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
        self.calls.append((device, list(precisions)))
        return {p: {b: {"error": "probe failed: boom"} if b in self.failing else
                    {"peak_flops_per_s": rate, "method": f"{b} GEMM", "precision": p} for b, rate in RATES.items()}
                for p in precisions}


def ensure(path: Path, measure: FakeMeasure, now: dt.datetime = T0, fp: dict[str, Any] = FINGERPRINT,
           pairs: tuple[tuple[str, str], ...] = (("cpu", "fp32"),), refresh: bool = False) -> dict[str, Any]:
    return calibrate.ensure_peaks(pairs, refresh=refresh, measure=measure, now=now, fingerprint_of=lambda _: fp,
                                  path=path)


def test_fresh_entries_are_reused(tmp_path: Path) -> None:
    measure, path = FakeMeasure(), tmp_path / "peaks.json"
    first = ensure(path, measure)
    assert measure.calls == [("cpu", ["fp32"])] and first["cpu/fp32"]["stale_reason"] == "not measured yet"
    again = ensure(path, measure, now=T0 + dt.timedelta(days=29))
    assert len(measure.calls) == 1 and again["cpu/fp32"]["measured_at"] == T0.isoformat(timespec="seconds")


def test_a_changed_fingerprint_measures_again(tmp_path: Path) -> None:
    measure, path = FakeMeasure(), tmp_path / "peaks.json"
    ensure(path, measure)
    changed = {**FINGERPRINT, "frameworks": {"torch": "2.1"}}
    out = ensure(path, measure, now=T0 + dt.timedelta(hours=1), fp=changed)
    assert len(measure.calls) == 2 and "fingerprint changed (frameworks)" in out["cpu/fp32"]["stale_reason"]
    assert out["cpu/fp32"]["fingerprint"] == changed
    ensure(path, measure, now=T0 + dt.timedelta(hours=2), fp=changed)
    assert len(measure.calls) == 2


def test_an_old_entry_or_refresh_measures_again(tmp_path: Path) -> None:
    measure, path = FakeMeasure(), tmp_path / "peaks.json"
    ensure(path, measure)
    late = T0 + dt.timedelta(seconds=calibrate.PEAK_MAX_AGE_S + 60)
    out = ensure(path, measure, now=late)
    assert len(measure.calls) == 2 and "days ago" in out["cpu/fp32"]["stale_reason"]
    out = ensure(path, measure, now=late, refresh=True)
    assert len(measure.calls) == 3 and out["cpu/fp32"]["stale_reason"] == "refresh asked"


def test_only_stale_precisions_are_measured(tmp_path: Path) -> None:
    measure, path = FakeMeasure(), tmp_path / "peaks.json"
    ensure(path, measure)
    ensure(path, measure, pairs=(("cpu", "fp32"), ("cpu", "bf16"), ("cpu", "tf32")))
    assert measure.calls[1] == ("cpu", ["bf16"])  # tf32 on a CPU is fp32 arithmetic: it shares fp32's peak


def test_the_denominator_is_the_best_framework(tmp_path: Path) -> None:
    entry = ensure(tmp_path / "peaks.json", FakeMeasure(failing=("jax",)))["cpu/fp32"]
    assert entry["peak_flops_per_s"] == max(RATES["torch"], RATES["tensorflow"]) == 80e9
    assert entry["best_backend"] == "tensorflow" and entry["method"] == "tensorflow GEMM"
    assert entry["per_backend"]["jax"] == {"error": "probe failed: boom"}


def test_no_peak_at_all_keeps_the_reason_and_is_retried(tmp_path: Path) -> None:
    measure, path = FakeMeasure(failing=tuple(RATES)), tmp_path / "peaks.json"
    entry = ensure(path, measure)["cpu/fp32"]
    assert entry["peak_flops_per_s"] is None and "torch: probe failed: boom" in entry["reason"]
    ensure(path, measure)
    assert len(measure.calls) == 2


def test_the_record_names_the_shared_peak_and_its_sources(tmp_path: Path) -> None:
    path = tmp_path / "peaks.json"
    ensure(path, FakeMeasure())
    model = get_workload("mnist_cnn").model
    timing = {"train": {"median": 1000.0}, "infer": {"median": 4000.0}}
    for precision in ("fp32", "tf32"):  # a CPU tf32 cell is measured against the fp32 peak
        out = efficiency(model, timing, "cpu", calibrate.cached_peak("cpu", precision, path), precision)
        assert out["peak_flops_per_s"] == 80e9 and out["peak_method"] == "tensorflow GEMM"
        assert out["mfu_train"] == pytest.approx(out["achieved_train_flops_per_s"] / 80e9)
        assert out["peak_source"] == RATES and out["peak_measured_at"] == T0.isoformat(timespec="seconds")
        assert out["peak_backend"] == "tensorflow" and out["peak_precision"] == "fp32"
    bf16 = efficiency(model, timing, "cpu", calibrate.cached_peak("cpu", "bf16", path), "bf16")
    assert bf16["mfu_train"] is None and "no calibrated bf16 matmul peak" in bf16["mfu_reason"]
    tpu = efficiency(model, timing, "tpu", None, "fp32")
    assert tpu["mfu_infer"] is None and "device 'tpu'" in tpu["mfu_reason"]


def test_auto_devices_resolve_to_the_cpu_without_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(calibrate, "gpu_identity", lambda: None)
    measure = FakeMeasure()
    assert set(ensure(tmp_path / "peaks.json", measure, pairs=(("auto", "fp32"),))) == {"cpu/fp32"}
    monkeypatch.setattr(calibrate, "gpu_identity", lambda: {"gpu_name": "H200", "gpu_driver": "570"})
    assert set(ensure(tmp_path / "peaks.json", measure, pairs=(("auto", "tf32"),))) == {"cuda/tf32"}
    assert calibrate.fingerprint("cuda")["gpu_name"] == "H200" and "gpu_name" not in calibrate.fingerprint("cpu")


def test_a_cell_that_beats_the_peak_gets_no_mfu_and_the_next_run_measures_again(tmp_path: Path) -> None:
    """The peak cached at 08:18 on 2026-12-02 (a CI run shared the machine) was 301 GFLOP/s; a gpt_lm_86m cell then
    trained at 319 GFLOP/s: MFU 106 %. Such a peak is no peak: the cell says so and the cache entry goes stale."""
    measure, path = FakeMeasure(), tmp_path / "peaks.json"
    ensure(path, measure)
    model = get_workload("mnist_cnn").model
    fast = {"train": {"median": 80e9 * 1.06 / efficiency(model, {}, "cpu", None)["train_flops_per_sample"]}}
    out = efficiency(model, fast, "cpu", calibrate.cached_peak("cpu", "fp32", path))
    assert out["peak_exceeded"] and out["mfu_train"] is None and out["mfu_infer"] is None
    assert "exceeds the calibrated peak 80 GFLOP/s" in out["mfu_reason"] and "--refresh" in out["mfu_reason"]
    slow = efficiency(model, {"train": {"median": 10.0}}, "cpu", calibrate.cached_peak("cpu", "fp32", path))
    assert not slow["peak_exceeded"] and slow["mfu_train"] is not None and slow["mfu_reason"] is None
    records = [{"key": "mnist_cnn/torch/eager", "cell": {"device": "cpu"}, "efficiency": out},
               {"key": "other", "cell": {"device": "cpu"}, "efficiency": slow}]
    assert calibrate.mark_exceeded(records, path) == ["cpu/fp32"]
    again = ensure(path, measure, now=T0 + dt.timedelta(hours=1))
    assert len(measure.calls) == 2 and again["cpu/fp32"]["stale_reason"].startswith("a cell beat it: mnist_cnn")
    assert "exceeded_by" not in again["cpu/fp32"]  # the new measurement starts clean
    assert calibrate.mark_exceeded(records[1:], path) == []
