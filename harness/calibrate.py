"""The MFU denominator: one shared peak GEMM rate per (device, precision), the best of every installed framework's
own kernel (each measured in its own child process, harness.peak_worker), cached with the machine's fingerprint and
re-measured when the fingerprint changes or the entry is older than PEAK_MAX_AGE_S."""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from backends.registry import BACKENDS
from common.machine import cpu_model, gpu_identity
from harness.env import machine_key, package_versions
from harness.launch import finish, start_module
from suites.data.cache import cache_dir

PEAK_MAX_AGE_S = 30 * 24 * 3600
"""An entry older than this (30 days) is measured again: drivers, firmware and thermals drift."""
PEAK_TIMEOUT_S = 600.0
"""The most one backend's peak worker may take (imports, compilation and every asked precision)."""
CALIBRATED = {"cpu": ("fp32", "bf16"), "cuda": ("fp32", "bf16", "tf32")}
"""The precisions with a peak of their own per device."""
SAME_ARITHMETIC = {("cpu", "tf32"): "fp32"}
"""(device, precision) whose arithmetic is another precision's: TF32 does not exist on a CPU, tf32 cells run fp32."""

Measure = Callable[[str, list[str]], dict[str, dict[str, dict[str, Any]]]]
"""measure(device, precisions) → {precision: {backend: probe result, or {'error': reason}}}."""


def device_kind(device: str) -> str:
    """'cpu' or 'cuda' for a cell's device ('auto' is 'cuda' when NVML sees an NVIDIA GPU)."""
    if device == "auto":
        return "cuda" if gpu_identity() else "cpu"
    return "cuda" if device in ("cuda", "gpu") else device


def peak_precision(device: str, precision: str) -> str | None:
    """The precision whose peak is the denominator of a (device, precision) cell; None if none is calibrated."""
    precision = SAME_ARITHMETIC.get((device, precision), precision)
    return precision if precision in CALIBRATED.get(device, ()) else None


def fingerprint(device: str) -> dict[str, Any]:
    """What a peak depends on: CPU model and cores, the GPU and driver (cuda), every framework's version."""
    frameworks = {pkg: version for pkg, version in package_versions().items()
                  if any(pkg in info.versioned for info in BACKENDS.values())}
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    out: dict[str, Any] = {"cpu_model": cpu_model(), "cpu_cores": cores, "frameworks": frameworks}
    if device == "cuda":
        out.update(gpu_identity() or {"gpu_name": None, "gpu_driver": None})
    return out


def staleness(entry: dict[str, Any] | None, current: dict[str, Any], now: dt.datetime) -> str | None:
    """Why a cached entry must be measured again (missing, no peak, a cell beat it, fingerprint changed, too old);
    None if fresh."""
    if entry is None:
        return "not measured yet"
    if entry.get("peak_flops_per_s") is None:
        return "no framework measured a peak last time"
    if entry.get("exceeded_by"):
        return f"a cell beat it: {entry['exceeded_by']}"
    if entry.get("fingerprint") != current:
        changed = sorted(k for k in {*current, *entry.get("fingerprint", {})}
                         if current.get(k) != entry.get("fingerprint", {}).get(k))
        return f"machine fingerprint changed ({', '.join(changed)})"
    age_s = (now - dt.datetime.fromisoformat(entry["measured_at"])).total_seconds()
    return f"measured {age_s / 86400:.0f} days ago (limit {PEAK_MAX_AGE_S / 86400:.0f})" \
        if age_s > PEAK_MAX_AGE_S else None


def shared_peak(device: str, precision: str, per_backend: dict[str, dict[str, Any]],
                current: dict[str, Any], measured_at: str) -> dict[str, Any]:
    """The cache entry of one (device, precision): the best framework's rate and method, every backend's result."""
    rated = {b: r for b, r in per_backend.items() if r.get("peak_flops_per_s")}
    best = max(rated, key=lambda b: rated[b]["peak_flops_per_s"]) if rated else None
    errors = "; ".join(f"{b}: {r.get('error')}" for b, r in per_backend.items() if b not in rated)
    return {"device": device, "precision": precision, "measured_at": measured_at, "fingerprint": current,
            "peak_flops_per_s": rated[best]["peak_flops_per_s"] if best else None,
            "method": rated[best]["method"] if best else None, "best_backend": best, "per_backend": per_backend,
            "reason": None if best else f"no framework measured a {precision} peak on {device} ({errors or 'none'})"}


def cache_path() -> Path:
    """This machine's peak cache in the data cache directory."""
    return cache_dir() / f"matmul_peaks_{machine_key()}.json"


