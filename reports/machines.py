"""Which machine a stored cell record came from: its key, a readable label, a description, and per-machine series.

A record carries `machine` (hostname, CPU, cores, memory, GPU, driver of the process that ran it) and `machine_key`;
records older than that fall back to the run's (run info `machine_key` and `provenance.machine`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SEPARATOR = " @ "
"""Between a cell key and a machine label in a per-machine series key: 'mnist_mlp/torch/eager/fp32 @ host-a'."""

Pair = tuple[Mapping[str, Any], Mapping[str, Any] | None]
"""(cell record, its run info or None)."""


def machine_of(record: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> str | None:
    """The key of the machine that ran the record: its own `machine_key`, else its run's, else None."""
    return record.get("machine_key") or (info or {}).get("machine_key") or None


def machine_info(record: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The record's `machine` dict, else its run's provenance machine ({} when neither is stored)."""
    return dict(record.get("machine") or ((info or {}).get("provenance") or {}).get("machine") or {})


def machine_labels(pairs: Iterable[Pair]) -> dict[str | None, str]:
    """machine key → its hostname, with the key added ('host (3f2a…)') where two machines share a hostname; in the
    order the machines first appear."""
    hosts: dict[str | None, str] = {}
    for record, info in pairs:
        key = machine_of(record, info)
        if key not in hosts:
            hosts[key] = str(machine_info(record, info).get("hostname") or key or "unknown machine")
    counts: dict[str, int] = {}
    for host in hosts.values():
        counts[host] = counts.get(host, 0) + 1
    return {key: f"{host} ({key})" if counts[host] > 1 and key else host for key, host in hosts.items()}


def describe_machine(record: Mapping[str, Any], info: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """hostname, os, cpu, cores ('8 logical / 4 physical'), memory ('31.3 GiB'), gpu, driver and machine key; '–'
    where unknown."""
    m = machine_info(record, info)
    memory = m.get("memory_bytes")
    return {"hostname": m.get("hostname") or "–", "os": m.get("os") or "–", "cpu": m.get("cpu_model") or "–",
            "cores": f"{m.get('cpu_logical') or '?'} logical / {m.get('cpu_physical') or '?'} physical",
            "memory": f"{memory / 2**30:.1f} GiB" if memory else "–", "gpu": m.get("gpu") or "–",
            "driver": m.get("driver") or "–", "machine_key": machine_of(record, info) or "–"}


def machine_counts(pairs: Iterable[Pair], labels: Mapping[str | None, str]) -> list[tuple[str, int]]:
    """(machine label, cell records it ran) for the given records, most cells first."""
    counts: dict[str, int] = {}
    for record, info in pairs:
        label = labels.get(machine_of(record, info), "unknown machine")
        counts[label] = counts.get(label, 0) + 1
    return sorted(counts.items(), key=lambda item: -item[1])


def per_machine_keys(pairs: Iterable[Pair]) -> dict[tuple[str, str | None], str]:
    """(cell key, machine key) → the series key: the plain cell key where the cell ran on one machine only, else
    'cell @ machine label' (labels as machine_labels)."""
    pairs = list(pairs)
    labels = machine_labels(pairs)
    machines: dict[str, dict[str | None, None]] = {}
    for record, info in pairs:
        machines.setdefault(str(record.get("key")), {})[machine_of(record, info)] = None
    return {(key, m): key if len(found) == 1 else f"{key}{SEPARATOR}{labels[m]}"
            for key, found in machines.items() for m in found}


def cell_of(series_key: str) -> str:
    """The cell key of a series key (per_machine_keys)."""
    return series_key.split(SEPARATOR)[0]
