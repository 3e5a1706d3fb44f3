"""`run_job` reports each step's states and its log lines while the run goes on."""

from __future__ import annotations

import dagster as dg

from marketflow_assets.runs.launch import StepUpdate, run_job
from marketflow_assets_tests.runs.ranged import JOB, RANGE, ranged_defs


def test_steps_report_their_states_and_log_lines(instance: dg.DagsterInstance) -> None:
    updates: list[StepUpdate] = []
    result = run_job(ranged_defs(fail=False), JOB, instance, tags=RANGE, on_step=updates.append)
    assert result.success
    first = [(u.state, u.message) for u in updates if u.step == "first"]
    assert first[0] == ("start", "")
    assert ("log", "first: 4 sessions") in first
    assert first[-1] == ("success", "")
    assert [u.state for u in updates if u.step == "second"] == ["start", "success"]
