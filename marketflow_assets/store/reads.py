"""Read helpers: the one reader of bars, and summaries of what the store holds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import duckdb
import polars as pl

from marketflow_assets.store.lake import lake_of, lake_tables
from marketflow_assets.store.writes import WINDOW_TABLES

# Sort order of the partitioned tables that hold no ticker column.
UNTICKED_ORDER = {"calibration": ("date", "signal"), "rule_flags": ("date", "rule_id")}


def read_bars(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    tickers: Sequence[str] | None = None,
    with_splits: bool = False,
) -> pl.DataFrame:
    """Stored raw bars dated in [start, end] (of `tickers` only, when given), sorted by ticker
    and date.

    `with_splits` adds `split_ratio`: the product of the splits from `corporate_actions` that
    took effect since the ticker's previous stored bar, so a split whose own bar was
    quarantined or missing applies to the next bar rather than being lost.
    """
    params: dict[str, object] = {"start": start, "end": end}
    where = "b.date BETWEEN $start AND $end" + _of_tickers("b.ticker", tickers, params)
    if not with_splits:
        return conn.sql(
            f"SELECT b.* FROM bars b WHERE {where} ORDER BY b.ticker, b.date", params=params
        ).pl()
    return conn.sql(
        "WITH splits AS (SELECT c.ticker, c.split_ratio, "
        "(SELECT min(date) FROM bars n WHERE n.ticker = c.ticker AND n.date >= c.date) AS date "
        "FROM corporate_actions c WHERE c.split_ratio IS NOT NULL AND c.split_ratio <> 1"
        f"{_of_tickers('c.ticker', tickers, params)}), "
        "per_bar AS (SELECT ticker, date, product(split_ratio) AS split_ratio FROM splits "
        "WHERE date IS NOT NULL GROUP BY ticker, date) "
        f"SELECT b.*, s.split_ratio FROM bars b LEFT JOIN per_bar s USING (ticker, date) "
        f"WHERE {where} ORDER BY b.ticker, b.date",
        params=params,
    ).pl()


def read_window(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    start: dt.date,
    end: dt.date,
    *,
    columns: Sequence[str] | None = None,
    tickers: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Rows of a partitioned table dated in [start, end] (by its partition date column), by
    ticker and date, or by date and key for the tables without tickers; only `columns` and
    the rows of `tickers` when given."""
    date_col = WINDOW_TABLES[table]
    order = ", ".join(f'"{c}"' for c in UNTICKED_ORDER.get(table, ("ticker", date_col)))
    selected = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    params: dict[str, object] = {"start": start, "end": end}
    where = f'"{date_col}" BETWEEN $start AND $end' + _of_tickers("ticker", tickers, params)
    return conn.sql(
        f'SELECT {selected} FROM "{table}" WHERE {where} ORDER BY {order}', params=params
    ).pl()


def ticker_rows(
    conn: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date
) -> pl.DataFrame:
    """How many rows of a partitioned table each ticker has dated in [start, end] (columns
    `ticker`, `rows`), by ticker."""
    return conn.sql(
        f'SELECT ticker, count(*) AS rows FROM "{table}" '
        f'WHERE "{WINDOW_TABLES[table]}" BETWEEN $start AND $end GROUP BY ticker ORDER BY ticker',
        params={"start": start, "end": end},
    ).pl()


def count_window(conn: duckdb.DuckDBPyConnection, table: str, start: dt.date, end: dt.date) -> int:
    """How many rows of a partitioned table are dated in [start, end]."""
    date_col = WINDOW_TABLES[table]
    (rows,) = conn.execute(
        f'SELECT count(*) FROM "{table}" WHERE "{date_col}" BETWEEN ? AND ?', [start, end]
    ).fetchall()[0]
    return int(rows)


def read_signals_to_score(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    tickers: Sequence[str] | None = None,
) -> pl.DataFrame:
    """Signals dated in [start, end] (of `tickers` only, when given) with the ATR(14) of their
    day, which sets their barriers."""
    params: dict[str, object] = {"start": start, "end": end}
    return conn.sql(
        "SELECT s.*, f.atr14 FROM signals s LEFT JOIN features f USING (ticker, date) "
        f"WHERE s.date BETWEEN $start AND $end{_of_tickers('s.ticker', tickers, params)} "
        "ORDER BY s.ticker, s.date",
        params=params,
    ).pl()


