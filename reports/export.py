"""Flat exports of stored runs: JSON, CSV and a pandas DataFrame with the same columns."""

from __future__ import annotations

import csv
import json
from typing import IO, Any

import pandas as pd

from reports.flat import FIELDS, flatten
from store import Store, resolve_run


def load_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """The run's records as flat rows."""
    info = store.run(run_id)
    suite = info["suite"] if info else None
    return [flatten(record, run_id, suite) for record in store.records(run_id)]


def write_rows(rows: list[dict[str, Any]], fmt: str, handle: IO[str]) -> None:
    """Write rows as a JSON array or as CSV with the FIELDS header."""
    if fmt == "json":
        json.dump(rows, handle, indent=1)
        handle.write("\n")
        return
    writer = csv.DictWriter(handle, fieldnames=list(FIELDS))
    writer.writeheader()
    writer.writerows(rows)


def load_dataframe(db: str | None = None, run: str = "latest") -> pd.DataFrame:
    """A run's flat records as a DataFrame (columns: reports.flat.FIELDS)."""
    store = Store(db)
    try:
        return pd.DataFrame(load_rows(store, resolve_run(store, run)), columns=list(FIELDS))
    finally:
        store.close()
