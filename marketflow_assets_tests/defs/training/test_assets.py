"""Snapshots, pairs and the export through real Dagster runs on a real temporary DuckDB file."""

import dataclasses
import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.definitions import build_definitions
from marketflow_assets.defs.resources import resources_from_settings
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.defs.training.checks import LINT_ROW_BYTES
from marketflow_assets.runs.launch import RANGE_END_TAG, RANGE_START_TAG
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.settings import Settings
from marketflow_assets.store import reviews
from marketflow_assets.training.snapshots import load_snapshot
from marketflow_assets.validation.forward_window import matured_days
from marketflow_assets.vpa import load_rules
from marketflow_assets_tests.defs.built import (
    analysis_snapshots,
    daily_bars,
    pairs_unique_keys,
    signal_calibration,
    signal_outcomes,
    snapshots_unique_keys,
    template_lint,
    training_dataset,
    training_pairs,
    vpa_features,
    vpa_signals,
)
from marketflow_assets_tests.defs.stores import copy_of

TRAINING = [analysis_snapshots, training_pairs, snapshots_unique_keys, pairs_unique_keys]
ANALYSIS = [daily_bars, vpa_features, vpa_signals]
ASSETS = [*ANALYSIS, signal_outcomes, signal_calibration, *TRAINING, template_lint]
START, END = "2009-08-21", "2010-04-30"
FIRST = dt.date(2009, 8, 21)  # the first partition
# The last session whose forward window ends by END: outcomes are scored up to it.
SCORED_END = matured_days(
    sessions_between(dt.date.fromisoformat(START), dt.date.fromisoformat(END)),
    sessions_between(dt.date.fromisoformat(START), dt.date.fromisoformat(END)),
    load_rules().outcomes.window_days,
)[-1].isoformat()


def sample_settings(tmp_path: Path, name: str) -> Settings:
    """The offline sample, four tickers, a store of its own; pairs rendered and linted by two
    worker processes."""
    return Settings.from_env(
        {
            "MARKETFLOW_DATA_DIR": str(tmp_path / name),
            "MARKETFLOW_TICKERS": "AAPL,JPM,XOM,MSFT",
            "MARKETFLOW_WORKERS": "2",
        }
    )


