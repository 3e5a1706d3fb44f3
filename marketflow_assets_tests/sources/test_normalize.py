import datetime as dt

import polars as pl
import pytest

from marketflow_assets.sources.base import SourceError
from marketflow_assets.sources.normalize import BARS_SCHEMA, canonical_name, normalize_bars


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Date", "date"),
        ("Symbol", "ticker"),
        ("Ticker", "ticker"),
        ("Close", "close"),
        ("Adj Close", "adj_close"),
        ("adj_close", "adj_close"),
        ("VOLUME", "volume"),
        ("Stock Splits", "split_ratio"),
        ("Dividends", "dividend"),
        ("Comment", None),
    ],
)
def test_column_names_are_recognised(given: str, expected: str | None) -> None:
    assert canonical_name(given) == expected


def test_capitalised_text_table_normalises_to_the_schema() -> None:
    raw = pl.DataFrame(
        {
            "Date": ["2024-01-02", "2024-01-03"],
            "Symbol": [" aapl", "aapl"],
            "Open": ["10", "11.5"],
            "High": ["12", "12"],
            "Low": ["9", "11"],
            "Close": ["11", "11.75"],
            "Volume": ["1000", ""],
            "Notes": ["x", "y"],
        }
    )
    bars = normalize_bars(raw, origin="t.csv")
    assert bars.schema == BARS_SCHEMA
    assert bars["ticker"].to_list() == ["AAPL", "AAPL"]
    assert bars["date"].to_list() == [dt.date(2024, 1, 2), dt.date(2024, 1, 3)]
    assert bars["close"].to_list() == [11.0, 11.75]
    assert bars["volume"].to_list() == [1000.0, None]  # missing stays null, for quarantine
    assert bars["split_ratio"].null_count() == 2


@pytest.mark.parametrize(
    "dates", [["20240102"], ["2024/01/02"], ["01/02/2024"], ["2024-01-02 00:00:00"]]
)
def test_common_date_spellings_parse(dates: list[str]) -> None:
    raw = pl.DataFrame(
        {"date": dates, "open": [1.0], "high": [1.0], "low": [1.0], "close": [1.0], "volume": [1]}
    )
    assert normalize_bars(raw, "f", ticker="X")["date"].to_list() == [dt.date(2024, 1, 2)]


def test_integer_yyyymmdd_dates_parse() -> None:
    raw = pl.DataFrame(
        {"Date": [20091112], "Open": [1.0], "High": [1], "Low": [1], "Close": [1], "Volume": [5]}
    )
    assert normalize_bars(raw, "f", ticker="X")["date"].to_list() == [dt.date(2009, 11, 12)]


def test_adj_close_is_never_taken_for_the_raw_close() -> None:
    base = {"date": ["2024-01-02"], "open": [1.0], "high": [2.0], "low": [0.5], "volume": [1]}
    with pytest.raises(SourceError, match="has Adj Close but no Close"):
        normalize_bars(pl.DataFrame({**base, "Adj Close": [1.5]}), "f", ticker="X")
    both = normalize_bars(
        pl.DataFrame({**base, "Close": [1.2], "Adj Close": [1.5]}), "f", ticker="X"
    )
    assert both["close"].to_list() == [1.2]


def test_missing_column_names_the_origin_and_the_column() -> None:
    raw = pl.DataFrame({"date": ["2024-01-02"], "open": [1.0], "high": [1.0], "close": [1.0]})
    with pytest.raises(SourceError, match=r"prices\.csv: missing column\(s\) low, volume"):
        normalize_bars(raw, "prices.csv", ticker="X")


def test_text_in_a_number_column_names_the_line() -> None:
    raw = pl.DataFrame(
        {
            "date": ["2024-01-02", "2024-01-03"],
            "open": ["1", "one"],
            "high": ["1", "1"],
            "low": ["1", "1"],
            "close": ["1", "1"],
            "volume": ["1", "1"],
        }
    )
    with pytest.raises(
        SourceError, match=r"x\.csv: text in number column 'open': \['one'\] at line\(s\) \[3\]"
    ):
        normalize_bars(raw, "x.csv", ticker="X")


def test_unparseable_date_names_the_value_and_line() -> None:
    raw = pl.DataFrame(
        {
            "date": ["2024-01-02", "yesterday"],
            "open": [1.0, 1.0],
            "high": [1.0, 1.0],
            "low": [1.0, 1.0],
            "close": [1.0, 1.0],
            "volume": [1, 1],
        }
    )
    with pytest.raises(
        SourceError, match=r"x\.csv: unparseable or missing date \['yesterday'\] at line\(s\) \[3\]"
    ):
        normalize_bars(raw, "x.csv", ticker="X")


def test_empty_input_is_an_error() -> None:
    with pytest.raises(SourceError, match="empty"):
        normalize_bars(pl.DataFrame({"date": [], "close": []}), "e.csv", ticker="X")


def test_two_columns_meaning_the_same_field_is_an_error() -> None:
    raw = pl.DataFrame({"Symbol": ["A"], "Ticker": ["B"]})
    with pytest.raises(SourceError, match="'Symbol' and 'Ticker' both mean 'ticker'"):
        normalize_bars(raw, "f.csv")
