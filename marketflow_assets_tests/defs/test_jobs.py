"""The evening schedule, evaluated through Dagster's own schedule context."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from marketflow_assets.definitions import build_definitions
from marketflow_assets.settings import Settings

NEW_YORK = ZoneInfo("America/New_York")
# Partitions from 2023: the evenings below fall inside them whatever the default start date.
DEFS = build_definitions(Settings.from_env({"MARKETFLOW_START_DATE": "2023-12-01"}))
EVENING = DEFS.resolve_schedule_def("daily_pipeline_evening")


def tick(instance: dg.DagsterInstance, when: dt.datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return list(EVENING.evaluate_tick(context).run_requests or [])


@pytest.mark.parametrize(
    ("evening", "session"),
    [
        (dt.datetime(2024, 7, 3, 18, 30, tzinfo=NEW_YORK), "2024-07-03"),  # half day
        (dt.datetime(2024, 7, 5, 18, 30, tzinfo=NEW_YORK), "2024-07-05"),
        (dt.datetime(2024, 7, 8, 18, 30, tzinfo=NEW_YORK), "2024-07-08"),
    ],
)
def test_each_session_evening_runs_the_session_that_just_closed(
    instance: dg.DagsterInstance, evening: dt.datetime, session: str
) -> None:
    assert [r.partition_key for r in tick(instance, evening)] == [session]


@pytest.mark.parametrize(
    "evening",
    [
        dt.datetime(2024, 7, 4, 18, 30, tzinfo=NEW_YORK),  # Independence Day
        dt.datetime(2024, 7, 6, 18, 30, tzinfo=NEW_YORK),  # Saturday
        dt.datetime(2024, 7, 7, 18, 30, tzinfo=NEW_YORK),  # Sunday
    ],
)
def test_no_run_on_evenings_without_a_session(
    instance: dg.DagsterInstance, evening: dt.datetime
) -> None:
    assert tick(instance, evening) == []


def test_schedule_runs_the_partitioned_pipeline_in_new_york_time() -> None:
    assert EVENING.job_name == "daily_pipeline"
    assert EVENING.cron_schedule == "30 18 * * *"
    assert EVENING.execution_timezone == "America/New_York"


def test_the_evening_job_holds_every_asset_tagged_for_it() -> None:
    job = DEFS.resolve_job_def("daily_pipeline")
    assert {key.path[0] for key in job.asset_layer.executable_asset_keys} == {
        "daily_bars",
        "vpa_features",
        "vpa_signals",
        "signal_calibration",
        "analysis_snapshots",
        "training_pairs",
    }
    assert job.partitions_def.get_first_partition_key() == "2023-12-01"
