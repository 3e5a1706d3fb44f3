import datetime as dt
from pathlib import Path

import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import (
    duplicate_keys,
    quarantine_by_reason,
    read_bars,
    summarize_tables,
)
from marketflow_assets.store.windows import replace_windows
from marketflow_assets_tests.frames import bars_for

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 12)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    bars = bars_for(["AAA", "BBB", "CCC"], START, END)
    result = sort_bars(
        bars.with_columns(volume=bars["volume"] * -1).head(2).vstack(bars.slice(2)),
        sessions_between(START, END),
        "t",
    )
    with open_store(tmp_path / "s.duckdb") as conn:
        replace_windows(conn, {"bars": result.bars, "quarantine": result.quarantine}, START, END)
    return tmp_path / "s.duckdb"


def test_read_bars_filters_dates_and_tickers(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        bars = read_bars(conn, dt.date(2024, 7, 8), dt.date(2024, 7, 9), tickers=["BBB", "CCC"])
    assert sorted(set(bars["ticker"])) == ["BBB", "CCC"]
    assert set(bars["date"]) == {dt.date(2024, 7, 8), dt.date(2024, 7, 9)}
    assert bars.height == 4


def test_summaries_count_rows_tickers_and_reasons(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        summary = {s.table: s for s in summarize_tables(conn)}
        reasons = quarantine_by_reason(conn)
        dupes = duplicate_keys(conn, "bars", ("ticker", "date"), START, END)
    assert summary["bars"].rows == 3 * 9 - 2
    assert summary["bars"].tickers == 3
    assert (summary["bars"].first_date, summary["bars"].last_date) == (START, END)
    assert summary["quarantine"].rows == 2
    assert reasons == {"negative_volume": 2}
    assert dupes == 0
