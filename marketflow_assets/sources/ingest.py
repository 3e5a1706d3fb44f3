"""One window of sessions in: fetched from a source and sorted into bars and quarantine."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from marketflow_assets.calendar import unclosed_sessions
from marketflow_assets.sources.base import MarketSource, SourceError
from marketflow_assets.sources.quality import SortedBars, sort_bars


def ingest_sessions(
    source: MarketSource,
    tickers: Sequence[str] | None,
    sessions: Sequence[dt.date],
    now: dt.datetime,
) -> SortedBars:
    """The checked bars of `sessions` (in order) for `tickers`; refuses sessions that have not
    closed at `now`, whose bars would still change."""
    open_sessions = unclosed_sessions(sessions, now)
    if open_sessions:
        shown = ", ".join(str(d) for d in open_sessions)
        raise SourceError(f"session(s) {shown} have not closed yet; run them after the close")
    fetched = source.fetch(tickers, sessions[0], sessions[-1])
    return sort_bars(fetched, sessions, source.name)
