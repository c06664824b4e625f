"""Fairness: the settings that can make a comparison unfair, normalised across frameworks, and their mismatches."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

MUST_MATCH = ("spec_hash", "batch_size", "precision", "device", "threads_intra", "tf32", "isolation",
              "git_sha", "machine_key")
"""Differences here make a comparison unfair (or not like for like): flagged as mismatches."""

DESIGN = ("layout", "compiled", "xla", "threads_inter")
"""Differences here are each framework's native way of running (NCHW vs NHWC, graph vs eager): shown, not flagged."""


def _threads(settings: dict[str, Any]) -> tuple[Any, Any]:
    threads = settings.get("threads") or {}
    intra = threads.get("intra_op_effective", threads.get("intra_op"))
    inter = threads.get("inter_op_effective", threads.get("inter_op"))
    return intra, inter


def fairness_view(record: dict[str, Any]) -> dict[str, Any]:
    """The fairness-relevant settings of one record under common names."""
    settings = record.get("settings") or {}
    intra, inter = _threads(settings)
    return {"spec_hash": record.get("spec_hash"), "batch_size": (record.get("task") or {}).get("batch_size"),
            "precision": (record.get("cell") or {}).get("precision"), "device": (record.get("device_info") or {}).get(
                "device"), "threads_intra": intra, "threads_inter": inter, "tf32": settings.get("tf32"),
            "isolation": record.get("isolation"), "git_sha": record.get("git_sha"),
            "machine_key": record.get("machine_key"), "layout": settings.get("layout"),
            "compiled": settings.get("compiled"), "xla": settings.get("xla")}


def label(record: dict[str, Any]) -> str:
    cell = record.get("cell") or {}
    return f"{cell.get('backend')}/{cell.get('mode')}"


def mismatches(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Settings that differ between records compared with each other (ok cells only), with each one's value."""
    rows = [r for r in records if r.get("status") == "ok"]
    views = {label(r): fairness_view(r) for r in rows}
    out = []
    for setting in MUST_MATCH + DESIGN:
        values = {name: view[setting] for name, view in views.items()}
        if len({repr(v) for v in values.values()}) > 1:
            out.append({"setting": setting, "severity": "mismatch" if setting in MUST_MATCH else "design",
                        "values": values})
    return out


def describe(found: list[dict[str, Any]]) -> list[str]:
    """One line per difference, mismatches first."""
    lines = []
    for item in sorted(found, key=lambda f: f["severity"] != "mismatch"):
        values = ", ".join(f"{k}={v}" for k, v in item["values"].items())
        tag = "MISMATCH" if item["severity"] == "mismatch" else "differs by design"
        lines.append(f"{tag}: {item['setting']}: {values}")
    return lines


def print_fairness(records: Sequence[dict[str, Any]], console: Any, quiet: bool = False) -> None:
    """Mismatches per workload, then the by-design differences once for the run."""
    design: dict[str, str] = {}
    for workload in dict.fromkeys((r.get("cell") or {}).get("workload") for r in records):
        for line in describe(mismatches([r for r in records if (r.get("cell") or {}).get("workload") == workload])):
            if line.startswith("MISMATCH"):
                console.print(f"{workload}: {line}", markup=False, style="bold red")
            else:
                design.setdefault(line.split(":")[1].strip(), line)
    if design and not quiet:
        console.print("fairness (native to each framework, not flagged): " + "; ".join(
            line.removeprefix("differs by design: ") for line in design.values()), markup=False)
