"""One window of sessions in: fetched and sorted, and refused while a session is still open."""

import datetime as dt
from collections.abc import Sequence

import polars as pl
import pytest

from marketflow_assets.sources import SourceError
from marketflow_assets.sources.ingest import ingest_sessions
from marketflow_assets_tests.frames import bars_for

SESSIONS = [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3)]


class RecordedSource:
    """A source that returns fixed bars and records what it was asked for."""

    name = "recorded"

    def __init__(self, bars: pl.DataFrame) -> None:
        self.bars = bars
        self.asked: list[tuple[Sequence[str] | None, dt.date, dt.date]] = []

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        self.asked.append((tickers, start, end))
        return self.bars


def test_a_closed_window_is_fetched_once_and_sorted() -> None:
    bars = bars_for(["AAA"], SESSIONS[0], SESSIONS[-1])
    bad = bars.with_columns(pl.col("high") * 0 + 1.0).head(1)  # high below low
    source = RecordedSource(pl.concat([bars.tail(2), bad]))
    result = ingest_sessions(source, ["AAA"], SESSIONS, dt.datetime(2024, 7, 4, tzinfo=dt.UTC))
    assert source.asked == [(["AAA"], SESSIONS[0], SESSIONS[-1])]
    assert result.bars["date"].to_list() == SESSIONS[1:]
    assert result.quarantine["date"].to_list() == [SESSIONS[0]]


def test_a_session_still_open_is_refused_before_fetching() -> None:
    source = RecordedSource(bars_for(["AAA"], SESSIONS[0], SESSIONS[-1]))
    before_close = dt.datetime(2024, 7, 2, 19, 0, tzinfo=dt.UTC)  # 15:00 New York, 07-02
    with pytest.raises(SourceError, match=r"session\(s\) 2024-07-02, 2024-07-03 have not closed"):
        ingest_sessions(source, None, SESSIONS, before_close)
    assert source.asked == []
