"""The results store both sides share: the harness writes records, reports read them (SQLite by default)."""

from store.database import DB_ENV, RECORD_SCHEMA, STORE_SCHEMA, Store, default_db_path, resolve_run

__all__ = ["DB_ENV", "RECORD_SCHEMA", "STORE_SCHEMA", "Store", "default_db_path", "resolve_run"]
