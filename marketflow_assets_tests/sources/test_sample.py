import datetime as dt
from importlib.resources import files

import polars as pl

from marketflow_assets.sources.sample import SAMPLE_FILE, SAMPLE_PACKAGE, SampleSource, load_sample


def test_sample_is_the_real_sp500_file_in_shares() -> None:
    bars = load_sample()
    assert bars["ticker"].n_unique() == 524
    assert bars["date"].min() == dt.date(2009, 8, 21)
    assert bars["date"].max() == dt.date(2010, 8, 20)
    raw = pl.read_csv(files(SAMPLE_PACKAGE).joinpath(SAMPLE_FILE).read_bytes())
    assert bars.height == raw.height
    first = raw.filter((pl.col("Symbol") == "A") & (pl.col("Date") == 20090821)).row(0, named=True)
    mine = bars.filter((pl.col("ticker") == "A") & (pl.col("date") == dt.date(2009, 8, 21)))
    assert mine["volume"].item() == first["Volume"] * 100
    assert mine["close"].item() == first["Close"]


def test_fetch_filters_tickers_and_dates() -> None:
    bars = SampleSource().fetch(["A", "AAPL"], dt.date(2010, 1, 4), dt.date(2010, 1, 8))
    assert sorted(bars["ticker"].unique().to_list()) == ["A", "AAPL"]
    assert bars["date"].min() == dt.date(2010, 1, 4)
    assert bars["date"].max() == dt.date(2010, 1, 8)
    assert bars.height == 10
