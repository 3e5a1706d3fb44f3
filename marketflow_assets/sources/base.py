"""The one interface every market data source implements, and its error type."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Protocol

import polars as pl


class SourceError(ValueError):
    """Input that cannot be read as bars; the message names the file or ticker and the problem."""


class MarketSource(Protocol):
    """Anything that returns normalised daily bars for a universe and a date range."""

    name: str

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        """Bars for `tickers` (None: every ticker the source has) with dates in [start, end]."""
        ...
