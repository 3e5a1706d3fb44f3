"""A window of sessions in: fetched in chunks and sorted, and refused while a session is open."""

import datetime as dt
import itertools
from collections.abc import Sequence

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources import SourceError
from marketflow_assets.sources.ingest import ingest_chunks
from marketflow_assets.sources.quality import SortedBars, sort_bars
from marketflow_assets_tests.frames import bars_for

SESSIONS = [dt.date(2024, 7, 1), dt.date(2024, 7, 2), dt.date(2024, 7, 3)]
AFTER = dt.datetime(2024, 8, 1, tzinfo=dt.UTC)


class RecordedSource:
    """A source that returns fixed bars in the range asked for and records what it was asked."""

    name = "recorded"

    def __init__(self, bars: pl.DataFrame) -> None:
        self.bars = bars
        self.asked: list[tuple[Sequence[str] | None, dt.date, dt.date]] = []

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        self.asked.append((tickers, start, end))
        return self.bars.filter(pl.col("date").is_between(start, end))


def test_a_closed_window_that_fits_is_fetched_once_and_sorted() -> None:
    bars = bars_for(["AAA"], SESSIONS[0], SESSIONS[-1])
    bad = bars.with_columns(pl.col("high") * 0 + 1.0).head(1)  # high below low
    source = RecordedSource(pl.concat([bars.tail(2), bad]))
    [chunk] = ingest_chunks(source, ["AAA"], SESSIONS, AFTER, chunk_rows=3)
    assert source.asked == [(["AAA"], SESSIONS[0], SESSIONS[-1])]
    assert (chunk.start, chunk.end, chunk.sessions) == (SESSIONS[0], SESSIONS[-1], SESSIONS)
    assert chunk.checked.bars["date"].to_list() == SESSIONS[1:]
    assert chunk.checked.quarantine["date"].to_list() == [SESSIONS[0]]


def test_a_session_still_open_is_refused_before_fetching() -> None:
    source = RecordedSource(bars_for(["AAA"], SESSIONS[0], SESSIONS[-1]))
    before_close = dt.datetime(2024, 7, 2, 19, 0, tzinfo=dt.UTC)  # 15:00 New York, 07-02
    with pytest.raises(SourceError, match=r"session\(s\) 2024-07-02, 2024-07-03 have not closed"):
        next(ingest_chunks(source, None, SESSIONS, before_close, chunk_rows=100))
    assert source.asked == []


def test_chunks_cover_every_day_once_and_sort_as_one_window_would() -> None:
    sessions = sessions_between(dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    bars = bars_for(["AAA", "BBB", "CCC"], sessions[0], sessions[-1])
    saturday = bars.head(1).with_columns(date=pl.lit(dt.date(2024, 7, 13)))
    source = RecordedSource(pl.concat([bars, saturday]))
    whole = sort_bars(source.bars, sessions, source.name)

    chunks = list(ingest_chunks(source, None, sessions, AFTER, chunk_rows=12))

    # One session first, then four sessions of three tickers each, then three once the
    # Saturday's row has raised the rows seen per session.
    assert [len(c.sessions) for c in chunks] == [1, 4, 4, 4, 3, 3, 3]
    assert [day for c in chunks for day in c.sessions] == sessions
    assert all(b.start == a.end + dt.timedelta(days=1) for a, b in itertools.pairwise(chunks))
    assert (chunks[0].start, chunks[-1].end) == (sessions[0], sessions[-1])
    joined = SortedBars.concat([c.checked for c in chunks])
    for table, frame in joined.tables.items():
        assert_frame_equal(frame.sort("ticker", "date"), whole.tables[table])
    assert joined.quarantine["reason"].to_list() == ["not_a_session"]


def test_known_tickers_size_the_first_chunk_too() -> None:
    sessions = sessions_between(dt.date(2024, 7, 1), dt.date(2024, 7, 31))
    source = RecordedSource(bars_for(["AAA", "BBB"], sessions[0], sessions[-1]))
    chunks = list(ingest_chunks(source, ["AAA", "BBB"], sessions, AFTER, chunk_rows=20))
    assert [len(c.sessions) for c in chunks] == [10, 10, 2]
