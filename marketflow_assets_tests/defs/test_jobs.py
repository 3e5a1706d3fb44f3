"""The evening schedule, evaluated through Dagster's own schedule context."""

import datetime as dt
from zoneinfo import ZoneInfo

import dagster as dg
import pytest

from marketflow_assets.defs.jobs import daily_pipeline, evening_schedule

NEW_YORK = ZoneInfo("America/New_York")


def tick(instance: dg.DagsterInstance, when: dt.datetime) -> list[dg.RunRequest]:
    context = dg.build_schedule_context(instance=instance, scheduled_execution_time=when)
    return list(evening_schedule.evaluate_tick(context).run_requests or [])


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
    assert evening_schedule.job_name == daily_pipeline.name
    assert evening_schedule.cron_schedule == "30 18 * * *"
    assert evening_schedule.execution_timezone == "America/New_York"
