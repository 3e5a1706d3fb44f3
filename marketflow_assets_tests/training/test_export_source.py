"""Cutting an export's dates into chunks of whole dates that fit a number of pairs."""

import datetime as dt
import itertools

import polars as pl

from marketflow_assets.training.export_source import DateChunk, date_chunks

DAYS = [dt.date(2024, 7, d) for d in (1, 2, 3, 5, 8, 9)]


def dates(*pairs: int) -> pl.DataFrame:
    return pl.DataFrame({"as_of": DAYS[: len(pairs)], "pairs": list(pairs)})


def test_a_chunk_starts_within_each_run_of_max_pairs_and_overruns_by_its_last_date() -> None:
    # The dates start at pairs 0, 3, 7, 9, 18 and 19: chunks of 7 pairs start at 0, 7 and 14.
    chunks = date_chunks(dates(3, 4, 2, 9, 1, 1), max_pairs=7)
    assert chunks == [
        DateChunk(DAYS[0], DAYS[1], dates=2, pairs=7),
        DateChunk(DAYS[2], DAYS[3], dates=2, pairs=11),
        DateChunk(DAYS[4], DAYS[5], dates=2, pairs=2),
    ]


def test_every_date_is_in_one_chunk_in_order_under_any_budget() -> None:
    frame = dates(5, 1, 8, 2, 2, 6)
    for max_pairs in (1, 2, 3, 5, 8, 13, 100):
        chunks = date_chunks(frame, max_pairs)
        assert sum(c.pairs for c in chunks) == 24
        assert sum(c.dates for c in chunks) == 6
        assert chunks[0].first == DAYS[0]
        assert chunks[-1].last == DAYS[-1]
        assert all(a.last < b.first for a, b in itertools.pairwise(chunks))
        # Fewer than max_pairs, plus the pairs of the last date (8 at most).
        assert all(c.pairs < max_pairs + 8 for c in chunks), (max_pairs, chunks)
    assert len(date_chunks(frame, 100)) == 1
    assert len(date_chunks(frame, 1)) == 6
