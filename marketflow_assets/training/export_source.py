"""What an export reads its pairs through: a selection of them, and a source that gives their
key columns, their texts and their rows a range of as-of dates at a time, and keeps the
near-duplicate keys beside them, so that no step holds every pair's text at once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import polars as pl


@dataclass(frozen=True)
class Selection:
    """The pairs an export draws on: as_of in [start, end] (open ends when None) and a review
    status among `statuses`."""

    start: dt.date | None
    end: dt.date | None
    statuses: tuple[str, ...]


class PairSource(Protocol):
    """Reviewed pairs (the columns of the `reviewed_pairs` view) read in pieces; the
    store's `StoredPairs` is the one implementation."""

    def status_counts(self, selection: Selection) -> pl.DataFrame:
        """as_of, review_status and pairs: the pairs per date and status in the selection's
        range, whatever their status."""
        ...

    def repeated_ids(self, selection: Selection, limit: int) -> list[str]:
        """The first `limit` pair ids the selection holds more than once, in order."""
        ...

    def tickers(self, selection: Selection, dates: Sequence[dt.date]) -> list[str]:
        """The tickers of the selected pairs with an as-of date among `dates`."""
        ...

    def texts(self, selection: Selection, first: dt.date, last: dt.date) -> pl.DataFrame:
        """pair_id, as_of, conversation_type, response (the edit if any) and blank (whether
        the system, prompt or response holds only white space, or is missing) of the selected
        pairs with as_of in [first, last]."""
        ...

    def add_keys(self, keys: pl.DataFrame) -> None:
        """Keep the rows of `keys`: pair_id, as_of, conversation_type, split, and key_a and
        key_b, the two halves of a near-duplicate key's hash."""
        ...

    def cap(self, max_similar: int) -> pl.DataFrame:
        """Keep at most `max_similar` keyed pairs with a split per conversation type and key,
        lowest pair_id first; conversation_type and dropped, for the types with drops, sorted."""
        ...

    def kept_dates(self) -> pl.DataFrame:
        """as_of, split and pairs: the kept pairs per date, by date."""
        ...

    def kept_rows(self, first: dt.date, last: dt.date) -> pl.DataFrame:
        """Every column of the kept pairs with as_of in [first, last], and their split."""
        ...


@dataclass(frozen=True)
class DateChunk:
    """Consecutive as-of dates [first, last] read as one piece: how many dates hold pairs, and
    how many pairs."""

    first: dt.date
    last: dt.date
    dates: int
    pairs: int


def date_chunks(dates: pl.DataFrame, max_pairs: int) -> list[DateChunk]:
    """`dates` (as_of and pairs per date, sorted by date) cut into runs of consecutive whole
    dates, each holding fewer than `max_pairs` pairs plus those of its last date."""
    starts = pl.col("pairs").cum_sum() - pl.col("pairs")
    chunks = (
        dates.group_by((starts // max(max_pairs, 1)).alias("chunk"), maintain_order=True)
        .agg(
            pl.col("as_of").min().alias("first"),
            pl.col("as_of").max().alias("last"),
            pl.len().alias("dates"),
            pl.col("pairs").sum(),
        )
        .drop("chunk")
    )
    return [DateChunk(**row) for row in chunks.iter_rows(named=True)]
