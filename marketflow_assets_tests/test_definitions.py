"""The code location loads, passes Dagster's own validation, and fails clearly on bad settings."""

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from marketflow_assets.definitions import area_modules, build_definitions
from marketflow_assets.settings import PROJECT_ROOT, Settings

DAGSTER = Path(sys.executable).parent / "dagster"


def test_every_area_folder_is_picked_up() -> None:
    names = [module.__name__.split(".")[-2] for module in area_modules()]
    assert names == ["bars", "bookkeeping", "evening", "exports", "training", "validation", "vpa"]


def test_defs_hold_the_assets_checks_jobs_schedule_and_sensor(settings: Settings) -> None:
    defs = build_definitions(settings)
    graph = defs.resolve_asset_graph()
    assert {key.path[0] for key in graph.get_all_asset_keys()} == {
        "daily_bars",
        "vpa_features",
        "vpa_signals",
        "analysis_snapshots",
        "training_pairs",
        "training_dataset",
        "signal_outcomes",
        "signal_calibration",
        "signal_scorecard",
    }
    checks = {key.name for key in graph.asset_check_keys}
    assert checks == {
        "bar_sanity",
        "bars_unique_keys",
        "warmup_coverage",
        "features_unique_keys",
        "signals_unique_keys",
        "snapshots_unique_keys",
        "pairs_unique_keys",
        "template_lint",
        "outcomes_unique_keys",
        "calibration_unique_keys",
    }
    assert defs.resolve_job_def("daily_pipeline").partitions_def is not None
    assert defs.resolve_job_def("score_outcomes").partitions_def is not None
    assert defs.resolve_job_def("scorecard").partitions_def is None
    assert defs.resolve_sensor_def("outcomes_sensor").job_name == "score_outcomes"
    assert defs.resolve_job_def("export_training_dataset").partitions_def is None
    assert defs.resolve_schedule_def("daily_pipeline_evening") is not None
    assets = defs.resolve_assets_def("daily_bars")
    assert assets.backfill_policy == dg.BackfillPolicy.single_run()
    assert assets.op.pool == "duckdb"


def validate(tmp_path: Path, target: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    """`dagster definitions validate` on `target` with a temporary home and store."""
    return subprocess.run(
        [str(DAGSTER), "definitions", "validate", *target],
        cwd=PROJECT_ROOT,
        env={
            **os.environ,
            "DAGSTER_HOME": str(tmp_path),
            "MARKETFLOW_DUCKDB": str(tmp_path / "s.duckdb"),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_dagster_definitions_validate_passes(tmp_path: Path) -> None:
    done = validate(tmp_path, ["-w", "workspace.yaml"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Validation successful" in done.stdout + done.stderr


def test_bad_settings_fail_the_code_location_with_the_variable_named(tmp_path: Path) -> None:
    done = validate(
        tmp_path, ["-m", "marketflow_assets.definitions"], MARKETFLOW_SOURCE="bloomberg"
    )
    assert done.returncode != 0
    assert "MARKETFLOW_SOURCE='bloomberg' is not a known source" in done.stdout + done.stderr


def test_partitions_follow_the_settings_passed_not_the_environment(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The start date given to `build_definitions` is the first partition of every partitioned
    asset, check and job, even with another start date in the environment."""
    monkeypatch.setenv("MARKETFLOW_START_DATE", "2015-01-02")
    defs = build_definitions(Settings.from_env({"MARKETFLOW_START_DATE": "2024-01-01"}))
    firsts = {
        assets.partitions_def.get_first_partition_key()
        for assets in defs.assets or []
        if isinstance(assets, dg.AssetsDefinition) and assets.partitions_def is not None
    }
    firsts |= {check.partitions_def.get_first_partition_key() for check in defs.asset_checks or []}
    firsts.add(defs.resolve_job_def("daily_pipeline").partitions_def.get_first_partition_key())
    assert firsts == {"2024-01-02"}
    assert (
        build_definitions(settings)
        .resolve_job_def("score_outcomes")
        .partitions_def.get_first_partition_key()
        == dt.date(2009, 8, 21).isoformat()
    )


def test_importing_the_code_location_reads_no_setting(tmp_path: Path) -> None:
    """A bad setting fails the load of the code location, not the import of the module."""
    done = subprocess.run(
        [sys.executable, "-c", "import marketflow_assets.definitions"],
        env={**os.environ, "MARKETFLOW_SOURCE": "bloomberg"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
