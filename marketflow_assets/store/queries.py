"""Queries for notebooks and the command line: snapshots by filter, and training-data counts."""

from __future__ import annotations

import datetime as dt
from typing import Any

import duckdb
import polars as pl

from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reviews import REVIEW_STATUSES
from marketflow_assets.vpa.signals import SIGNALS, STRENGTHS


class QueryError(ValueError):
    """A query filter is invalid; the message names it."""


def query_snapshots(
    ticker: str | None = None,
    start: dt.date | str | None = None,
    end: dt.date | str | None = None,
    signal: str | None = None,
    min_confidence: float | None = None,
    *,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> pl.DataFrame:
    """Stored snapshots matching every given filter (dates inclusive), by as-of date then ticker.

    Without `conn` it opens the configured store read-only and closes it again, so a notebook
    needs one call.
    """
    where, params = [], {}
    if ticker is not None:
        where.append("ticker = upper($ticker)")
        params["ticker"] = ticker.strip()
    first, last = _date("start", start), _date("end", end)
    if first is not None and last is not None and last < first:
        raise QueryError(f"end {last} is before start {first}")
    if first is not None:
        where.append("as_of >= $start")
        params["start"] = first
    if last is not None:
        where.append("as_of <= $end")
        params["end"] = last
    if signal is not None:
        if signal.strip().upper() not in SIGNALS:
            raise QueryError(f"signal {signal!r} is not one of {', '.join(SIGNALS)}")
        where.append("signal = $signal")
        params["signal"] = signal.strip().upper()
    if min_confidence is not None:
        if not 0.0 <= min_confidence <= 1.0:
            raise QueryError(f"min_confidence must be within [0, 1], not {min_confidence}")
        where.append("confidence >= $min_confidence")
        params["min_confidence"] = min_confidence
    condition = f"WHERE {' AND '.join(where)} " if where else ""
    sql = f"SELECT * FROM snapshots {condition}ORDER BY as_of, ticker"
    if conn is not None:
        return conn.sql(sql, params=params).pl()
    with open_store(Settings.from_env().store_location, read_only=True) as own:
        return own.sql(sql, params=params).pl()


def training_stats(conn: duckdb.DuckDBPyConnection) -> dict[str, Any]:
    """How much training data the store holds and in what state.

    Keys: `pairs` and `pairs_by_type`, `pairs_by_status` (every status, zeros included),
    `exports` (the split sizes of each export name's last export, newest first), `snapshots`,
    `warmup_snapshots` and `snapshots_by_signal` (past warm-up, by signal and strength).
    """
    by_status = conn.sql(
        "SELECT review_status, count(*) AS pairs FROM reviewed_pairs GROUP BY review_status"
    ).pl()
    return {
        "pairs": _count(conn, "SELECT count(*) FROM training_pairs"),
        "pairs_by_type": conn.sql(
            "SELECT conversation_type, count(*) AS pairs FROM training_pairs "
            "GROUP BY conversation_type ORDER BY conversation_type"
        ).pl(),
        "pairs_by_status": pl.DataFrame({"review_status": list(REVIEW_STATUSES)})
        .join(by_status, on="review_status", how="left")
        .with_columns(pl.col("pairs").fill_null(0)),
        "exports": conn.sql(
            "SELECT name, exported_at, only_approved, pairs, train_rows, validation_rows, "
            "test_rows, near_duplicates_dropped FROM exports ORDER BY exported_at DESC, name"
        ).pl(),
        "snapshots": _count(conn, "SELECT count(*) FROM snapshots"),
        "warmup_snapshots": _count(conn, "SELECT count(*) FROM snapshots WHERE warmup"),
        "snapshots_by_signal": conn.sql(
            "SELECT signal, strength, count(*) AS snapshots FROM snapshots WHERE NOT warmup "
            "GROUP BY signal, strength "
            "ORDER BY list_position($signals, signal), list_position($strengths, strength)",
            params={"signals": list(SIGNALS), "strengths": list(STRENGTHS)},
        ).pl(),
    }


def _date(name: str, value: dt.date | str | None) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise QueryError(f"{name} {value!r} is not a date (YYYY-MM-DD)") from exc


def _count(conn: duckdb.DuckDBPyConnection, sql: str) -> int:
    # fetchall, not fetchone: duckdb 2.0 refuses conn.sql() while a result is partly fetched.
    ((count,),) = conn.execute(sql).fetchall()
    return count
