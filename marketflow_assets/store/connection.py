"""Opening the DuckDB store, migrated, for scripts, notebooks and the command line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from marketflow_assets.store.migrate import apply_migrations


class StoreBusyError(RuntimeError):
    """Another process holds the DuckDB file's write lock."""


@contextmanager
def open_store(path: Path | str, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the store at `path`, migrated unless read-only; closed on exit."""
    path = Path(path)
    if read_only and not path.exists():
        raise FileNotFoundError(f"{path}: no store yet; run `marketflow demo` or a backfill first")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        if "lock" not in str(exc).lower():
            raise
        raise StoreBusyError(
            f"{path} is in use by another process (DuckDB allows one writer); try again when the "
            f"running job has finished"
        ) from exc
    try:
        if not read_only:
            apply_migrations(conn)
        yield conn
    finally:
        conn.close()