def read_of_rules(
    conn: duckdb.DuckDBPyConnection,
    table: str,
    rules_hash: str,
    columns: Sequence[str],
    batch_rows: int,
) -> Iterator[pl.DataFrame]:
    """The `columns` of the rows of `table` made with the rules `rules_hash`, in stored order and
    in batches of `batch_rows` rows, so that a long history is never held at once."""
    selected = ", ".join(f'"{c}"' for c in columns)
    reader = conn.sql(
        f'SELECT {selected} FROM "{table}" WHERE rules_hash = $hash', params={"hash": rules_hash}
    ).to_arrow_reader(batch_rows)
    for batch in reader:
        yield pl.from_arrow(batch)


def count_of_rules(conn: duckdb.DuckDBPyConnection, table: str, rules_hash: str) -> tuple[int, int]:
    """How many rows of `table` were made with the rules `rules_hash`, and with other rules."""
    (ours, others) = conn.execute(
        f"SELECT count(*) FILTER (rules_hash = $hash), count(*) FILTER (rules_hash <> $hash) "
        f'FROM "{table}"',
        {"hash": rules_hash},
    ).fetchall()[0]
    return int(ours), int(others)


def dates_of_other_rules(
    conn: duckdb.DuckDBPyConnection, table: str, rules_hash: str
) -> set[dt.date]:
    """The dates of `table` holding rows made with rules other than `rules_hash`."""
    rows = conn.execute(
        f'SELECT DISTINCT date FROM "{table}" WHERE rules_hash <> ?', [rules_hash]
    ).fetchall()
    return {day for (day,) in rows}


def read_counted_outcomes(
    conn: duckdb.DuckDBPyConnection, before: dt.date, signal: str, batch_rows: int
) -> Iterator[pl.DataFrame]:
    """The stored outcomes of `signal` known before the session `before` (matured on an earlier
    session) that the calibration counts (not warm-up, hit known): matured_on, confidence and
    hit, in that order, in batches of `batch_rows` rows, so that a long history is never held
    at once."""
    reader = conn.sql(
        "SELECT matured_on, confidence, hit FROM outcomes WHERE signal = $signal "
        "AND matured_on < $before AND NOT warmup AND hit IS NOT NULL "
        "ORDER BY matured_on, confidence NULLS FIRST, hit",
        params={"signal": signal, "before": before},
    ).to_arrow_reader(batch_rows)
    for batch in reader:
        yield pl.from_arrow(batch)


def read_scored_events(
    conn: duckdb.DuckDBPyConnection,
    start: dt.date,
    end: dt.date,
    before: dt.date,
    batch_rows: int,
) -> Iterator[pl.DataFrame]:
    """Events confirmed in [start, end], each with the outcome of the signal of (ticker, its
    confirmed_at) when that outcome matured before the session `before`, is not warm-up and has
    a ret_window: rule_id, direction, matured_on, ret_window (what the rule flags count), in
    batches of `batch_rows` rows."""
    reader = conn.sql(
        "SELECT e.rule_id, e.direction, o.matured_on, o.ret_window FROM events e "
        "JOIN outcomes o ON o.ticker = e.ticker AND o.date = e.confirmed_at "
        "WHERE e.confirmed_at BETWEEN $start AND $end AND o.matured_on < $before "
        "AND NOT o.warmup AND o.ret_window IS NOT NULL",
        params={"start": start, "end": end, "before": before},
    ).to_arrow_reader(batch_rows)
    for batch in reader:
        yield pl.from_arrow(batch)


def matured_rules(conn: duckdb.DuckDBPyConnection, before: dt.date) -> list[str]:
    """The rules hashes of the stored outcomes matured before the session `before`."""
    rows = conn.execute(
        "SELECT DISTINCT rules_hash FROM outcomes WHERE matured_on < ? ORDER BY 1", [before]
    ).fetchall()
    return [rules_hash for (rules_hash,) in rows]


