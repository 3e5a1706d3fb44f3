import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import (
    duplicate_keys,
    quarantine_by_reason,
    read_bars,
    read_window,
    summarize_tables,
    ticker_rows,
    warmup_mismatches,
)
from marketflow_assets.store.writes import replace_windows
from marketflow_assets_tests.frames import bars_for
from marketflow_assets_tests.store.conftest import StorePath

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 12)


@pytest.fixture
def store(store_path: StorePath) -> StorePath:
    bars = bars_for(["AAA", "BBB", "CCC"], START, END)
    result = sort_bars(
        bars.with_columns(volume=bars["volume"] * -1).head(2).vstack(bars.slice(2)),
        sessions_between(START, END),
        "t",
    )
    with open_store(store_path) as conn:
        replace_windows(conn, {"bars": result.bars, "quarantine": result.quarantine}, START, END)
    return store_path


def test_read_bars_filters_dates_and_tickers(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        bars = read_bars(conn, dt.date(2024, 7, 8), dt.date(2024, 7, 9), tickers=["BBB", "CCC"])
    assert sorted(set(bars["ticker"])) == ["BBB", "CCC"]
    assert set(bars["date"]) == {dt.date(2024, 7, 8), dt.date(2024, 7, 9)}
    assert bars.height == 4


def test_a_ticker_shard_reads_only_its_tickers_and_columns(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        counts = ticker_rows(conn, "bars", dt.date(2024, 7, 2), END)
        whole = read_window(conn, "bars", START, END)
        shard = read_window(conn, "bars", START, END, columns=["ticker", "close"], tickers=["CCC"])
        none = read_window(conn, "bars", START, END, tickers=[])
    # AAA's first two bars were quarantined: one of them is on 2024-07-02.
    assert counts.rows() == [("AAA", 7), ("BBB", 8), ("CCC", 8)]
    assert shard.columns == ["ticker", "close"]
    assert shard.equals(whole.filter(pl.col("ticker") == "CCC").select("ticker", "close"))
    assert none.height == 0


def test_summaries_count_rows_tickers_and_reasons(store: Path) -> None:
    with open_store(store, read_only=True) as conn:
        summary = {s.table: s for s in summarize_tables(conn)}
        reasons = quarantine_by_reason(conn)
        dupes = duplicate_keys(conn, "bars", ("ticker", "date"), START, END)
    assert summary["bars"].rows == 3 * 9 - 2
    assert summary["bars"].tickers == 3
    assert (summary["bars"].first_date, summary["bars"].last_date) == (START, END)
    assert summary["quarantine"].rows == 2
    assert summary["snapshots"].rows == 0
    assert "reviewed_pairs" not in summary  # a view, not a table
    assert reasons == {"negative_volume": 2}
    assert dupes == 0


def test_bars_can_carry_their_split_ratio(store_path: StorePath) -> None:
    bars = bars_for(["AAA"], START, END).with_columns(
        split_ratio=pl.when(pl.col("date") == dt.date(2024, 7, 8)).then(2.0)
    )
    result = sort_bars(bars, sessions_between(START, END), "t")
    with open_store(store_path) as conn:
        replace_windows(
            conn, {"bars": result.bars, "corporate_actions": result.corporate_actions}, START, END
        )
        plain = read_bars(conn, START, END)
        with_splits = read_bars(conn, START, END, with_splits=True)
    assert "split_ratio" not in plain.columns
    ratios = dict(with_splits.select("date", "split_ratio").iter_rows())
    assert ratios[dt.date(2024, 7, 8)] == 2.0
    assert [d for d, r in ratios.items() if r is not None] == [dt.date(2024, 7, 8)]


def test_warmup_mismatches_compare_flags_with_stored_history(store: Path) -> None:
    with open_store(store) as conn:
        bars = read_bars(conn, START, END)
        features = bars.select(
            "ticker",
            "date",
            (pl.int_range(pl.len()).over("ticker") < 3).alias("warmup"),
        )
        zeros = ("open", "high", "low", "close", "volume", "range", "body", "upper_wick")
        features = features.with_columns(
            *(pl.lit(0.0).alias(name) for name in zeros),
            *(pl.lit(0.0).alias(f"week_{name}") for name in ("open", "high", "low", "volume")),
            pl.lit(0.0).alias("lower_wick"),
            pl.lit(1.0).alias("split_ratio"),
            pl.lit(0.5).alias("close_location"),
            pl.lit(0.5).alias("week_close_location"),
            pl.col("date").alias("week_start"),
            pl.lit(1).alias("week_bars"),
            pl.lit("v").alias("rules_version"),
            pl.lit("h").alias("rules_hash"),
        )
        replace_windows(conn, {"features": features}, START, END)
        assert warmup_mismatches(conn, START, END, 3).height == 0
        wrong = warmup_mismatches(conn, START, END, 4)
    # Each ticker's fourth stored bar (three before it) is warm-up under a four-bar rule.
    assert wrong.select("ticker", "warmup", "bars_before").rows() == [
        ("AAA", False, 3),
        ("BBB", False, 3),
        ("CCC", False, 3),
    ]


def test_a_split_whose_bar_was_quarantined_applies_to_the_next_bar(store_path: StorePath) -> None:
    split_day, next_day = dt.date(2024, 7, 8), dt.date(2024, 7, 9)
    bars = bars_for(["AAA"], START, END).with_columns(
        split_ratio=pl.when(pl.col("date") == split_day).then(2.0),
        volume=pl.when(pl.col("date") == split_day).then(-1.0).otherwise(pl.col("volume")),
    )
    result = sort_bars(bars, sessions_between(START, END), "t")
    assert result.quarantine["date"].to_list() == [split_day]
    with open_store(store_path) as conn:
        replace_windows(
            conn, {"bars": result.bars, "corporate_actions": result.corporate_actions}, START, END
        )
        ratios = read_bars(conn, START, END, with_splits=True).select("date", "split_ratio")
    assert ratios.filter(pl.col("split_ratio").is_not_null()).rows() == [(next_day, 2.0)]


def test_a_ticker_shard_reads_the_splits_of_its_own_tickers(store_path: StorePath) -> None:
    split = pl.when(pl.col("date") == dt.date(2024, 7, 8))
    bars = bars_for(["AAA", "BBB", "CCC"], START, END).with_columns(
        split_ratio=split.then(pl.when(pl.col("ticker") == "AAA").then(2.0).otherwise(3.0))
    )
    result = sort_bars(bars, sessions_between(START, END), "t")
    with open_store(store_path) as conn:
        replace_windows(
            conn, {"bars": result.bars, "corporate_actions": result.corporate_actions}, START, END
        )
        whole = read_bars(conn, START, END, with_splits=True)
        shards = [
            read_bars(conn, START, END, t, with_splits=True) for t in (["AAA", "BBB"], ["CCC"])
        ]
    assert pl.concat(shards).equals(whole)
    assert whole["split_ratio"].drop_nulls().to_list() == [2.0, 3.0, 3.0]
