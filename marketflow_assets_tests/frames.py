"""Small bar frames built in code, so each test shows its case."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.normalize import BARS_SCHEMA


def bars_for(
    tickers: Sequence[str], start: dt.date, end: dt.date, base: float = 100.0
) -> pl.DataFrame:
    """Valid normalised bars for every ticker on every NYSE session in [start, end]."""
    sessions = sessions_between(start, end)
    rows = []
    for t_index, ticker in enumerate(tickers):
        for d_index, day in enumerate(sessions):
            close = base + t_index * 10 + d_index * 0.5
            rows.append(
                {
                    "ticker": ticker,
                    "date": day,
                    "open": close - 0.2,
                    "high": close + 1.0,
                    "low": close - 1.0,
                    "close": close,
                    "volume": 1_000_000.0 + 1_000 * d_index,
                    "split_ratio": None,
                    "dividend": None,
                }
            )
    return pl.DataFrame(rows, schema=BARS_SCHEMA)