def read_scorecard(conn: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every row of the stored scorecard, as the last scorecard run wrote it."""
    return conn.sql("SELECT * FROM scorecard").pl()


def written_sessions(conn: duckdb.DuckDBPyConnection, asset: str) -> set[dt.date]:
    """Every session `asset` has written to the store."""
    rows = conn.execute(
        "SELECT date FROM materialized_sessions WHERE asset = ?", [asset]
    ).fetchall()
    return {day for (day,) in rows}


def missing_sessions(
    conn: duckdb.DuckDBPyConnection, asset: str, sessions: Sequence[dt.date]
) -> list[dt.date]:
    """The sessions among `sessions` that `asset` has never written to the store."""
    if not sessions:
        return []
    rows = conn.execute(
        "SELECT s FROM unnest(?::DATE[]) t(s) WHERE s NOT IN "
        "(SELECT date FROM materialized_sessions WHERE asset = ?) ORDER BY s",
        [list(sessions), asset],
    ).fetchall()
    return [day for (day,) in rows]


def warmup_mismatches(
    conn: duckdb.DuckDBPyConnection, start: dt.date, end: dt.date, warmup_bars: int
) -> pl.DataFrame:
    """Feature rows in [start, end] whose warm-up flag disagrees with the number of bars the
    store holds for the ticker before that date."""
    return conn.sql(
        "WITH counted AS (SELECT ticker, date, "
        "row_number() OVER (PARTITION BY ticker ORDER BY date) - 1 AS bars_before FROM bars) "
        "SELECT f.ticker, f.date, f.warmup, c.bars_before FROM features f "
        "JOIN counted c USING (ticker, date) WHERE f.date BETWEEN $start AND $end "
        "AND f.warmup <> (c.bars_before < $needed) ORDER BY f.ticker, f.date",
        params={"start": start, "end": end, "needed": warmup_bars},
    ).pl()


def _of_tickers(column: str, tickers: Sequence[str] | None, params: dict[str, object]) -> str:
    """The condition keeping rows of `tickers` in `column` (none when None), its list put in
    `params` as `$tickers`."""
    if tickers is None:
        return ""
    params["tickers"] = list(tickers)
    return f" AND {column} IN (SELECT unnest($tickers::VARCHAR[]))"


@dataclass(frozen=True)
class TableSummary:
    """Rows and date span of one store table."""

    table: str
    rows: int
    tickers: int | None
    first_date: dt.date | None
    last_date: dt.date | None


def summarize_tables(conn: duckdb.DuckDBPyConnection) -> list[TableSummary]:
    """Rows of every table, with tickers and first/last date where it has them (by the
    partition date column of a window table, else `date`)."""
    summaries = []
    for table in lake_tables(conn) if lake_of(conn) else _file_tables(conn):
        columns = set(conn.sql(f'SELECT * FROM "{table}" LIMIT 0').columns)
        tickers = "count(DISTINCT ticker)" if "ticker" in columns else "NULL"
        date_col = WINDOW_TABLES.get(table, "date")
        dates = f'min("{date_col}"), max("{date_col}")' if date_col in columns else "NULL, NULL"
        rows, n_tickers, first, last = conn.execute(
            f'SELECT count(*), {tickers}, {dates} FROM "{table}"'
        ).fetchone()
        summaries.append(TableSummary(table, rows, n_tickers, first, last))
    return summaries


def _file_tables(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The tables of a DuckDB file's store, in name order."""
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' "
        "AND table_type = 'BASE TABLE' AND table_name <> 'schema_migrations' ORDER BY table_name"
    ).fetchall()
    return [name for (name,) in rows]


def quarantine_by_reason(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Quarantined rows per reason over the whole store."""
    rows = conn.execute(
        "SELECT reason, count(*) FROM (SELECT unnest(string_split(reason, ', ')) AS reason "
        "FROM quarantine) GROUP BY reason ORDER BY reason"
    ).fetchall()
    return dict(rows)


def signal_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Stored signals per "strength signal" (e.g. "moderate buy"), warm-up rows apart."""
    rows = conn.execute(
        "SELECT CASE WHEN warmup THEN 'warm-up' ELSE lower(strength || ' ' || signal) END AS s, "
        "count(*) FROM signals GROUP BY s ORDER BY s"
    ).fetchall()
    return dict(rows)


def event_counts(conn: duckdb.DuckDBPyConnection) -> dict[str, int]:
    """Stored pattern events per rule."""
    rows = conn.execute(
        "SELECT rule_id, count(*) FROM events GROUP BY rule_id ORDER BY rule_id"
    ).fetchall()
    return dict(rows)


def duplicate_keys(
    conn: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str], start: dt.date, end: dt.date
) -> int:
    """How many keys of `table` appear more than once among rows of the window [start, end]."""
    key_list = ", ".join(f'"{k}"' for k in keys)
    return conn.execute(
        f'SELECT count(*) FROM (SELECT {key_list} FROM "{table}" '
        f'WHERE "{WINDOW_TABLES[table]}" BETWEEN $start AND $end '
        f"GROUP BY {key_list} HAVING count(*) > 1)",
        {"start": start, "end": end},
    ).fetchone()[0]
