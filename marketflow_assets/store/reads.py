"""Read helpers: the one reader of bars, and summaries of what the store holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

import duckdb
import polars as pl


def read_bars(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    tickers: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Stored raw bars dated in [start, end], sorted by ticker and date."""
    query = "SELECT * FROM bars WHERE date BETWEEN $start AND $end"
    params: dict[str, object] = {"start": start, "end": end}
    if tickers is not None:
        query += " AND list_contains($tickers, ticker)"
        params["tickers"] = list(tickers)
    return conn.sql(query + " ORDER BY ticker, date", params=params).pl()


@dataclass(frozen=True)
class TableSummary:
    """Rows and date span of one store table."""

    table: str
    rows: int
    tickers: int | None
    first_date: dt.date | None
    last_date: dt.date | None


def summarize_tables(conn: duckdb.DuckDBPyConnection) -> list[TableSummary]:
    """Rows, tickers and first/last date of every table with a date column."""
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables "
        "WHERE table_schema = 'main' AND table_name <> 'schema_migrations' ORDER BY table_name"
    ).fetchall()
    summaries = []
    for (table,) in tables:
        columns = {
            name
            for (name,) in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?", [table]
            ).fetchall()
        }
        tickers = "count(DISTINCT ticker)" if "ticker" in columns else "NULL"
        dates = "min(date), max(date)" if "date" in columns else "NULL, NULL"
        rows, n_tickers, first, last = conn.execute(
            f'SELECT count(*), {tickers}, {dates} FROM "{table}"'
        ).fetchone()
        summaries.append(TableSummary(table, rows, n_tickers, first, last))
    return summaries


def quarantine_by_reason(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Quarantined rows per reason over the whole store."""
    rows = conn.execute(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(reason, ', ')) AS reason "
        "FROM quarantine) GROUP BY reason ORDER BY reason"
    ).fetchall()
    return dict(rows)


def duplicate_keys(
    conn: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str], start: dt.date, end: dt.date
) -> int:
    """How many keys of `table` appear more than once among rows dated in [start, end]."""
    key_list = ", ".join(f'"{k}"' for k in keys)
    return conn.execute(
        f'SELECT count(*) FROM (SELECT {key_list} FROM "{table}" '
        f"WHERE date BETWEEN $start AND $end GROUP BY {key_list} HAVING count(*) > 1)",
        {"start": start, "end": end},
    ).fetchone()[0]
