"""The self-contained HTML report of one run: findings, summary matrix, per-workload charts, parity, fairness.

The sections are built in reports.html_workloads (summary matrix, one section per workload),
reports.html_sections (nightly, parity, fairness, environment, failures) and reports.html_machines (the same cells on
several machines, when asked for); the page is templates/report.html.j2.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import jinja2

from reports import html_sections as sections
from reports.findings import run_findings, workload_findings
from reports.html_format import _cell, _duration, _ok, _sorted, _when, _workload
from reports.html_machines import machines_section
from reports.html_workloads import matrix, workload_section
from reports.palette import Palette, backend_key

TEMPLATES = Path(__file__).resolve().parent / "templates"


def _environment_loader() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                             lstrip_blocks=True)
    env.filters["when"] = _when
    return env


def _parity_finding(view: dict[str, Any] | None) -> list[dict[str, str]]:
    """One finding: how many of the run's cells parity proves at the run's commit (else none)."""
    cells = (view or {}).get("cells") or []
    if not cells:
        return []
    proven = sum(c["verdict"] == "proven" for c in cells)
    differ = sum(c["verdict"] == "DIFFER" for c in cells)
    text = f"Parity: {proven} of {len(cells)} cells proven at this commit"
    text += f"; {differ} DIFFER" if differ else ""
    text += f"; {len(cells) - proven - differ} not proven (see Parity)." if proven + differ < len(cells) else "."
    return [{"cls": "good" if proven == len(cells) else "bad", "text": text}]


def render_report(run: dict[str, Any], records: list[dict[str, Any]], parity: dict[str, Any] | None = None,
                  verdicts: list[dict[str, Any]] | None = None,
                  history: dict[str, list[dict[str, Any]]] | None = None, machines: dict[str, Any] | None = None
                  ) -> str:
    """One self-contained HTML page (inline CSS and SVG, no scripts, no external resources) for a run; `machines`,
    a fleet view (reports.fleet.compare_machines), adds the Machines section."""
    run = run or {}
    workloads = list(dict.fromkeys(_workload(r) for r in records))
    by_workload = {w: _sorted([r for r in records if _workload(r) == w]) for w in workloads}
    palette = Palette(_cell(r).get("backend") for r in records)
    facts = [workload_findings(w, by_workload[w]) for w in workloads]
    fairness = sections.fairness(workloads, by_workload, palette)
    prov = run.get("provenance") or {}
    first = records[0] if records else {}
    git_sha = prov.get("git_sha") or first.get("git_sha")
    git_dirty = prov.get("git_dirty") if "git_dirty" in prov else first.get("git_dirty")
    backends = sorted({str(_cell(r).get("backend")) for r in records}, key=backend_key)
    parity_view = sections.parity(parity, records, git_sha)
    context = {
        "suite": run.get("suite") or "–", "run_id": run.get("run_id") or "–",
        "started": _when(run.get("started_at")), "finished": _when(run.get("finished_at")) if run.get(
            "finished_at") else "unfinished", "duration": _duration(run.get("started_at"), run.get("finished_at")),
        "machine_key": run.get("machine_key"), "config_key": run.get("config_key"),
        "git_sha": git_sha or "–", "git_dirty": git_dirty,
        "legend": [{"name": b, "colour": palette.colour(b)} for b in backends],
        "counts": {"cells": len(records), "ok": len(_ok(records)), "workloads": len(workloads)},
        "overall": run_findings(facts, records, None, fairness["count"]) + _parity_finding(parity_view),
        "findings": facts, "matrix": matrix(workloads, by_workload, palette),
        "workloads": [workload_section(w, by_workload[w], f, palette) for w, f in zip(workloads, facts, strict=True)],
        "parity": parity_view, "fairness": fairness, "env": sections.environment(run, records, palette),
        "scaling": sections.scaling(records, palette), "machines": machines_section(machines),
        "failures": sections.failures(records), "nightly": sections.nightly(run, verdicts, history),
        "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return _environment_loader().get_template("report.html.j2").render(**context)
