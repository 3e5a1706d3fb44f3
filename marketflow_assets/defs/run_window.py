"""What a partitioned run may read: the sessions it covers (a single-run backfill covers many),
its history in the store, and rows made with the current rules only."""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import dagster as dg
import duckdb
import numpy as np
import polars as pl

from marketflow_assets.calendar import describe_sessions, sessions_before, sessions_between
from marketflow_assets.store.reads import missing_sessions, ticker_rows
from marketflow_assets.store.writes import (
    append_windows,
    clear_windows,
    record_written,
    replace_windows,
)


@dataclass(frozen=True)
class RunWindow:
    """The first and last session of a run's partition range (both inclusive), and the first
    partition, before which there is no history."""

    start: dt.date
    end: dt.date
    first: dt.date

    @classmethod
    def of(
        cls, context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext, first: dt.date
    ) -> RunWindow:
        """The window of a run; `context.partition_key_range` serves single and range runs."""
        keys = context.partition_key_range
        return cls(dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end), first)

    @property
    def sessions(self) -> list[dt.date]:
        """Every session of the window."""
        return sessions_between(self.start, self.end)

    def chunks(self, rows: int, row_bytes: int, budget_mib: int) -> list[RunWindow]:
        """The window cut into consecutive windows of whole sessions, each holding about
        `budget_mib` of `rows` rows of `row_bytes` (one window when all of them fit)."""
        sessions = self.sessions
        pieces = max(1, -(-rows * row_bytes // (budget_mib << 20)))
        size = max(1, -(-len(sessions) // pieces))
        return [
            RunWindow(part[0], part[-1], self.first)
            for part in (sessions[i : i + size] for i in range(0, len(sessions), size))
        ]

    def shards(
        self,
        conn: duckdb.DuckDBPyConnection,
        table: str,
        since: dt.date,
        row_bytes: int,
        budget_mib: int,
    ) -> list[list[str]]:
        """The tickers with rows of `table` dated in [since, end] (the window and its history),
        cut into groups that each hold about `budget_mib` of those rows of `row_bytes`."""
        counts = ticker_rows(conn, table, since, self.end)
        return ticker_shards(counts["ticker"], counts["rows"], row_bytes, budget_mib)

    def history(self, count: int) -> list[dt.date]:
        """Up to `count` partition sessions before the window (none before the first)."""
        return sessions_before(self.start, count, floor=self.first)

    def require(
        self, conn: duckdb.DuckDBPyConnection, upstream: str, history: int = 0
    ) -> list[dt.date]:
        """The `history` sessions before the window, failing the run if `upstream` has not
        written any of them or of the window itself, so nothing is computed from a cut window."""
        before = self.history(history)
        missing = missing_sessions(conn, upstream, [*before, *self.sessions])
        if missing:
            raise dg.Failure(
                f"{upstream} has not been materialised for {describe_sessions(missing)}; "
                f"this window needs {len(before)} earlier session(s) and its own. "
                f"Materialise {upstream} for them first (e.g. a backfill of that range)."
            )
        return before

    def write(
        self,
        conn: duckdb.DuckDBPyConnection,
        frames: Mapping[str, pl.DataFrame],
        asset: str,
        scope: Mapping[str, str] | None = None,
    ) -> None:
        """Replace the window's rows of each table with its frame and record its sessions as
        written by `asset`, in one transaction."""
        replace_windows(
            conn, frames, self.start, self.end, asset=asset, sessions=self.sessions, scope=scope
        )

    @contextmanager
    def sharded_write(
        self, conn: duckdb.DuckDBPyConnection, tables: Sequence[str], asset: str
    ) -> Iterator[Callable[[Mapping[str, pl.DataFrame]], dict[str, int]]]:
        """Write the window's rows of `tables` shard by shard with the function handed back (it
        appends one shard's frames and returns the rows written per table).

        The window's rows are deleted and its sessions unrecorded first; each shard's rows are
        appended in a transaction of their own; the sessions are recorded as written by `asset`
        only when the block ends without error. A run stopped midway therefore leaves a window
        the store reports as unwritten (downstream assets refuse it), and its rerun starts from
        an empty window: the same rows, never duplicates.
        """
        clear_windows(conn, tables, self.start, self.end, asset)
        yield lambda frames: append_windows(conn, frames, self.start, self.end)
        record_written(conn, asset, self.start, self.end, self.sessions)


def ticker_shards(
    tickers: pl.Series, rows: pl.Series, row_bytes: int, budget_mib: int
) -> list[list[str]]:
    """`tickers` (sorted, with their `rows`) cut into consecutive groups of about `budget_mib`
    of rows of `row_bytes` each: one group when all fit (an empty one when there are none)."""
    counts = rows.to_numpy().astype(np.int64)
    total = int(counts.sum())
    pieces = max(1, -(-total * row_bytes // (budget_mib << 20)))
    size = max(1, -(-total // pieces))
    # A ticker goes to the group its first row falls in.
    group = (np.cumsum(counts) - counts) // size
    names = tickers.to_list()
    cuts = [0, *(np.flatnonzero(np.diff(group)) + 1).tolist(), len(names)]
    return [names[lo:hi] for lo, hi in itertools.pairwise(cuts)] if names else [[]]


def require_rules(table: str, hashes: list[str], current: str) -> None:
    """Fail when stored rows were computed with other rules than the ones loaded now."""
    stale = sorted(set(hashes) - {current})
    if stale:
        raise dg.Failure(
            f"{table} in this window were computed with rules {', '.join(h[:12] for h in stale)}, "
            f"not the current {current[:12]}; re-materialise them first."
        )
