"""The parity table: each backend against the numpy reference, then every pair of backends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rich.table import Table

from backends.registry import get_backend
from suites.errors import UsageError

COLUMNS = ("workload", "pair", "precision", "device", "params", "out max|Δ|", "tol", "SGD loss rel", "opt loss rel",
           "SGD Δw rel", "opt Δw rel", "verdict")
"""Headers; the figures are the row's output_max_abs, output_tol, loss_*_max_rel and weights_*_max_rel."""


def _num(value: Any, fmt: str) -> str:
    return "–" if value is None else fmt.format(value)


def side(row: dict[str, Any], key: str) -> str:
    """One side of a row: 'backend', or 'backend[mode]' when the row records its mode."""
    mode = row.get(f"mode_{key}")
    return f"{row[key]}[{mode}]" if mode else str(row[key])


def _verdict(row: dict[str, Any]) -> str:
    """agree (for a chaotic workload: on one step, the multi-step figures not judged), or DIFFER with the failed
    checks (and the error, if any)."""
    if row["ok"]:
        return "[green]agree[/green]" + (" [yellow](1 step; chaotic)[/yellow]" if row.get("chaotic") else "")
    checks = ", ".join(row.get("failed", []))
    return f"[red]DIFFER[/red] {checks} {row.get('error', '')[:80]}".rstrip()


def parity_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The rows of one parity check as a console table."""
    table = Table(title="parity: same random weights → same outputs, losses and trained weights "
                        "(bf16: against the fp32 references at bf16 tolerances)")
    for header in COLUMNS:
        left = header in ("workload", "pair", "precision", "device", "verdict")
        table.add_column(header, justify="left" if left else "right")
    last = None
    for row in rows:
        params = "–"
        if "params_a" in row:
            same = row["params_a"] == row["params"] == row["params_b"]
            params = f"{row['params']:,}" if same else f"{row['params_a']:,} ≠ {row['params_b']:,}"
        table.add_row(row["workload"] if row["workload"] != last else "", f"{side(row, 'a')} ↔ {side(row, 'b')}",
                      str(row.get("precision") or "fp32"), str(row.get("device_b") or "–"), params,
                      _num(row.get("output_max_abs"), "{:.1e}"), _num(row.get("output_tol"), "{:.0e}"),
                      _num(row.get("loss_sgd_max_rel"), "{:.1e}"), _num(row.get("loss_task_max_rel"), "{:.1e}"),
                      _num(row.get("weights_sgd_max_rel"), "{:.1e}"), _num(row.get("weights_task_max_rel"), "{:.1e}"),
                      _verdict(row))
        last = row["workload"]
    return table


def _default_mode(backend: str) -> str | None:
    """The backend's default mode (what a row without a recorded mode checked); None for an unknown backend."""
    try:
        return get_backend(backend).default_mode
    except (KeyError, ValueError, UsageError):
        return None


def _config(row: dict[str, Any], key: str) -> tuple[str, str | None, str, str]:
    """(backend, mode, precision, device) of one side of a stored row (pre-v4 rows: default mode, fp32, CPU)."""
    backend = str(row.get(key))
    return (backend, row.get(f"mode_{key}") or _default_mode(backend), str(row.get("precision") or "fp32"),
            str(row.get(f"device_{key}") or "cpu"))


def _same_sha(a: str | None, b: str | None) -> bool:
    """Whether two git SHAs (either possibly abbreviated) name the same commit."""
    return bool(a and b) and (str(a).startswith(str(b)) or str(b).startswith(str(a)))


def cell_parity(cell: dict[str, Any], rows: Sequence[dict[str, Any]], git_sha: str | None) -> dict[str, str]:
    """The parity that proves one run cell {workload, backend, mode, precision, device, workload_sha256} at the run's
    commit and, where both record it, the same bytes of the workload's file:
    {'verdict': 'proven' | 'DIFFER' | 'not proven', 'why': ...}."""
    want = (cell["backend"], cell["mode"], cell["precision"], cell["device"])
    same = [r for r in rows if r.get("workload") == cell["workload"]]
    sides = [(r, k) for r in same for k in ("a", "b") if str(r.get(k)) == cell["backend"]]
    hits = [r for r, k in sides if _config(r, k) == want]
    if not hits:
        stored = sorted({"/".join(str(x) for x in _config(r, k)[1:]) for r, k in sides})
        why = (f"no parity for mode/precision/device {'/'.join(want[1:])}; stored: {', '.join(stored)}" if stored
               else f"no parity check of {cell['workload']} in {cell['backend']}")
        return {"verdict": "not proven", "why": why}
    if not git_sha:
        return {"verdict": "not proven", "why": "the run records no git SHA to match a parity check against"}
    here = [r for r in hits if _same_sha(r.get("git_sha"), git_sha)]
    if not here:
        others = sorted({str(r.get("git_sha") or "unknown")[:10] for r in hits})
        return {"verdict": "not proven", "why": f"parity only for another commit ({', '.join(others)}), "
                                                f"not this run's {str(git_sha)[:10]}"}
    file_sha = cell.get("workload_sha256")  # a user's workload file can change between two commits' worth of work
    if file_sha:
        checked = [r for r in here if (r.get("workload_origin") or {}).get("sha256") in (None, file_sha)]
        if not checked:
            return {"verdict": "not proven", "why": f"parity checked another version of the workload file "
                                                    f"(sha256 {file_sha[:10]} ran)"}
        here = checked
    bad = [r for r in here if not r.get("ok")]
    if bad:
        failed = sorted({c for r in bad for c in r.get("failed") or ["?"]})
        return {"verdict": "DIFFER", "why": f"{len(bad)} of {len(here)} comparisons differ: {', '.join(failed)}"}
    return {"verdict": "proven", "why": f"{len(here)} comparisons agree"}
