"""The date window a (possibly single-run backfill) partitioned run covers, and its history."""

import datetime as dt

import dagster as dg
import duckdb

from marketflow_assets.calendar import describe_sessions, sessions_before, sessions_between
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import missing_sessions


def partition_dates(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> tuple[dt.date, dt.date]:
    """First and last session of the run's partition range, both inclusive."""
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)


def history_sessions(start: dt.date, count: int) -> list[dt.date]:
    """Up to `count` partition sessions before `start` (none before the first partition)."""
    first = dt.date.fromisoformat(trading_days.get_first_partition_key())
    return sessions_before(start, count, floor=first)


def require_sessions(
    conn: duckdb.DuckDBPyConnection,
    upstream: str,
    start: dt.date,
    end: dt.date,
    history: int,
) -> list[dt.date]:
    """The `history` sessions before [start, end], failing the run if `upstream` has not
    written any of them or of the window itself, so nothing is computed from a cut window."""
    before = history_sessions(start, history)
    missing = missing_sessions(conn, upstream, [*before, *sessions_between(start, end)])
    if missing:
        raise dg.Failure(
            f"{upstream} has not been materialised for {describe_sessions(missing)}; "
            f"this window needs {len(before)} earlier session(s) and its own. "
            f"Materialise {upstream} for them first (e.g. a backfill of that range)."
        )
    return before
