"""Write the verdict-relevant part of a nightly store's runs as a test fixture (gzipped JSON), oldest run first.

    python tests/record_nightly_history.py --db /tmp/aa/nightly.sqlite --out tests/data/nightly_recorded.json.gz

Each record keeps only what the nightly's verdicts read: status, cell, the watched metrics' values, and each
process's raw trials (in 'repeats'; the pooled raw lists are their concatenation, rebuilt by `expand`), raw values
rounded to 4 significant digits. The script checks that every watched value survives the reduction.
"""

from __future__ import annotations

import argparse
import copy
import gzip
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from reports.flat import dig, flatten  # noqa: E402
from reports.metrics import watched  # noqa: E402
from store.database import Store  # noqa: E402

KEEP = (("timing", "train", "median"), ("timing", "infer", "median"), ("timing", "latency_ms", "1", "p50"),
        ("memory", "host_peak_bytes"), ("quality", "accuracy"), ("quality", "r2"))
"""The record paths of the watched values (reports/flat.py)."""
RAW = tuple(dict.fromkeys(m.raw for m in watched() if m.raw))
"""The watched metrics' raw-trial paths (reports/metrics.py), kept per process."""


def _put(target: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = value


def expand(record: dict[str, Any]) -> dict[str, Any]:
    """A reduced record with its pooled raw lists rebuilt from its processes' (as harness.session pools them)."""
    for path in RAW:
        groups = [dig(p, *path) for p in record.get("repeats", [])]
        if groups and all(groups):
            _put(record, path, [v for g in groups for v in g])
    return record


def reduce(record: dict[str, Any]) -> dict[str, Any]:
    """The record with only KEEP's values and each process's RAW trials (plus key, status and cell)."""
    out: dict[str, Any] = {k: record[k] for k in ("key", "status", "cell") if k in record}
    for path in KEEP:
        if dig(record, *path) is not None:
            _put(out, path, dig(record, *path))
    repeats = []
    for proc in record.get("repeats") or []:
        kept: dict[str, Any] = {"repeat": proc["repeat"], "status": proc["status"]}
        for path in RAW:
            if dig(proc, *path) is not None:
                _put(kept, path, [float(f"{v:.4g}") for v in dig(proc, *path)])
        repeats.append(kept)
    if repeats:
        out["repeats"] = repeats
    for path in RAW:
        pooled, rebuilt = dig(record, *path), dig(expand(copy.deepcopy(out)), *path)
        if pooled is not None and rebuilt is not None and (len(pooled) != len(rebuilt) or any(
                abs(a - b) > 1e-3 * abs(a) for a, b in zip(pooled, rebuilt, strict=True))):
            raise ValueError(f"{record['key']}: {'.'.join(path)} is not the processes' trials pooled")
    for metric in watched():
        before, after = flatten(record).get(metric.field), flatten(out).get(metric.field)
        if before != after:
            raise ValueError(f"{record['key']}: {metric.field} {before!r} became {after!r} in the reduction")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", required=True, help="the nightly store")
    parser.add_argument("--out", required=True, help="the .json.gz to write")
    parser.add_argument("--note", default="", help="how the runs were recorded (command, machine, load)")
    args = parser.parse_args()
    store = Store(Path(args.db))
    infos = sorted((r for r in store.runs() if r.get("finished_at")), key=lambda r: r["started_at"])
    runs = [{"run_id": i["run_id"], "started_at": i["started_at"],
             "git_sha": (i.get("provenance") or {}).get("git_sha"),
             "records": [reduce(r) for r in store.records(i["run_id"])]} for i in infos]
    data = {"note": args.note, "runs": runs}
    with gzip.open(args.out, "wt") as fh:
        json.dump(data, fh, separators=(",", ":"))
    print(f"{len(runs)} runs, {sum(len(r['records']) for r in runs)} records -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
