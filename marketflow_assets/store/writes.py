"""The store's writers: delete a partition window (or a whole table) and insert its rows in one
transaction."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import duckdb
import polars as pl
import pyarrow as pa

# Tables a partition write may touch, with the column holding the partition date.
WINDOW_TABLES: dict[str, str] = {
    "bars": "date",
    "corporate_actions": "date",
    "quarantine": "date",
    "features": "date",
    "events": "confirmed_at",
    "signals": "date",
    "snapshots": "as_of",
    "training_pairs": "as_of",
    "outcomes": "date",
    "calibration": "date",
    "rule_flags": "date",
}


def as_arrow(frame: pl.DataFrame) -> pa.Table:
    """`frame` as the Arrow table DuckDB inserts from, sharing its memory: text as string views
    (Arrow's plain strings would copy every text, a second copy of the rows being written)."""
    return frame.to_arrow(compat_level=pl.CompatLevel.newest())


def replace_windows(
    conn: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    start: dt.date,
    end: dt.date,
    *,
    asset: str | None = None,
    sessions: Sequence[dt.date] = (),
    scope: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Replace the rows of each table dated in [start, end] with its frame; all or nothing.

    A rerun of the same window therefore gives the same rows, never duplicates, and a failure
    anywhere leaves every table as it was. With `asset`, the same transaction records
    `sessions` as written by that asset in the `materialized_sessions` ledger. With `scope`
    (column -> value), only the window's rows holding those values are replaced, and every
    incoming row must hold them: snapshots of other rule versions are kept. Returns rows
    written per table.
    """
    scope = dict(scope or {})
    for table, frame in frames.items():
        if table not in WINDOW_TABLES:
            raise ValueError(f"{table!r} is not a partitioned table ({', '.join(WINDOW_TABLES)})")
        date_col = WINDOW_TABLES[table]
        outside = frame.filter(~pl.col(date_col).is_between(start, end))
        if outside.height:
            raise ValueError(
                f"{table}: {outside.height} row(s) dated outside the window {start}..{end}, "
                f"first {outside.row(0, named=True)}"
            )
        for column, value in scope.items():
            other = frame.filter(pl.col(column) != value)
            if other.height:
                raise ValueError(f"{table}: {other.height} row(s) with {column} other than {value}")
    views = {table: f"incoming_{table}" for table in frames}
    for table, frame in frames.items():
        conn.register(views[table], as_arrow(frame))
    try:
        conn.execute("BEGIN TRANSACTION")  # outside the inner try: never roll back a caller's work
        try:
            for table in frames:
                date_col = WINDOW_TABLES[table]
                scoped = "".join(f" AND {column} = ?" for column in scope)
                conn.execute(
                    f"DELETE FROM {table} WHERE {date_col} BETWEEN ? AND ?{scoped}",
                    [start, end, *scope.values()],
                )
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {views[table]}")
            if asset is not None:
                conn.execute(
                    "DELETE FROM materialized_sessions WHERE asset = ? AND date BETWEEN ? AND ?",
                    [asset, start, end],
                )
                conn.execute(
                    "INSERT INTO materialized_sessions SELECT ?, unnest(?::DATE[])",
                    [asset, list(sessions)],
                )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    finally:
        for view in views.values():
            conn.unregister(view)
    return {table: frame.height for table, frame in frames.items()}


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace every row of an unpartitioned table with `frame`, all or nothing."""
    conn.register("incoming_table", as_arrow(frame))
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            conn.execute(f'DELETE FROM "{table}"')
            conn.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM incoming_table')
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.unregister("incoming_table")
    return frame.height
