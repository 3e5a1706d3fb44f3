"""A run's window cut into chunks of whole sessions, or its tickers into shards, that fit a
memory budget; a window written shard by shard."""

import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.run_window import RunWindow, ticker_shards
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import missing_sessions, read_bars
from marketflow_assets_tests.frames import bars_for

FIRST = dt.date(2024, 1, 2)
WINDOW = RunWindow(dt.date(2024, 7, 1), dt.date(2024, 7, 31), FIRST)  # 22 sessions


def test_a_window_that_fits_is_one_chunk() -> None:
    assert WINDOW.chunks(rows=1_000, row_bytes=1_024, budget_mib=1) == [WINDOW]


@pytest.mark.parametrize(("rows", "pieces"), [(2_048, 2), (4_096, 4), (100_000, 22)])
def test_chunks_are_consecutive_sessions_covering_the_window_once(rows: int, pieces: int) -> None:
    chunks = WINDOW.chunks(rows=rows, row_bytes=1_024, budget_mib=1)
    assert len(chunks) == pieces
    assert [day for chunk in chunks for day in chunk.sessions] == WINDOW.sessions
    assert WINDOW.sessions == sessions_between(WINDOW.start, WINDOW.end)
    assert all(chunk.first == FIRST for chunk in chunks)
    assert chunks[0].start == WINDOW.start
    assert chunks[-1].end == WINDOW.end


def test_ticker_shards_cut_sorted_tickers_into_consecutive_groups_of_the_budget() -> None:
    tickers = pl.Series([f"T{i:02d}" for i in range(10)])
    rows = pl.Series([512] * 10)
    assert ticker_shards(tickers, rows, row_bytes=1_024, budget_mib=8) == [tickers.to_list()]
    shards = ticker_shards(tickers, rows, row_bytes=1_024, budget_mib=1)
    # 5 MiB of rows in 1 MiB shards: five groups of two tickers.
    assert shards == [tickers.to_list()[i : i + 2] for i in range(0, 10, 2)]
    one_each = ticker_shards(tickers, rows, row_bytes=1 << 20, budget_mib=1)
    assert one_each == [[t] for t in tickers]
    assert ticker_shards(pl.Series([], dtype=pl.String), pl.Series([], dtype=pl.UInt32), 8, 1) == [
        []
    ]


def test_a_shard_never_splits_a_ticker() -> None:
    tickers = pl.Series(["A", "B", "C", "D"])
    rows = pl.Series([100, 2_000, 100, 100])
    # 2,300 rows of 1 KiB in 1 MiB: three groups of about 767 rows, each ticker in the group its
    # first row falls in.
    shards = ticker_shards(tickers, rows, row_bytes=1_024, budget_mib=1)
    assert shards == [["A", "B"], ["C", "D"]]


def write_first_shard_then_stop(
    conn: duckdb.DuckDBPyConnection, window: RunWindow, shard: pl.DataFrame
) -> None:
    with window.sharded_write(conn, ["bars"], "daily_bars") as write:
        write({"bars": shard})
        raise RuntimeError("stopped")


def test_a_sharded_write_stopped_midway_leaves_the_window_unwritten_and_a_rerun_whole(
    tmp_path: Path,
) -> None:
    window = RunWindow(dt.date(2024, 7, 1), dt.date(2024, 7, 12), FIRST)
    aaa, bbb = (
        bars_for([t], window.start, window.end).drop("split_ratio", "dividend") for t in "AB"
    )
    rows = pl.concat([aaa, bbb]).with_columns(source=pl.lit("t"))
    with open_store(tmp_path / "s.duckdb") as conn:
        window.write(conn, {"bars": rows}, "daily_bars")
        with pytest.raises(RuntimeError, match="stopped"):
            write_first_shard_then_stop(conn, window, rows.filter(pl.col("ticker") == "A"))
        assert missing_sessions(conn, "daily_bars", window.sessions) == window.sessions
        assert read_bars(conn, window.start, window.end)["ticker"].unique().to_list() == ["A"]
        for _ in range(2):
            with window.sharded_write(conn, ["bars"], "daily_bars") as write:
                for ticker in "AB":
                    write({"bars": rows.filter(pl.col("ticker") == ticker)})
        assert missing_sessions(conn, "daily_bars", window.sessions) == []
        stored = read_bars(conn, window.start, window.end)
    assert stored.select(rows.columns).equals(rows)
