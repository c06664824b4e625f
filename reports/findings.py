"""The report's headline findings in words: per workload and for the whole run, computed from the records."""

from __future__ import annotations

from typing import Any

from reports.flat import dig
from reports.formats import num
from reports.html_format import _cell, _ok, _workload, cell_label
from reports.palette import backend_key

FLOP_RATIO_BAND = (0.9, 1.5)
"""Framework counter / spec FLOPs expected on this suite's layers (BENCHMARKS.md §7): element-wise ops add up to 5 %,
TensorFlow sizes a conv backward by its input (up to 1.37×); outside this band a count disagrees and MFU is suspect."""


def flop_disagreements(records: list[dict[str, Any]]) -> list[str]:
    """'<cell> train 1.62×' for every ok cell whose framework FLOP count falls outside FLOP_RATIO_BAND."""
    low, high = FLOP_RATIO_BAND
    found = []
    for record in _ok(records):
        for phase in ("train", "forward"):
            ratio = dig(record, "efficiency", "framework_count", f"{phase}_ratio")
            if ratio is not None and not low <= ratio <= high:
                found.append(f"{cell_label(record)} {phase} {ratio:.2f}×")
    return found


def workload_findings(workload: str, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The findings for one workload, in words."""
    ok = _ok(records)
    parts: list[str] = []
    facts: dict[str, Any] = {"workload": workload}
    train = sorted(((r["timing"]["train"]["median"], r) for r in ok if dig(r, "timing", "train", "median")),
                   key=lambda p: -p[0])
    if len(train) >= 2:
        (fast, rf), (slow, rs) = train[0], train[-1]
        overlap = (dig(rf, "timing", "train", "ci_low") or fast) <= (dig(rs, "timing", "train", "ci_high") or slow)
        parts.append(f"{cell_label(rf)} trains {fast / slow:.1f}× faster than {cell_label(rs)} "
                     f"({num(fast)} vs {num(slow)} samples/s{'; CIs overlap' if overlap else ''})")
        facts["fastest_train"] = _cell(rf).get("backend")
    elif train:
        parts.append(f"only {cell_label(train[0][1])} trained ({num(train[0][0])} samples/s)")
    infer = sorted(((r["timing"]["infer"]["median"], r) for r in ok if dig(r, "timing", "infer", "median")),
                   key=lambda p: -p[0])
    if len(infer) >= 2:
        (fast, rf), (second, _) = infer[0], infer[1]
        parts.append(f"{cell_label(rf)} infers fastest ({num(fast)} samples/s, {fast / second:.1f}× the next)")
        facts["fastest_infer"] = _cell(rf).get("backend")
    for metric, name, scale, unit in (("accuracy", "accuracy", 100, "points"), ("r2", "R²", 1, "")):
        scored = sorted(((r["quality"][metric], r) for r in ok if dig(r, "quality", metric) is not None),
                        key=lambda p: -p[0])
        if len(scored) >= 2:
            (hi, rh), (lo, rl) = scored[0], scored[-1]
            spread = (hi - lo) * scale
            amount = f"{spread:.1f} {unit}" if unit else f"{spread:.3f}"
            fmt = (lambda v: f"{v * 100:.1f} %") if metric == "accuracy" else (lambda v: f"{v:.3f}")
            if fmt(hi) == fmt(lo):
                parts.append(f"every backend reaches {name} {fmt(hi)}")
            else:
                parts.append(f"{name} spread {amount} ({cell_label(rh)} {fmt(hi)} … "
                             f"{cell_label(rl)} {fmt(lo)})")
            facts["spread"] = (name, spread, unit)
            break
    failed = [r for r in records if r.get("status") != "ok"]
    facts["text"] = "; ".join(parts) + "." if parts else "no finished cells."
    facts["not_ok"] = ", ".join(f"{cell_label(r)} ({r.get('status')})" for r in failed)
    return facts


def run_findings(per_workload: list[dict[str, Any]], records: list[dict[str, Any]], parity: dict[str, Any] | None,
             mismatch_count: int) -> list[dict[str, str]]:
    """Run-wide findings: who wins training and inference how often, the largest accuracy spread, problems."""
    out: list[dict[str, str]] = []
    n = len(per_workload)
    for key, verb in (("fastest_train", "trains fastest"), ("fastest_infer", "infers fastest")):
        wins: dict[str, int] = {}
        for facts in per_workload:
            if facts.get(key):
                wins[facts[key]] = wins.get(facts[key], 0) + 1
        if wins:
            ranked = sorted(wins.items(), key=lambda kv: (-kv[1], backend_key(kv[0])))
            if len(ranked) == 1:
                text = f"{ranked[0][0]} {verb} in {ranked[0][1]} of {n} workloads."
            else:
                rest = ", ".join(f"{b} in {c}" for b, c in ranked[1:])
                tie = " (tied)" if ranked[0][1] == ranked[1][1] else ""
                text = f"{ranked[0][0]} {verb} in {ranked[0][1]} of {n} workloads{tie}, {rest}."
            out.append({"cls": "", "text": text})
    spreads = [f for f in per_workload if f.get("spread") and f["spread"][0] == "accuracy"]
    if spreads:
        worst = max(spreads, key=lambda f: f["spread"][1])
        out.append({"cls": "", "text": f"Largest accuracy spread across backends: {worst['spread'][1]:.1f} points "
                                       f"on {worst['workload']}."})
    failed = [r for r in records if r.get("status") != "ok"]
    ok = len(records) - len(failed)
    if failed:
        names = ", ".join(f"{r.get('key') or _workload(r)} ({r.get('status')})" for r in failed)
        out.append({"cls": "bad", "text": f"{len(failed)} of {len(records)} cells did not finish ok: {names}."})
    else:
        out.append({"cls": "good", "text": f"All {ok} cells finished ok."})
    disagree = flop_disagreements(records)
    if disagree:
        out.append({"cls": "bad", "text": f"The framework's FLOP counter disagrees with the spec beyond "
                                          f"{FLOP_RATIO_BAND[0]}–{FLOP_RATIO_BAND[1]}× (MFU suspect): "
                                          f"{', '.join(disagree)}."})
    if mismatch_count:
        out.append({"cls": "bad", "text": f"{mismatch_count} fairness mismatch(es) between compared cells: "
                                          "see Fairness."})
    if parity and parity.get("rows"):
        differ = [r for r in parity["rows"] if not r.get("ok")]
        total = len(parity["rows"])
        out.append({"cls": "bad" if differ else "good",
                    "text": f"Parity: {total - len(differ)} of {total} checks agree"
                            + (f"; {len(differ)} DIFFER." if differ else ".")})
    return out
