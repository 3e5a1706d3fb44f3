"""The store's writers: delete a partition window (or a whole table) and insert its rows in one
transaction, or a window written in shards: cleared, appended shard by shard, then recorded.

On a lake each table's write is its own Delta commit, so a window forgets its sessions in the
ledger first and records them last: a write cut short leaves them unwritten, never half-written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

import duckdb
import polars as pl
import pyarrow as pa

from marketflow_assets.store.lake import append_rows, conformed, lake_of, replace_rows

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
    _check_window(frames, start, end)
    for table, frame in frames.items():
        for column, value in scope.items():
            other = frame.filter(pl.col(column) != value)
            if other.height:
                raise ValueError(f"{table}: {other.height} row(s) with {column} other than {value}")
    lake = lake_of(conn)
    if lake is not None:
        if asset is not None:
            replace_rows(
                conn, lake, "materialized_sessions", None, _ledger_window(asset, start, end)
            )
        # Every table's rows checked before the first commit: a bad frame writes nothing.
        rows = {table: _lake_rows(conn, table, frame) for table, frame in frames.items()}
        for table, arrow in rows.items():
            replace_rows(conn, lake, table, arrow, {WINDOW_TABLES[table]: (start, end), **scope})
        if asset is not None:
            record_written(conn, asset, start, end, sessions)
        return {table: frame.height for table, frame in frames.items()}
    with _registered(conn, frames) as views, _transaction(conn):
        for table, view in views.items():
            date_col = WINDOW_TABLES[table]
            scoped = "".join(f" AND {column} = ?" for column in scope)
            conn.execute(
                f"DELETE FROM {table} WHERE {date_col} BETWEEN ? AND ?{scoped}",
                [start, end, *scope.values()],
            )
            conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
        if asset is not None:
            _forget(conn, asset, start, end)
            _record(conn, asset, sessions)
    return {table: frame.height for table, frame in frames.items()}


def clear_windows(
    conn: duckdb.DuckDBPyConnection,
    tables: Sequence[str],
    start: dt.date,
    end: dt.date,
    asset: str,
) -> None:
    """Delete the rows of each table dated in [start, end] and the record of those sessions as
    written by `asset`, in one transaction: the first step of a window written in shards, which
    the store reports as unwritten until `record_written` closes it."""
    unknown = [table for table in tables if table not in WINDOW_TABLES]
    if unknown:
        raise ValueError(f"{unknown} are not partitioned tables ({', '.join(WINDOW_TABLES)})")
    lake = lake_of(conn)
    if lake is not None:
        replace_rows(conn, lake, "materialized_sessions", None, _ledger_window(asset, start, end))
        for table in tables:
            replace_rows(conn, lake, table, None, {WINDOW_TABLES[table]: (start, end)})
        return
    with _transaction(conn):
        for table in tables:
            conn.execute(
                f"DELETE FROM {table} WHERE {WINDOW_TABLES[table]} BETWEEN ? AND ?", [start, end]
            )
        _forget(conn, asset, start, end)


def append_windows(
    conn: duckdb.DuckDBPyConnection,
    frames: Mapping[str, pl.DataFrame],
    start: dt.date,
    end: dt.date,
) -> dict[str, int]:
    """Insert each frame into its table, all or nothing; every row must be dated in [start, end]
    (a window `clear_windows` emptied). Returns rows written per table."""
    _check_window(frames, start, end)
    lake = lake_of(conn)
    if lake is not None:
        rows = {table: _lake_rows(conn, table, frame) for table, frame in frames.items()}
        for table, arrow in rows.items():
            append_rows(conn, lake, table, arrow)
    else:
        with _registered(conn, frames) as views, _transaction(conn):
            for table, view in views.items():
                conn.execute(f"INSERT INTO {table} BY NAME SELECT * FROM {view}")
    return {table: frame.height for table, frame in frames.items()}


def record_written(
    conn: duckdb.DuckDBPyConnection,
    asset: str,
    start: dt.date,
    end: dt.date,
    sessions: Sequence[dt.date],
) -> None:
    """Record `sessions` (those of [start, end]) as written by `asset`: the last step of a
    window written in shards, once every shard is in."""
    lake = lake_of(conn)
    if lake is not None:
        ledger = pa.table(
            {"asset": pa.array([asset] * len(sessions)), "date": pa.array(sessions, pa.date32())}
        )
        replace_rows(conn, lake, "materialized_sessions", ledger, _ledger_window(asset, start, end))
        return
    with _transaction(conn):
        _forget(conn, asset, start, end)
        _record(conn, asset, sessions)


def replace_table(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> int:
    """Replace every row of an unpartitioned table with `frame`, all or nothing."""
    lake = lake_of(conn)
    if lake is not None:
        replace_rows(conn, lake, table, _lake_rows(conn, table, frame), {})
        return frame.height
    with _registered(conn, {table: frame}) as views, _transaction(conn):
        conn.execute(f'DELETE FROM "{table}"')
        conn.execute(f'INSERT INTO "{table}" BY NAME SELECT * FROM {views[table]}')
    return frame.height


def _check_window(frames: Mapping[str, pl.DataFrame], start: dt.date, end: dt.date) -> None:
    """Raise ValueError on a table that is not partitioned or a row dated outside the window."""
    for table, frame in frames.items():
        if table not in WINDOW_TABLES:
            raise ValueError(f"{table!r} is not a partitioned table ({', '.join(WINDOW_TABLES)})")
        outside = frame.filter(~pl.col(WINDOW_TABLES[table]).is_between(start, end))
        if outside.height:
            raise ValueError(
                f"{table}: {outside.height} row(s) dated outside the window {start}..{end}, "
                f"first {outside.row(0, named=True)}"
            )


def _lake_rows(conn: duckdb.DuckDBPyConnection, table: str, frame: pl.DataFrame) -> pa.Table:
    """`frame` as `table` holds it in the lake; in Arrow's plain layouts, which pyarrow can cast
    (it has no kernels for categories of string views)."""
    return conformed(conn, table, frame.to_arrow(compat_level=pl.CompatLevel.oldest()))


def _ledger_window(asset: str, start: dt.date, end: dt.date) -> dict[str, str | tuple]:
    """The ledger's rows of `asset` in [start, end], as a lake predicate."""
    return {"asset": asset, "date": (start, end)}


@contextmanager
def _transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """One transaction around the block: committed when it ends, rolled back when it raises."""
    conn.execute("BEGIN TRANSACTION")  # outside the try: never roll back a caller's work
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@contextmanager
def _registered(
    conn: duckdb.DuckDBPyConnection, frames: Mapping[str, pl.DataFrame]
) -> Iterator[dict[str, str]]:
    """Each frame visible to SQL as `incoming_<table>` for the block; the view of each table."""
    views = {table: f"incoming_{table}" for table in frames}
    for table, frame in frames.items():
        conn.register(views[table], as_arrow(frame))
    try:
        yield views
    finally:
        for view in views.values():
            conn.unregister(view)


def _forget(conn: duckdb.DuckDBPyConnection, asset: str, start: dt.date, end: dt.date) -> None:
    """Delete the record of the sessions in [start, end] as written by `asset`."""
    conn.execute(
        "DELETE FROM materialized_sessions WHERE asset = ? AND date BETWEEN ? AND ?",
        [asset, start, end],
    )


def _record(conn: duckdb.DuckDBPyConnection, asset: str, sessions: Sequence[dt.date]) -> None:
    """Record `sessions` as written by `asset`."""
    conn.execute(
        "INSERT INTO materialized_sessions SELECT ?, unnest(?::DATE[])", [asset, list(sessions)]
    )