def rebuilt(settings: Settings, items: list[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """`items` (assets and checks) as the definitions of `settings` build them, with its
    workers and memory budget."""
    defs = build_definitions(settings)
    built = {(frozenset(d.keys), frozenset(d.check_keys)): d for d in defs.assets or []}
    built |= {(frozenset(), frozenset(c.check_keys)): c for c in defs.asset_checks or []}
    return [built[frozenset(i.keys), frozenset(i.check_keys)] for i in items]


def run(
    settings: Settings, instance: dg.DagsterInstance, start: str, end: str, selection: list
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        rebuilt(settings, [*ASSETS, training_dataset]),
        selection=selection,
        resources=resources_from_settings(settings),
        instance=instance,
        tags={RANGE_START_TAG: start, RANGE_END_TAG: end},
        raise_on_error=False,
    )


def table(settings: Settings, name: str, order: str) -> pl.DataFrame:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        return conn.sql(f"SELECT * FROM {name} ORDER BY {order}").pl()


@dataclass(frozen=True)
class Stored:
    settings: Settings
    result: dg.ExecuteInProcessResult
    snapshots: pl.DataFrame
    pairs: pl.DataFrame


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """Bars to training pairs of the four tickers, 2009-08-21..2010-04-30, in the runs of a
    staged backfill: bars to signals, matured outcomes, then calibration to pairs."""
    tmp_path = tmp_path_factory.mktemp("stored")
    settings = sample_settings(tmp_path, "store")
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        for start, end, selection in (
            (START, END, ANALYSIS),
            (START, SCORED_END, [signal_outcomes]),
        ):
            earlier = run(settings, instance, start, end, selection)
            assert earlier.success, failure_reasons(earlier)
        result = run(settings, instance, START, END, [signal_calibration, *TRAINING, template_lint])
        assert result.success, failure_reasons(result)
        yield Stored(
            settings,
            result,
            table(settings, "snapshots", "snapshot_id"),
            table(settings, "training_pairs", "pair_id"),
        )


def test_one_snapshot_per_signal_with_its_columns_extracted(stored: Stored) -> None:
    signals = table(stored.settings, "signals", "ticker, date")
    snapshots = stored.snapshots.sort("ticker", "as_of")
    assert snapshots.height == signals.height
    assert snapshots["snapshot_id"].n_unique() == snapshots.height
    assert snapshots["ticker"].to_list() == signals["ticker"].to_list()
    assert snapshots["as_of"].to_list() == signals["date"].to_list()
    assert snapshots["signal"].to_list() == signals["signal"].to_list()
    assert snapshots["confidence"].to_list() == signals["confidence"].to_list()
    for row in snapshots.sample(20, seed=1).iter_rows(named=True):
        document = load_snapshot(row["payload"])
        assert (document["ticker"], document["as_of"]) == (row["ticker"], str(row["as_of"]))
        assert [e["rule"] for e in document["events"]] == row["events"]


def test_pairs_cover_the_selected_sessions_and_every_check_passes(stored: Stored) -> None:
    pairs = stored.pairs
    assert pairs.height > 0
    assert set(pairs["snapshot_id"]) <= set(stored.snapshots["snapshot_id"])
    eventful = stored.snapshots.filter(
        ~pl.col("warmup") & ((pl.col("events").list.len() > 0) | (pl.col("signal") != "HOLD"))
    )
    assert set(eventful["snapshot_id"]) <= set(pairs["snapshot_id"])
    warmup = stored.snapshots.filter(pl.col("warmup"))
    assert warmup.height > 0
    assert warmup.join(pairs, on="snapshot_id", how="semi").height == 0
    checks = {c.check_name: c.passed for c in stored.result.get_asset_check_evaluations()}
    assert checks == {
        "snapshots_unique_keys": True,
        "pairs_unique_keys": True,
        "template_lint": True,
    }
    metadata = stored.result.asset_materializations_for_node("training_pairs")[-1].metadata
    assert sum(metadata["by_conversation_type"].value.values()) == pairs.height


def test_rerunning_a_window_keeps_rows_and_reviews(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = copy_of(stored.settings, tmp_path / "copy")
    pair_id = stored.pairs.filter(pl.col("as_of") >= pl.date(2010, 3, 1))["pair_id"][0]
    with duckdb.connect(str(settings.duckdb_path)) as conn:
        reviews.approve(conn, pair_id, reviewer="analyst")

    assert run(settings, instance, "2010-03-01", END, TRAINING).success
    assert run(settings, instance, "2010-03-01", END, TRAINING).success

    assert_frame_equal(table(settings, "snapshots", "snapshot_id"), stored.snapshots)
    assert_frame_equal(table(settings, "training_pairs", "pair_id"), stored.pairs)
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        assert reviews.get_pair(conn, pair_id)["review_status"] == "approved"


def test_a_small_memory_budget_in_one_process_writes_the_rows_of_one_chunk(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    """1 MiB cuts the window into chunks of a few sessions, rendered and linted in this process;
    the rows, the run's counts and the lint's findings are those of one chunk and two workers."""
    settings = copy_of(stored.settings, tmp_path / "copy", memory_mib=1, workers=1)
    with duckdb.connect(str(settings.duckdb_path)) as conn:
        conn.execute("DELETE FROM snapshots; DELETE FROM training_pairs")
    names = {"analysis_snapshots", "training_pairs"}
    window = RunWindow(dt.date.fromisoformat(START), dt.date.fromisoformat(END), FIRST)
    assert len(window.chunks(stored.snapshots.height, LINT_ROW_BYTES, 1)) > 5

    result = dg.materialize(
        rebuilt(settings, [analysis_snapshots, training_pairs, template_lint]),
        resources=resources_from_settings(settings),
        instance=instance,
        tags={RANGE_START_TAG: START, RANGE_END_TAG: END},
        raise_on_error=False,
    )

    assert result.success, failure_reasons(result)
    assert_frame_equal(table(settings, "snapshots", "snapshot_id"), stored.snapshots)
    assert_frame_equal(table(settings, "training_pairs", "pair_id"), stored.pairs)
    for node in names:
        assert counted(result, node) == counted(stored.result, node)
    [check] = result.get_asset_check_evaluations()
    [stored_check] = [
        c for c in stored.result.get_asset_check_evaluations() if c.check_name == "template_lint"
    ]
    assert check.passed
    assert check.metadata == stored_check.metadata
    assert check.metadata["pairs"].value == stored.pairs.height


def counted(result: dg.ExecuteInProcessResult, node: str) -> dict[str, object]:
    """The metadata of `node`'s last materialisation, but for its speed."""
    metadata = result.asset_materializations_for_node(node)[-1].metadata
    return {k: v.value for k, v in metadata.items() if k != "pairs_per_second"}


def test_snapshots_refuse_a_window_without_signals(
    tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = sample_settings(tmp_path, "store")
    result = run(settings, instance, "2009-08-21", "2009-08-28", [analysis_snapshots])
    assert not result.success
    assert "vpa_signals has not been materialised for" in " ".join(failure_reasons(result))


def test_a_broken_template_fails_the_run_naming_file_and_line(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(stored.settings.templates_dir, templates)
    source = (templates / "risk_assessment.j2").read_text()
    (templates / "risk_assessment.j2").write_text("{% if %}\n" + source)
    settings = dataclasses.replace(stored.settings, templates_dir=templates)
    result = run(settings, instance, "2010-04-01", END, [training_pairs])
    assert not result.success
    assert "risk_assessment.j2, line 1" in " ".join(failure_reasons(result))


def test_a_template_error_in_a_worker_fails_the_run_naming_file_and_line(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(stored.settings.templates_dir, templates)
    lines = (templates / "risk_assessment.j2").read_text().splitlines()
    at = next(i for i, text in enumerate(lines) if text.startswith("{% block assistant %}"))
    lines.insert(at + 1, "{{ no_such }}")
    (templates / "risk_assessment.j2").write_text("\n".join(lines) + "\n")
    settings = dataclasses.replace(stored.settings, templates_dir=templates)
    result = run(settings, instance, "2010-04-01", END, [training_pairs])
    assert not result.success
    assert f"risk_assessment.j2, line {at + 2}: UndefinedError" in " ".join(failure_reasons(result))


def test_export_asset_writes_the_dataset_and_records_it(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = dataclasses.replace(stored.settings, data_dir=tmp_path / "data")
    result = dg.materialize(
        [training_dataset],
        resources=resources_from_settings(settings),
        instance=instance,
        run_config={"ops": {"training_dataset": {"config": {"name": "four", "max_similar": 5}}}},
        raise_on_error=False,
    )
    assert result.success, failure_reasons(result)
    folder = tmp_path / "data" / "exports" / "four"
    manifest = json.loads((folder / "manifest.json").read_text())
    metadata = result.asset_materializations_for_node("training_dataset")[-1].metadata
    assert metadata["manifest_sha256"].value == manifest_sha(folder)
    with duckdb.connect(str(stored.settings.duckdb_path), read_only=True) as conn:
        row = conn.sql("SELECT * FROM exports WHERE name = 'four'").pl().row(0, named=True)
    assert row["train_rows"] == metadata["train_rows"].value > 0
    assert row["path"] == str(folder)
    assert manifest


def manifest_sha(folder: Path) -> str:
    return hashlib.sha256((folder / "manifest.json").read_bytes()).hexdigest()


def test_export_refuses_a_name_with_a_path(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    result = dg.materialize(
        [training_dataset],
        resources=resources_from_settings(stored.settings),
        instance=instance,
        run_config={"ops": {"training_dataset": {"config": {"name": "../elsewhere"}}}},
        raise_on_error=False,
    )
    assert not result.success
    assert "export name '../elsewhere' refused" in " ".join(failure_reasons(result))
