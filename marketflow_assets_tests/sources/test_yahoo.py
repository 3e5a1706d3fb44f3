"""yfinance frames of the real return shape, fed through the real normalising code; no network."""

import datetime as dt
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
import pytest

from marketflow_assets.sources.yahoo import YahooSource, undo_split_adjustment, yahoo_frame_to_bars

DATES = pd.DatetimeIndex(["2024-06-06", "2024-06-07", "2024-06-10", "2024-06-11"], name="Date")


def yahoo_shaped(per_ticker: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Assemble per-ticker frames exactly as yfinance.download(group_by='column') does."""
    data = pd.concat(
        per_ticker.values(), axis=1, sort=True, keys=per_ticker.keys(), names=["Ticker", "Price"]
    )
    data.columns = data.columns.swaplevel(0, 1)
    return data.sort_index(level=0, axis=1)


def ticker_frame(
    close: list[float],
    volume: list[float],
    splits: list[float],
    dividends: list[float],
    index: pd.DatetimeIndex = DATES,
) -> pd.DataFrame:
    close_arr = np.array(close)
    return pd.DataFrame(
        {
            "Open": close_arr * 0.99,
            "High": close_arr * 1.02,
            "Low": close_arr * 0.98,
            "Close": close_arr,
            "Adj Close": close_arr * 0.995,
            "Volume": np.array(volume, dtype="int64"),
            "Dividends": dividends,
            "Stock Splits": splits,
        },
        index=index,
    )


@pytest.fixture
def frame() -> pd.DataFrame:
    # NVDA split 10:1 with ex-date 2024-06-10; Yahoo reports earlier bars already divided by 10.
    nvda = ticker_frame(
        close=[120.998, 120.888, 121.79, 120.91],
        volume=[412_386_000, 412_386_000, 314_162_700, 222_551_200],
        splits=[0.0, 0.0, 10.0, 0.0],
        dividends=[0.0, 0.0, 0.0, 0.0],
    )
    # MSFT has no bar on 2024-06-11 here: yfinance pads it with NaN when aligning tickers.
    msft = ticker_frame(
        close=[424.52, 423.85, 427.87],
        volume=[16_988_000, 13_621_700, 14_003_000],
        splits=[0.0, 0.0, 0.0],
        dividends=[0.75, 0.0, 0.0],
        index=DATES[:3],
    )
    return yahoo_shaped({"NVDA": nvda, "MSFT": msft})


def test_fixture_has_yfinance_shape(frame: pd.DataFrame) -> None:
    assert frame.columns.names == ["Price", "Ticker"]
    assert ("Close", "NVDA") in frame.columns
    assert frame.index.name == "Date"
    assert frame[("Close", "MSFT")].isna().sum() == 1


def test_wide_frame_becomes_long_bars_without_padding(frame: pd.DataFrame) -> None:
    bars = yahoo_frame_to_bars(frame).sort("ticker", "date")
    assert bars.filter(pl.col("ticker") == "MSFT").height == 3
    assert bars.filter(pl.col("ticker") == "NVDA")["split_ratio"].to_list() == [
        None,
        None,
        10.0,
        None,
    ]
    assert bars.filter(pl.col("ticker") == "MSFT")["dividend"].to_list() == [0.75, None, None]


def test_later_splits_are_undone_so_bars_are_raw(frame: pd.DataFrame) -> None:
    raw = (
        undo_split_adjustment(yahoo_frame_to_bars(frame))
        .filter(pl.col("ticker") == "NVDA")
        .sort("date")
    )
    assert raw["close"].to_list() == pytest.approx([1209.98, 1208.88, 121.79, 120.91])
    assert raw["volume"].to_list() == pytest.approx(
        [41_238_600, 41_238_600, 314_162_700, 222_551_200]
    )
    msft = undo_split_adjustment(yahoo_frame_to_bars(frame)).filter(pl.col("ticker") == "MSFT")
    assert msft["close"].to_list() == pytest.approx([424.52, 423.85, 427.87])


def test_fetch_downloads_through_today_and_keeps_the_window(frame: pd.DataFrame) -> None:
    calls: list[dict[str, Any]] = []

    def download(tickers: list[str], **options: Any) -> pd.DataFrame:
        calls.append({"tickers": tickers, **options})
        return frame

    source = YahooSource(download=download, today=dt.date(2024, 6, 11))
    bars = source.fetch(["NVDA", "MSFT"], dt.date(2024, 6, 6), dt.date(2024, 6, 7))
    assert calls[0]["actions"] is True
    assert calls[0]["auto_adjust"] is False
    assert calls[0]["end"] == "2024-06-12"  # through today, so the later split is seen
    nvda = bars.filter(pl.col("ticker") == "NVDA").sort("date")
    assert nvda["date"].to_list() == [dt.date(2024, 6, 6), dt.date(2024, 6, 7)]
    assert nvda["close"].to_list() == pytest.approx([1209.98, 1208.88])


def test_empty_download_gives_no_bars() -> None:
    source = YahooSource(download=lambda tickers, **_: pd.DataFrame(), today=dt.date(2024, 6, 11))
    assert source.fetch(["ZZZZ"], dt.date(2024, 6, 6), dt.date(2024, 6, 7)).height == 0
