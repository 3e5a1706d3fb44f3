import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from marketflow_assets.sources import make_source
from marketflow_assets.sources.base import SourceError
from marketflow_assets.sources.files import FilesSource, read_bar_file

JAN = (dt.date(2024, 1, 2), dt.date(2024, 1, 5))


def test_one_csv_per_ticker_takes_the_ticker_from_the_file_name(tmp_path: Path) -> None:
    (tmp_path / "msft.csv").write_text(
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2024-01-02,370.0,376.0,366.5,370.87,368.0,25258600\n"
        "2024-01-03,369.0,373.3,368.5,370.6,367.8,23083500\n"
    )
    bars = FilesSource(tmp_path).fetch(None, *JAN)
    assert bars["ticker"].to_list() == ["MSFT", "MSFT"]
    assert bars["close"].to_list() == [370.87, 370.6]  # raw close, not Adj Close


def test_one_long_parquet_table_with_actions(tmp_path: Path) -> None:
    pl.DataFrame(
        {
            "ticker": ["AAA", "AAA", "BBB"],
            "date": [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 2)],
            "open": [10.0, 5.0, 20.0],
            "high": [11.0, 5.5, 21.0],
            "low": [9.0, 4.5, 19.0],
            "close": [10.0, 5.0, 20.0],
            "volume": [100, 200, 300],
            "split_ratio": [None, 2.0, None],
            "dividend": [None, None, 0.25],
        }
    ).write_parquet(tmp_path / "universe.parquet")
    bars = FilesSource(tmp_path).fetch(["AAA"], *JAN)
    assert bars["ticker"].to_list() == ["AAA", "AAA"]
    assert bars["split_ratio"].to_list() == [None, 2.0]


def test_dates_outside_the_range_are_not_returned(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text(
        "date,open,high,low,close,volume\n2023-12-29,1,1,1,1,1\n2024-01-02,1,1,1,1,1\n"
    )
    assert FilesSource(tmp_path).fetch(None, *JAN)["date"].to_list() == [dt.date(2024, 1, 2)]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("date,open,high,close,volume\n2024-01-02,1,1,1,1\n", "missing column"),
        (
            "date,open,high,low,close,volume\n2024-01-02,1,1,abc,1,1\n",
            "text in number column 'low'",
        ),
        ("date,open,high,low,close,volume\n2024-02-30,1,1,1,1,1\n", "unparseable or missing date"),
        ("date,open,high,low,close,volume\n", "empty"),
        ("", "cannot be read"),
    ],
)
def test_malformed_file_names_the_file_and_problem(
    tmp_path: Path, content: str, problem: str
) -> None:
    (tmp_path / "good.csv").write_text("date,open,high,low,close,volume\n2024-01-02,1,1,1,1,1\n")
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(SourceError, match=rf"bad\.csv.*{problem}"):
        FilesSource(tmp_path).fetch(None, *JAN)


def test_missing_or_empty_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        make_source("files", tmp_path / "nope")
    with pytest.raises(SourceError, match=r"no \.csv"):
        FilesSource(tmp_path).fetch(None, *JAN)


def test_unknown_source_name_is_refused() -> None:
    with pytest.raises(SourceError, match="unknown source 'bloomberg'"):
        make_source("bloomberg")


def long_table(dates: list[dt.date | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "Symbol": ["AAA"] * len(dates),
            "Date": dates,
            "Open": 1.0,
            "High": 1.0,
            "Low": 1.0,
            "Close": 1.0,
            "Volume": 1.0,
        }
    )


def test_a_parquet_table_is_read_for_the_range_asked_only(tmp_path: Path) -> None:
    dates = [dt.date(2023, 12, 29), dt.date(2024, 1, 2), dt.date(2024, 1, 8)]
    long_table(dates).write_parquet(tmp_path / "universe.parquet")
    assert read_bar_file(tmp_path / "universe.parquet", *JAN)["date"].to_list() == [dates[1]]
    assert read_bar_file(tmp_path / "universe.parquet")["date"].to_list() == dates
    later = (dt.date(2025, 1, 2), dt.date(2025, 1, 3))
    assert read_bar_file(tmp_path / "universe.parquet", *later).height == 0


def test_a_parquet_row_without_a_date_is_refused_whatever_the_range(tmp_path: Path) -> None:
    long_table([dt.date(2024, 1, 2), None]).write_parquet(tmp_path / "universe.parquet")
    with pytest.raises(SourceError, match=r"universe\.parquet: unparseable or missing date"):
        FilesSource(tmp_path).fetch(None, *JAN)


def test_an_empty_parquet_file_is_refused_whatever_the_range(tmp_path: Path) -> None:
    long_table([]).write_parquet(tmp_path / "universe.parquet")
    with pytest.raises(SourceError, match=r"universe\.parquet: no rows"):
        FilesSource(tmp_path).fetch(None, *JAN)
