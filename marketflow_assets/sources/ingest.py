"""A window of sessions in: fetched from a source and sorted into bars and quarantine, in chunks
of consecutive sessions that fit a number of rows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from marketflow_assets.calendar import unclosed_sessions
from marketflow_assets.sources.base import MarketSource, SourceError
from marketflow_assets.sources.quality import SortedBars, sort_bars


@dataclass(frozen=True)
class IngestedChunk:
    """The checked bars of one chunk of a window: every calendar day in [start, end] (from the
    day after the previous chunk's last session, so that a row dated on no session is
    quarantined in exactly one chunk) and the sessions among them."""

    start: dt.date
    end: dt.date
    sessions: list[dt.date]
    checked: SortedBars


def ingest_chunks(
    source: MarketSource,
    tickers: Sequence[str] | None,
    sessions: Sequence[dt.date],
    now: dt.datetime,
    chunk_rows: int,
) -> Iterator[IngestedChunk]:
    """The checked bars of `sessions` in consecutive chunks of about `chunk_rows` fetched rows,
    with the rows of one fetch of them all; refuses sessions that have not closed at `now`.

    A chunk holds as many sessions as fit at one row per ticker and session when the tickers
    are known, else the first is one session and each later one is sized from the rows per
    session fetched so far (doubling while none came).
    """
    _refuse_open(sessions, now)
    size = max(1, chunk_rows // len(tickers)) if tickers else 1
    done, rows, start = 0, 0, sessions[0]
    while done < len(sessions):
        part = list(sessions[done : done + size])
        fetched = source.fetch(tickers, start, part[-1])
        yield IngestedChunk(start, part[-1], part, sort_bars(fetched, part, source.name))
        done, rows = done + len(part), rows + fetched.height
        start = part[-1] + dt.timedelta(days=1)
        size = max(1, chunk_rows * done // rows) if rows else 2 * size


def _refuse_open(sessions: Sequence[dt.date], now: dt.datetime) -> None:
    """Raise SourceError naming the sessions that have not closed at `now`."""
    open_sessions = unclosed_sessions(sessions, now)
    if open_sessions:
        shown = ", ".join(str(d) for d in open_sessions)
        raise SourceError(f"session(s) {shown} have not closed yet; run them after the close")
