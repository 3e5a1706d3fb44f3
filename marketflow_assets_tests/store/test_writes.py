import datetime as dt
from pathlib import Path

import duckdb
import polars as pl
import pytest
from deltalake import DeltaTable
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.sources.quality import sort_bars
from marketflow_assets.store import lake
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.lake import Lake
from marketflow_assets.store.reads import missing_sessions, read_bars
from marketflow_assets.store.writes import (
    append_windows,
    clear_windows,
    record_written,
    replace_windows,
)
from marketflow_assets.vpa.events import EVENT_COLUMNS
from marketflow_assets.vpa.features import FEATURE_COLUMNS, ORIGIN_DEPENDENT
from marketflow_assets.vpa.signals import SIGNAL_COLUMNS
from marketflow_assets_tests.frames import bars_for
from marketflow_assets_tests.store.conftest import StorePath

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 31)
SESSIONS = sessions_between(START, END)


def stored(path: Path) -> pl.DataFrame:
    with open_store(path) as conn:
        return read_bars(conn, dt.date(2000, 1, 1), dt.date(2100, 1, 1))


def frames_for(bars: pl.DataFrame) -> dict[str, pl.DataFrame]:
    result = sort_bars(bars, sessions_between(START, END), "test")
    return {
        "bars": result.bars,
        "quarantine": result.quarantine,
        "corporate_actions": result.corporate_actions,
    }


def test_writing_a_window_twice_leaves_identical_rows(store_path: StorePath) -> None:
    path = store_path
    frames = frames_for(bars_for(["AAA", "BBB"], START, END))
    with open_store(path) as conn:
        replace_windows(conn, frames, START, END)
    first = stored(path)
    with open_store(path) as conn:
        replace_windows(conn, frames, START, END)
    assert stored(path).equals(first)
    assert first.height == frames["bars"].height


def test_a_lake_writes_a_long_window_in_runs_of_sessions_with_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lake, "PARTITIONS_PER_COMMIT", 4)
    frames = frames_for(bars_for(["AAA", "BBB"], START, END))
    store = Lake(tmp_path / "lake")
    for _ in range(2):
        with open_store(store) as conn:
            replace_windows(conn, frames, START, END, asset="daily_bars", sessions=SESSIONS)
    written = stored(store)
    assert_frame_equal(written, stored_on_file(tmp_path, frames))
    assert written.height == frames["bars"].height
    # 22 sessions in runs of four: six appends each time, after a delete.
    history = DeltaTable(str(store.table_path("bars"))).history()
    operations = [entry["operation"] for entry in reversed(history)]
    assert operations == ["CREATE TABLE", *["WRITE"] * 6, "DELETE", *["WRITE"] * 6]
    with open_store(store) as conn:
        assert missing_sessions(conn, "daily_bars", SESSIONS) == []


