"""A failed range run marks its sessions failed under the bookkeeping settings too."""

from __future__ import annotations

import os

import dagster as dg
import pytest

from marketflow_assets.runs.failures import mark_failed_partitions
from marketflow_assets.runs.instance import BOOKKEEPING_ENV
from marketflow_assets.runs.launch import run_job
from marketflow_assets_tests.runs.ranged import JOB, RANGE, RANGE_KEYS, ranged_defs, statuses


@pytest.fixture(autouse=True)
def bookkeeping(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in BOOKKEEPING_ENV.items():
        monkeypatch.setenv(name, value)


def test_without_the_workaround_dagster_forgets_the_failure(instance: dg.DagsterInstance) -> None:
    result = (
        ranged_defs(fail=True)
        .resolve_job_def(JOB)
        .execute_in_process(instance=instance, tags=RANGE, raise_on_error=False)
    )
    assert not result.success
    assert statuses(instance, "first") == {}


def test_run_job_marks_a_failed_runs_sessions_failed(instance: dg.DagsterInstance) -> None:
    result = run_job(ranged_defs(fail=True), JOB, instance, tags=RANGE)
    assert not result.success
    failed = dict.fromkeys(RANGE_KEYS, "FAILED")
    assert statuses(instance, "first") == failed
    assert statuses(instance, "second") == failed
    assert mark_failed_partitions(instance, result.run_id) == 0


def test_a_successful_run_is_left_alone(instance: dg.DagsterInstance) -> None:
    result = run_job(ranged_defs(fail=False), JOB, instance, tags=RANGE)
    assert result.success
    assert mark_failed_partitions(instance, result.run_id) == 0
    assert statuses(instance, "second") == dict.fromkeys(RANGE_KEYS, "MATERIALIZED")


def test_a_later_success_clears_the_failure(instance: dg.DagsterInstance) -> None:
    run_job(ranged_defs(fail=True), JOB, instance, tags=RANGE)
    assert run_job(ranged_defs(fail=False), JOB, instance, tags=RANGE).success
    assert statuses(instance, "first") == dict.fromkeys(RANGE_KEYS, "MATERIALIZED")


def test_the_settings_are_those_of_the_suite() -> None:
    assert {name: os.environ[name] for name in BOOKKEEPING_ENV} == BOOKKEEPING_ENV
