"""What a partitioned run may read: the date window it covers (a single-run backfill covers
many sessions), its history in the store, and rows made with the current rules only."""

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


def first_session() -> dt.date:
    """The first partition's session."""
    return dt.date.fromisoformat(trading_days.get_first_partition_key())


def history_sessions(start: dt.date, count: int) -> list[dt.date]:
    """Up to `count` partition sessions before `start` (none before the first partition)."""
    return sessions_before(start, count, floor=first_session())


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


def require_rules(table: str, hashes: list[str], current: str) -> None:
    """Fail when stored rows were computed with other rules than the ones loaded now."""
    stale = sorted(set(hashes) - {current})
    if stale:
        raise dg.Failure(
            f"{table} in this window were computed with rules {', '.join(h[:12] for h in stale)}, "
            f"not the current {current[:12]}; re-materialise them first."
        )