def stored_on_file(tmp_path: Path, frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """The bars of `frames` written to a DuckDB file, as read back."""
    path = tmp_path / "s.duckdb"
    with open_store(path) as conn:
        replace_windows(conn, frames, START, END)
    return stored(path)


def test_a_window_replaces_only_its_own_dates(store_path: StorePath) -> None:
    path = store_path
    with open_store(path) as conn:
        replace_windows(conn, frames_for(bars_for(["AAA"], START, END)), START, END)
        week = (dt.date(2024, 7, 8), dt.date(2024, 7, 12))
        fewer = frames_for(bars_for(["AAA"], *week).with_columns(pl.col("close") + 0.0))
        fewer["bars"] = fewer["bars"].filter(pl.col("date") != dt.date(2024, 7, 10))
        replace_windows(conn, fewer, *week)
    dates = stored(path)["date"].to_list()
    assert dt.date(2024, 7, 10) not in dates
    assert dt.date(2024, 7, 9) in dates
    assert dt.date(2024, 7, 1) in dates
    assert dt.date(2024, 7, 31) in dates


def test_a_failure_mid_write_leaves_the_previous_rows(store_path: StorePath) -> None:
    path = store_path
    with open_store(path) as conn:
        replace_windows(conn, frames_for(bars_for(["AAA"], START, END)), START, END)
    before = stored(path)
    broken = frames_for(bars_for(["AAA", "BBB"], START, END))
    # bars go in first, then quarantine fails on a NOT NULL column: all of it must roll back
    broken["quarantine"] = (
        broken["bars"].head(1).with_columns(pl.lit(None, pl.String).alias("reason"))
    )
    with open_store(path) as conn, pytest.raises(Exception, match="NOT NULL"):
        replace_windows(conn, broken, START, END)
    assert stored(path).equals(before)


def test_rows_outside_the_window_and_unknown_tables_are_refused(store_path: StorePath) -> None:
    frames = frames_for(bars_for(["AAA"], START, END))
    with open_store(store_path) as conn:
        with pytest.raises(ValueError, match=r"outside the window 2024-07-01\.\.2024-07-15"):
            replace_windows(conn, frames, START, dt.date(2024, 7, 15))
        with pytest.raises(ValueError, match="'users' is not a partitioned table"):
            replace_windows(conn, {"users": frames["bars"]}, START, END)


def test_a_window_write_refuses_to_nest_in_a_callers_transaction(tmp_path: Path) -> None:
    store_path = tmp_path / "s.duckdb"  # a lake has no transactions of a caller's to join
    with open_store(store_path) as conn:
        conn.execute("BEGIN TRANSACTION")
        with pytest.raises(duckdb.TransactionException):
            replace_windows(conn, frames_for(bars_for(["AAA"], START, END)), START, END)
        conn.execute("ROLLBACK")
        replace_windows(conn, frames_for(bars_for(["AAA"], START, END)), START, END)
    assert stored(store_path).height == 22  # July 2024 sessions


def test_a_window_write_records_its_sessions_in_the_ledger(store_path: StorePath) -> None:
    sessions = sessions_between(START, END)
    with open_store(store_path) as conn:
        replace_windows(conn, {}, START, END, asset="daily_bars", sessions=sessions)
        replace_windows(conn, {}, START, END, asset="daily_bars", sessions=sessions)
        assert missing_sessions(conn, "daily_bars", sessions) == []
        assert missing_sessions(conn, "vpa_features", sessions[:2]) == sessions[:2]
        later = dt.date(2024, 8, 1)
        assert missing_sessions(conn, "daily_bars", [*sessions, later]) == [later]
        recorded = conn.execute("SELECT count(*) FROM materialized_sessions").fetchone()[0]
    assert recorded == len(sessions)


def test_a_window_written_in_shards_is_unrecorded_until_its_last_step(
    store_path: StorePath,
) -> None:
    sessions = sessions_between(START, END)
    aaa, bbb = (frames_for(bars_for([t], START, END))["bars"] for t in ("AAA", "BBB"))
    with open_store(store_path) as conn:
        replace_windows(conn, {"bars": aaa}, START, END, asset="daily_bars", sessions=sessions)
        clear_windows(conn, ["bars"], START, END, "daily_bars")
        assert missing_sessions(conn, "daily_bars", sessions) == sessions
        assert read_bars(conn, START, END).height == 0
        append_windows(conn, {"bars": bbb}, START, END)
        append_windows(conn, {"bars": aaa}, START, END)
        assert missing_sessions(conn, "daily_bars", sessions) == sessions
        record_written(conn, "daily_bars", START, END, sessions)
        assert missing_sessions(conn, "daily_bars", sessions) == []
        stored_rows = read_bars(conn, START, END)
        with pytest.raises(ValueError, match="outside the window"):
            append_windows(conn, {"bars": aaa}, START, dt.date(2024, 7, 15))
    assert stored_rows.select(aaa.columns).equals(pl.concat([aaa, bbb]))


def test_the_vpa_tables_hold_every_stored_feature_column(store_path: StorePath) -> None:
    with open_store(store_path) as conn:
        columns = {
            table: list(conn.sql(f"SELECT * FROM {table} LIMIT 0").columns)
            for table in ("features", "events", "signals")
        }
    assert columns["features"] == [c for c in FEATURE_COLUMNS if c not in ORIGIN_DEPENDENT]
    assert columns["events"] == list(EVENT_COLUMNS)
    assert columns["signals"] == list(SIGNAL_COLUMNS)
