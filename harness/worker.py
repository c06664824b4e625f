"""The child process of one cell: `python -m harness.worker CELL.json RESULT.json` (the only framework importer)."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from backends.base import Unsupported
from backends.registry import get_backend, load_adapter_class
from common.clock import now_iso
from harness import status
from harness.calibrate import cached_peak
from harness.cell import Cell
from harness.efficiency import cross_check, efficiency
from harness.env import provenance
from harness.monitors.gpu import GpuSampler
from harness.monitors.host_memory import Baseline, HostMemorySampler, rss_bytes, ru_maxrss_bytes
from harness.protocol import Diverged, run_protocol
from store import RECORD_SCHEMA
from suites.data.registry import load_dataset
from suites.params import param_count
from suites.registry import get_workload, workload_origin
from suites.spec import spec_hash, tokens_per_sample

TRACEBACK_LINES = 25


def base_record(cell: Cell) -> dict[str, Any]:
    """The fields every record has, whatever its status."""
    workload = get_workload(cell.workload)
    task = cell.task()
    return {"schema_version": RECORD_SCHEMA, "cell": cell.to_dict(), "key": cell.key, "status": status.FAILED,
            "error": None, "spec_hash": spec_hash(workload.model, task), "model": workload.model.to_dict(),
            "task": task.to_dict(), "workload_origin": workload_origin(cell.workload), "sweep": workload.sweep,
            "tokens_per_sample": tokens_per_sample(workload.model, task), "params": param_count(workload.model),
            "trial_plan": dataclasses.asdict(cell.plan), "started_at": now_iso(), "pid": os.getpid(),
            "parent_pid": os.getppid(), **provenance()}


def error_info(exc: BaseException) -> dict[str, Any]:
    """Exception type, message and the tail of its traceback."""
    lines = traceback.format_exception(type(exc), exc, exc.__traceback__)
    tail = "".join(lines).splitlines()[-TRACEBACK_LINES:]
    return {"type": type(exc).__name__, "message": str(exc)[:2000], "traceback": "\n".join(tail)}


def _measure(cell: Cell, record: dict[str, Any]) -> None:
    info = get_backend(cell.backend)
    missing = info.missing()
    if missing:
        raise Unsupported(f"{cell.backend} is not installed (missing {', '.join(missing)}); "
                          f"install it with: pip install -e '.[{cell.backend}]' -c constraints.txt")
    adapter = load_adapter_class(cell.backend)(cell.mode, cell.precision, cell.device)
    workload = get_workload(cell.workload)
    task = cell.task()
    data = load_dataset(task.dataset, task.seed, task.test_fraction).limited(task.train_limit, task.eval_limit)
    record["dataset"] = data.summary()
    record["device_info"] = adapter.device_info()
    record["settings"] = adapter.settings()
    gpu = GpuSampler.for_device(pci_bus_id=adapter.pci_bus_id())  # NVML reads the cell's own GPU
    marks: list[tuple[str, float]] = []

    def phase(name: str) -> None:
        marks.append((name, time.perf_counter()))
        gpu.phase(name)

    try:
        with gpu:
            result = run_protocol(adapter, workload, task, data, cell.plan, cell.latency_batch_sizes, on_phase=phase)
    except BaseException:
        record["gpu"] = gpu.summary({})  # what was sampled until the failure
        raise
    record.update(result)
    spans = zip(marks, marks[1:], strict=False)
    record["timing"]["phase_s"] = {name: round(end - start, 4) for (name, start), (_, end) in spans}
    record["gpu"] = gpu.summary({k: result["timing"][k]["samples"] for k in ("train", "infer")})
    record["param_bytes"] = 4 * result["params"]  # fp32 master weights
    record["memory"] = adapter.memory_stats()
    device = record["device_info"].get("device", "cpu")
    peak = cached_peak(device, cell.precision)  # calibrated before the run (suite_run): never measured in a cell
    record["efficiency"] = efficiency(workload.model, result["timing"], device, peak, cell.precision)
    record["efficiency"]["framework_count"] = (
        cross_check(adapter, workload.model, data.x_train, data.y_train) if cell.plan.count_flops
        else {"counter": None, "reason": "not counted: the trial plan leaves the framework's FLOP count out"})


def run(cell: Cell, baseline: Baseline | None = None) -> dict[str, Any]:
    """Run the cell's protocol and return its record; every exception becomes a typed status."""
    record = base_record(cell)
    baseline = baseline or Baseline(rss_bytes(), forked=False)
    start_bytes = rss_bytes() if baseline.forked else baseline.bytes
    start = time.perf_counter()
    with HostMemorySampler() as sampler:
        try:
            _measure(cell, record)
            record["status"] = status.OK
        except Unsupported as exc:
            record["status"], record["error"] = status.SKIPPED, error_info(exc)
        except Diverged as exc:
            record["status"], record["error"] = status.DIVERGED, error_info(exc)
        except BaseException as exc:  # noqa: BLE001 - a failure is a result
            record["status"] = status.OOM if status.looks_like_oom(exc) else status.FAILED
            record["error"] = error_info(exc)
    memory = record.setdefault("memory", {"device_peak_bytes": None, "device_peak_reason": "cell did not finish"})
    model_bytes = sampler.peak_bytes - start_bytes
    memory.update({"host_peak_bytes": baseline.bytes + model_bytes, "host_baseline_bytes": baseline.bytes,
                   "host_model_bytes": model_bytes, "host_peak_method": baseline.method,
                   "host_start_bytes": start_bytes, "host_sampled_peak_bytes": sampler.peak_bytes,
                   "host_prefaulted_bytes": baseline.prefaulted_bytes, "host_ru_maxrss_bytes": ru_maxrss_bytes(),
                   "host_samples": sampler.samples})
    record["wall_s"] = time.perf_counter() - start
    record["finished_at"] = now_iso()
    return record


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Write atomically (temp file + rename), so a reader never sees half a record."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, default=str))
    os.replace(tmp, path)


def preimport(backend: str) -> None:
    """Import the harness and the backend's adapter (and what its first build would import lazily): what a zygote
    holds before it forks, and what a spawned cell imports before its baseline."""
    from harness.env import git_state

    git_state()  # cached before the fork: every cell records the code the zygote imported
    if get_backend(backend).installed:
        load_adapter_class(backend).preload()


def main(argv: list[str]) -> int:
    cell = Cell.from_dict(json.loads(Path(argv[0]).read_text()))
    preimport(cell.backend)  # what a zygote imports, so the baseline is the same process in both isolations
    write_json(Path(argv[1]), run(cell, Baseline(rss_bytes(), forked=False)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