def load_peaks(path: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every cached entry by 'device/precision' ({} if none or unreadable)."""
    path = path or cache_path()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_peaks(peaks: dict[str, dict[str, Any]], path: Path | None = None) -> None:
    """Write the cache atomically (temp file + rename)."""
    path = path or cache_path()
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(peaks, indent=1, default=str))
    os.replace(tmp, path)


def mark_exceeded(records: Iterable[dict[str, Any]], path: Path | None = None) -> list[str]:
    """Mark stale every cached peak that one of these records' cells beat (efficiency.peak_exceeded), so the next
    run measures it again; the keys marked."""
    peaks, marked = load_peaks(path), []
    for record in records:
        eff, cell = record.get("efficiency") or {}, record.get("cell") or {}
        if not eff.get("peak_exceeded"):
            continue
        key = f"{device_kind(str(cell.get('device') or 'cpu'))}/{eff.get('peak_precision')}"
        rate = max(eff.get(k) or 0.0 for k in ("achieved_train_flops_per_s", "achieved_infer_flops_per_s"))
        if key in peaks and not peaks[key].get("exceeded_by"):
            peaks[key]["exceeded_by"] = f"{record.get('key')} reached {rate / 1e9:,.0f} GFLOP/s"
            marked.append(key)
    if marked:
        save_peaks(peaks, path)
    return marked


def cached_peak(device: str, precision: str, path: Path | None = None) -> dict[str, Any] | None:
    """The cached shared peak that is the denominator of a (device, precision) cell, never measured here."""
    calibrated = peak_precision(device, precision)
    return load_peaks(path).get(f"{device}/{calibrated}") if calibrated else None


def measure_in_children(device: str, precisions: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """Every built-in backend's peaks at these precisions, one child process per backend, one after another (so
    they never compete for the device); a missing or failing backend gets {'error': reason}."""
    out: dict[str, dict[str, dict[str, Any]]] = {p: {} for p in precisions}
    with tempfile.TemporaryDirectory(prefix="bench-peak-") as tmp:
        for backend, info in BACKENDS.items():
            missing = info.missing()
            if missing:
                for p in precisions:
                    out[p][backend] = {"error": f"not installed (missing {', '.join(missing)})"}
                continue
            result, err = Path(tmp, f"{backend}.json"), Path(tmp, f"{backend}.err")
            code = finish(start_module("harness.peak_worker", [backend, device, str(result), *precisions], err),
                          PEAK_TIMEOUT_S)
            try:
                found = json.loads(result.read_text()) if result.exists() else {}
            except ValueError:
                found = {}
            tail = err.read_text(errors="replace")[-500:] if err.exists() else ""
            for p in precisions:
                out[p][backend] = found.get(p) or {"error": f"peak worker exited {code}: {tail}"}
    return out


def ensure_peaks(pairs: Iterable[tuple[str, str]], refresh: bool = False, measure: Measure = measure_in_children,
                 now: dt.datetime | None = None, fingerprint_of: Callable[[str], dict[str, Any]] = fingerprint,
                 path: Path | None = None) -> dict[str, dict[str, Any]]:
    """The shared peaks of these (device, precision) pairs ('auto' devices resolved), measuring the missing, stale
    or (refresh) all of them first; {'device/precision': entry} with each entry's 'stale_reason' when re-measured."""
    now = now or dt.datetime.now(dt.UTC)
    wanted: dict[str, set[str]] = {}
    for device, precision in pairs:
        kind = device_kind(device)
        calibrated = peak_precision(kind, precision)
        if calibrated:
            wanted.setdefault(kind, set()).add(calibrated)
    peaks = load_peaks(path)
    result: dict[str, dict[str, Any]] = {}
    measured_at = now.isoformat(timespec="seconds")
    changed = False
    for device, precisions in wanted.items():
        current = fingerprint_of(device)
        reasons = {p: "refresh asked" if refresh else staleness(peaks.get(f"{device}/{p}"), current, now)
                   for p in sorted(precisions)}
        stale = [p for p, why in reasons.items() if why]
        measured = measure(device, stale) if stale else {}
        for p in sorted(precisions):
            key = f"{device}/{p}"
            if p in measured:
                peaks[key] = {**shared_peak(device, p, measured[p], current, measured_at), "stale_reason": reasons[p]}
                changed = True
            if key in peaks:
                result[key] = peaks[key]
    if changed:
        try:
            save_peaks(peaks, path)
        except OSError:  # a read-only cache: this run still uses what it measured, via the returned entries
            pass
    return result
