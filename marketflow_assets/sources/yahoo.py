"""Live daily bars from Yahoo Finance via yfinance, stored raw (Yahoo's split adjustment undone)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import polars as pl

from marketflow_assets.sources.base import SourceError
from marketflow_assets.sources.normalize import empty_bars, filter_bars, normalize_bars

Downloader = Callable[..., pd.DataFrame]


def yahoo_frame_to_bars(frame: pd.DataFrame) -> pl.DataFrame:
    """yfinance's wide frame (columns Price x Ticker, index Date) to normalised long bars.

    Rows where a ticker has no value at all are padding from yfinance aligning several tickers
    on one index, not bars, so they are not kept. Prices and volume are still split-adjusted.
    """
    if frame is None or frame.empty:
        return empty_bars()
    if not isinstance(frame.columns, pd.MultiIndex):
        raise SourceError("yfinance: expected columns (Price, Ticker); call with multi_level_index")
    names = list(frame.columns.names)
    ticker_level = names.index("Ticker") if "Ticker" in names else 1
    long = frame.stack(level=ticker_level, future_stack=True)
    long = long.dropna(how="all").reset_index()
    long = long.rename(columns={long.columns[0]: "Date", long.columns[1]: "Ticker"})
    long.columns = [str(c) for c in long.columns]
    bars = normalize_bars(pl.from_pandas(long), origin="yfinance")
    return bars.with_columns(
        pl.when(pl.col("split_ratio") > 0).then(pl.col("split_ratio")).alias("split_ratio"),
        pl.when(pl.col("dividend") != 0).then(pl.col("dividend")).alias("dividend"),
    )


def undo_split_adjustment(bars: pl.DataFrame) -> pl.DataFrame:
    """Raw bars from bars adjusted for every later split in the frame.

    A bar at t carries the product F of the ratios of the splits after t: raw price = adjusted
    x F and raw volume = adjusted / F. A split's own ex-date bar is already post-split.
    """
    ratio = pl.col("split_ratio").fill_null(1.0)
    later = (ratio.cum_prod(reverse=True) / ratio).over("ticker", order_by="date")
    prices = [(pl.col(c) * pl.col("_later")).alias(c) for c in ("open", "high", "low", "close")]
    return (
        bars.with_columns(later.alias("_later"))
        .with_columns(*prices, (pl.col("volume") / pl.col("_later")).alias("volume"))
        .drop("_later")
    )


class YahooSource:
    """Daily bars with splits and dividends; needs the internet (tests pass `download`)."""

    name = "yfinance"

    def __init__(self, download: Downloader | None = None, today: dt.date | None = None) -> None:
        self._download = download
        self._today = today

    def _downloader(self) -> Downloader:
        if self._download is not None:
            return self._download
        import yfinance

        return yfinance.download

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        if not tickers:
            raise SourceError("yfinance: a ticker list is needed (MARKETFLOW_TICKERS)")
        today = self._today or dt.date.today()
        # Download through today: splits after `end` still shape Yahoo's prices before it.
        options: dict[str, Any] = {
            "start": start.isoformat(),
            "end": (max(today, end) + dt.timedelta(days=1)).isoformat(),
            "actions": True,
            "auto_adjust": False,
            "group_by": "column",
            "multi_level_index": True,
            "progress": False,
        }
        frame = self._downloader()(list(tickers), **options)
        bars = undo_split_adjustment(yahoo_frame_to_bars(frame))
        return filter_bars(bars, tickers, start, end)
