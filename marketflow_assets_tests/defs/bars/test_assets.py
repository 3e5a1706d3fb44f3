"""`daily_bars` through real Dagster runs on a real temporary DuckDB file."""

import datetime as dt
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.bars.assets import BAR_ROW_BYTES
from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.runs.launch import RANGE_END_TAG, RANGE_START_TAG
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.settings import Settings
from marketflow_assets.sources.files import FilesSource
from marketflow_assets.sources.ingest import ingest_chunks
from marketflow_assets_tests.defs.built import bar_sanity, bars_unique_keys, daily_bars
from marketflow_assets_tests.frames import bars_for

START, END = dt.date(2024, 7, 1), dt.date(2024, 7, 12)
NOW = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


@pytest.fixture
def files_settings(tmp_path: Path) -> Settings:
    """A files source with two clean tickers, one bad row and one exact duplicate."""
    folder = tmp_path / "incoming"
    folder.mkdir()
    bars = bars_for(["AAA", "BBB"], START, END)
    is_bad = (pl.col("ticker") == "BBB") & (pl.col("date") == dt.date(2024, 7, 9))
    bars = pl.concat([bars, bars.head(1)]).with_columns(
        pl.when(is_bad).then(pl.col("low") * 0.5).otherwise(pl.col("high")).alias("high")
    )
    bars.write_parquet(folder / "universe.parquet")
    return Settings.from_env(
        {
            "MARKETFLOW_DATA_DIR": str(tmp_path / "data"),
            "MARKETFLOW_SOURCE": "files",
            "MARKETFLOW_FILES_DIR": str(folder),
        }
    )


def materialize_range(
    settings: Settings, instance: dg.DagsterInstance, start: str, end: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily_bars, bar_sanity, bars_unique_keys],
        resources=resources_from_settings(settings),
        instance=instance,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
    )


def materialize_session(
    settings: Settings, instance: dg.DagsterInstance, session: str
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [daily_bars],
        resources=resources_from_settings(settings),
        instance=instance,
        partition_key=session,
        raise_on_error=False,
    )


def table(settings: Settings, name: str) -> pl.DataFrame:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        return conn.sql(f"SELECT * FROM {name} ORDER BY ALL").pl()


def test_a_range_run_stores_good_bars_and_quarantines_bad_ones(
    files_settings: Settings, instance: dg.DagsterInstance
) -> None:
    result = materialize_range(files_settings, instance, "2024-07-01", "2024-07-12")
    assert result.success
    bars = table(files_settings, "bars")
    assert bars.height == 2 * 9 - 1
    assert bars["source"].unique().to_list() == ["files"]
    quarantine = table(files_settings, "quarantine")
    assert sorted(quarantine["reason"].to_list()) == [
        "duplicate_key",
        "high_below_low, open_outside_range, close_outside_range",
    ]

    materializations = result.asset_materializations_for_node("daily_bars")
    assert {m.partition for m in materializations} == {
        "2024-07-01",
        "2024-07-02",
        "2024-07-03",
        "2024-07-05",
        "2024-07-08",
        "2024-07-09",
        "2024-07-10",
        "2024-07-11",
        "2024-07-12",
    }
    metadata = materializations[0].metadata
    assert metadata["rows"].value == 17
    assert metadata["quarantined"].value == 2
    assert metadata["quarantined_by_reason"].value["duplicate_key"] == 1
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"bar_sanity": True, "bars_unique_keys": True}


def test_materialising_the_same_window_twice_gives_identical_rows(
    files_settings: Settings, instance: dg.DagsterInstance
) -> None:
    assert materialize_range(files_settings, instance, "2024-07-01", "2024-07-12").success
    first = {
        name: table(files_settings, name) for name in ("bars", "quarantine", "corporate_actions")
    }
    assert materialize_range(files_settings, instance, "2024-07-01", "2024-07-12").success
    second = {
        name: table(files_settings, name) for name in ("bars", "quarantine", "corporate_actions")
    }
    for name, frame in first.items():
        assert second[name].equals(frame), name


def test_a_single_partition_run_replaces_only_that_session(
    files_settings: Settings, instance: dg.DagsterInstance
) -> None:
    assert materialize_session(files_settings, instance, "2024-07-10").success
    assert table(files_settings, "bars")["date"].unique().to_list() == [dt.date(2024, 7, 10)]


def test_a_session_without_bars_is_materialised_empty_and_reported(
    files_settings: Settings, instance: dg.DagsterInstance
) -> None:
    # The sample lacks whole sessions too; such a partition must still count as materialised.
    result = materialize_session(files_settings, instance, "2024-08-01")
    assert result.success
    metadata = result.asset_materializations_for_node("daily_bars")[0].metadata
    assert metadata["rows"].value == 0
    assert metadata["sessions_without_bars"].value == ["2024-08-01"]
    assert table(files_settings, "bars").height == 0


def test_a_malformed_file_fails_the_run_naming_it(
    files_settings: Settings, instance: dg.DagsterInstance
) -> None:
    assert files_settings.files_dir is not None
    (files_settings.files_dir / "broken.csv").write_text("date,open\n2024-07-10,1\n")
    result = materialize_session(files_settings, instance, "2024-07-10")
    assert not result.success
    [reason] = failure_reasons(result)
    assert reason.startswith("daily_bars: ")
    assert "broken.csv: missing column(s) high, low, close, volume" in reason


def test_sample_source_fills_a_week_of_real_bars(
    settings: Settings, instance: dg.DagsterInstance
) -> None:
    result = materialize_range(settings, instance, "2010-01-04", "2010-01-08")
    assert result.success
    bars = table(settings, "bars")
    assert bars["date"].n_unique() == 5
    assert bars["ticker"].n_unique() > 480


def test_a_small_memory_budget_ingests_in_chunks_with_the_same_rows(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """1 MiB cuts six weeks of 200 tickers into chunks of sessions; the rows are the same."""
    start, end = dt.date(2024, 2, 1), dt.date(2024, 3, 15)
    folder = tmp_path / "incoming"
    folder.mkdir()
    bars = bars_for([f"T{i:03d}" for i in range(200)], start, end)
    saturday = bars.head(1).with_columns(date=pl.lit(dt.date(2024, 3, 9)))
    bad = bars.slice(2_000, 1).with_columns(high=pl.col("low") * 0.5)
    pl.concat([bars, saturday, bad, bars.slice(4_000, 1)]).write_parquet(folder / "u.parquet")
    env = {"MARKETFLOW_SOURCE": "files", "MARKETFLOW_FILES_DIR": str(folder)}
    whole = Settings.from_env({**env, "MARKETFLOW_DATA_DIR": str(tmp_path / "whole")})
    small = Settings.from_env(
        {**env, "MARKETFLOW_DATA_DIR": str(tmp_path / "small"), "MARKETFLOW_MEMORY_MIB": "1"}
    )
    chunk_rows = (1 << 20) // BAR_ROW_BYTES
    sessions = sessions_between(start, end)
    assert len(list(ingest_chunks(FilesSource(folder), None, sessions, NOW, chunk_rows))) > 3

    for settings in (whole, small, small):
        assert materialize_range(settings, instance, start.isoformat(), end.isoformat()).success

    for name in ("bars", "quarantine", "corporate_actions", "materialized_sessions"):
        assert_frame_equal(table(small, name), table(whole, name), check_exact=True)
    # The Saturday, the exact copy and both rows of the key whose copies disagree.
    assert table(small, "quarantine").height == 4
