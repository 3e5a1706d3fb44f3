"""`vpa_features` and `vpa_signals` through real Dagster runs on a real temporary DuckDB file."""

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.defs.vpa.assets import FEATURE_ROW_BYTES, SIGNAL_ROW_BYTES
from marketflow_assets.runs.launch import RANGE_END_TAG, RANGE_START_TAG
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.settings import Settings
from marketflow_assets_tests.defs.built import (
    daily_bars,
    features_unique_keys,
    signals_unique_keys,
    vpa_features,
    vpa_signals,
    warmup_coverage,
)
from marketflow_assets_tests.defs.stores import copy_of

CHECKS = [warmup_coverage, features_unique_keys, signals_unique_keys]
ASSETS = [daily_bars, vpa_features, vpa_signals, *CHECKS]
VPA = [vpa_features, vpa_signals, *CHECKS]
TABLES = {"features": "ticker, date", "events": "ticker, date, rule_id", "signals": "ticker, date"}
# Twenty sample tickers: enough rows for a few ticker shards at 1 MiB.
TICKERS = "AAPL,JPM,XOM,MSFT,A,AA,ABC,ABT,ADBE,ADI,ADM,ADP,ADSK,AEE,AEP,AES,AET,AFL,AIG,ALL"
FIRST = dt.date(2009, 8, 21)


def sample_settings(tmp_path: Path, name: str) -> Settings:
    """The offline sample, twenty tickers, a store of its own."""
    return Settings.from_env(
        {
            "MARKETFLOW_DATA_DIR": str(tmp_path / name),
            "MARKETFLOW_TICKERS": TICKERS,
        }
    )


def run(
    settings: Settings,
    instance: dg.DagsterInstance,
    start: str,
    end: str,
    selection: list | None = None,
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        ASSETS,
        selection=selection,
        resources=resources_from_settings(settings),
        instance=instance,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        raise_on_error=False,
    )


def tables(settings: Settings) -> dict[str, pl.DataFrame]:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        return {
            name: conn.sql(f"SELECT * FROM {name} ORDER BY {key}").pl()
            for name, key in TABLES.items()
        }


@dataclass(frozen=True)
class WholeRun:
    settings: Settings
    result: dg.ExecuteInProcessResult
    tables: dict[str, pl.DataFrame]


@pytest.fixture(scope="module")
def whole(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WholeRun]:
    """Bars, features and signals of 2009-08-21..2010-02-26 materialised in one run."""
    tmp_path = tmp_path_factory.mktemp("whole")
    settings = sample_settings(tmp_path, "store")
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        result = run(settings, instance, "2009-08-21", "2010-02-26")
        assert result.success
        yield WholeRun(settings, result, tables(settings))


def test_consecutive_windows_store_the_same_rows_as_one_range(
    whole: WholeRun, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    expected = whole.tables
    with duckdb.connect(str(whole.settings.duckdb_path), read_only=True) as conn:
        bars = conn.execute("SELECT count(*) FROM bars").fetchone()[0]
    assert expected["features"].height == expected["signals"].height == bars
    assert expected["events"].height > 0
    assert set(expected["signals"]["signal"]) == {"BUY", "SELL", "HOLD"}

    windows = sample_settings(tmp_path, "windows")
    assert run(windows, instance, "2009-08-21", "2010-02-26", selection=[daily_bars]).success
    assert run(windows, instance, "2009-08-21", "2009-12-31", selection=VPA).success
    assert run(windows, instance, "2010-01-04", "2010-02-26", selection=VPA).success
    for name, frame in tables(windows).items():
        assert_frame_equal(frame, expected[name], check_exact=True)

    assert run(windows, instance, "2010-01-04", "2010-02-26", selection=VPA).success
    for name, frame in tables(windows).items():
        assert_frame_equal(frame, expected[name], check_exact=True)


def test_metadata_counts_events_by_rule_and_signals_by_strength(whole: WholeRun) -> None:
    materialisations = whole.result.asset_materializations_for_node("vpa_signals")
    metadata = materialisations[-1].metadata
    by_rule = metadata["events_by_rule"].value
    assert sum(by_rule.values()) == whole.tables["events"].height
    assert len(by_rule) == 12
    by_signal = metadata["signals_by_type_and_strength"].value
    assert sum(by_signal.values()) == whole.tables["signals"].height
    checks = whole.result.get_asset_check_evaluations()
    assert {c.check_name: c.passed for c in checks} == {
        "warmup_coverage": True,
        "features_unique_keys": True,
        "signals_unique_keys": True,
    }


def test_a_window_without_its_history_fails_naming_the_sessions(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = sample_settings(tmp_path, "store")
    assert run(settings, instance, "2010-01-04", "2010-01-08", selection=[daily_bars]).success
    result = run(settings, instance, "2010-01-04", "2010-01-08", selection=VPA)
    assert not result.success
    reasons = " ".join(failure_reasons(result))
    assert "daily_bars has not been materialised for" in reasons
    assert "2009-08-21" in reasons
    assert tables(settings)["features"].height == 0


@pytest.mark.parametrize("selection", [[vpa_features], [vpa_signals]])
def test_each_vpa_asset_refuses_to_run_before_its_upstream(
    tmp_path: Path, instance: dg.DagsterInstance, selection: list
) -> None:
    settings = sample_settings(tmp_path, "store")
    result = run(settings, instance, "2009-08-21", "2009-08-28", selection=selection)
    assert not result.success
    assert "has not been materialised for" in " ".join(failure_reasons(result))


def test_a_small_memory_budget_computes_in_ticker_shards_with_the_same_rows(
    whole: WholeRun, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """1 MiB cuts the tickers into shards of a few; rerun over the stored window, the shards
    give the rows of one shard, none twice."""
    settings = copy_of(whole.settings, tmp_path / "copy", memory_mib=1)
    window = RunWindow(dt.date(2009, 8, 21), dt.date(2010, 2, 26), FIRST)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        bars = window.shards(conn, "bars", window.start, FEATURE_ROW_BYTES, 1)
        features = window.shards(conn, "features", window.start, SIGNAL_ROW_BYTES, 1)
    assert len(bars) > 2
    assert len(features) > 2
    assert [t for shard in bars for t in shard] == sorted(TICKERS.split(","))

    result = run(settings, instance, "2009-08-21", "2010-02-26", selection=VPA)

    assert result.success, failure_reasons(result)
    assert all(c.passed for c in result.get_asset_check_evaluations())
    for name, frame in tables(settings).items():
        assert_frame_equal(frame, whole.tables[name], check_exact=True)
