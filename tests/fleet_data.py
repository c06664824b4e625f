"""Records of one real smoke run (tests/data/fleet_run.json) copied onto other machines, for the fleet tests."""

from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any
from unittest import mock

from store import Store

DATA = json.loads((Path(__file__).parent / "data" / "fleet_run.json").read_text())
RUN: dict[str, Any] = DATA["run"]
RECORDS: list[dict[str, Any]] = DATA["records"]
TORCH, JAX = (next(r for r in RECORDS if r["cell"]["backend"] == b) for b in ("torch", "jax"))


def machine(host: str, key: str, gpu: str | None = None, driver: str | None = None) -> dict[str, Any]:
    """A `machine` dict of the recorded shape for another host."""
    return {**RUN["provenance"]["machine"], "hostname": host, "gpu": gpu, "driver": driver,
            "cpu_model": f"CPU of {host}"}


def _scale(stats: dict[str, Any], factor: float, fields: tuple[str, ...], raw: str) -> None:
    for field in fields:
        if stats.get(field) is not None:
            stats[field] *= factor
    stats[raw] = [v * factor for v in stats[raw]]


def on_machine(record: dict[str, Any], host: str, key: str | None, speed: float = 1.0,
               gpu: str | None = None, driver: str | None = None) -> dict[str, Any]:
    """A copy of `record` as if run on `host` (machine key `key`; None: a record older than per-record machines)
    `speed` times as fast: throughputs × speed, latencies ÷ speed (raw trials, medians and CIs alike)."""
    out = copy.deepcopy(record)
    out["machine"] = machine(host, key or "", gpu, driver)
    out["machine_key"] = key
    if key is None:
        out.pop("machine")
        out.pop("machine_key")
    for phase in ("train", "infer"):
        _scale(out["timing"][phase], speed, ("median", "ci_low", "ci_high", "iqr"), "raw")
    _scale(out["timing"]["latency_ms"]["1"], 1 / speed, ("p50", "p90", "p99"), "raw_ms")
    return out


def add_run(store: Store, records: list[dict[str, Any]], host: str, key: str, night: int,
            config_key: str | None = None, git_sha: str = "sha") -> str:
    """A finished run started on `host` (its run-level machine key `key`) holding `records`, stamped night `night`
    (2026-01-01 plus that many days: runs sort by night, whatever the wall clock)."""
    provenance = {**RUN["provenance"], "machine": machine(host, key), "machine_key": key, "git_sha": git_sha}
    stamp = (dt.datetime(2026, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=night)).isoformat()
    with mock.patch("store.database.now_iso", return_value=stamp):
        run_id = store.create_run("smoke", RUN["config"], provenance, config_key=config_key)
        for record in records:
            store.add_record(run_id, record)
        store.finish_run(run_id)
    return run_id
