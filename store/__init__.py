"""The results store both sides share: the harness writes records, reports read them (SQLite by default, or
PostgreSQL by URL).

The database modules (and SQLAlchemy) load on first use of a name that needs them, so a cell worker that only reads
RECORD_SCHEMA does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from store.records import RECORD_SCHEMA, upgrade_record

if TYPE_CHECKING:
    from store.database import Store, resolve_run
    from store.engine import DB_ENV, default_db_path
    from store.schema import STORE_SCHEMA

_LAZY = {"DB_ENV": "store.engine", "default_db_path": "store.engine", "STORE_SCHEMA": "store.schema",
         "Store": "store.database", "resolve_run": "store.database"}

__all__ = ["DB_ENV", "RECORD_SCHEMA", "STORE_SCHEMA", "Store", "default_db_path", "resolve_run", "upgrade_record"]


def __getattr__(name: str) -> Any:
    """The database-side names, imported when first asked for."""
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'store' has no attribute {name!r}")
