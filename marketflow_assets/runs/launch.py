"""Launching recorded runs in-process on the project's instance, with each step's progress."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from marketflow_assets.runs.failures import mark_failed_partitions
from marketflow_assets.runs.plan import Stage

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
STEP_EVENTS = {
    dg.DagsterEventType.STEP_START,
    dg.DagsterEventType.STEP_SUCCESS,
    dg.DagsterEventType.STEP_FAILURE,
    dg.DagsterEventType.STEP_SKIPPED,
}
# Dagster's console logger prints every error with its whole trace; a run launched from the
# command line reports its failure in one line instead, and the trace stays in the run's log.
CONSOLE_LOG_LEVEL = "CRITICAL"


@dataclass(frozen=True)
class StepUpdate:
    """One step of a run changed state (started, succeeded, failed or was skipped: `state` is
    "start", "success", "failure" or "skipped"), or logged a line (`state` "log", `message`)."""

    step: str
    state: str
    at: float
    message: str = ""


def run_job(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    *,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    on_step: Callable[[StepUpdate], None] | None = None,
    log_level: str = CONSOLE_LOG_LEVEL,
) -> dg.ExecuteInProcessResult:
    """Run one job of `defs` in-process on `instance`, as the UI would record it.

    The run executes in a worker thread while this thread reports each step's progress
    from the instance's event log to `on_step`.
    """
    job = defs.resolve_job_def(job_name)
    selection = [dg.AssetKey(name) for name in select] if select else None
    run_id = str(uuid.uuid4())
    outcome: dict[str, object] = {}
    config = {
        **(run_config or {}),
        "loggers": {"console": {"config": {"log_level": log_level}}},
    }

    def execute() -> None:
        try:
            outcome["result"] = job.execute_in_process(
                run_config=config,
                instance=instance,
                run_id=run_id,
                tags=dict(tags or {}),
                asset_selection=selection,
                raise_on_error=False,
            )
        except BaseException as exc:  # surfaced in the calling thread below
            outcome["error"] = exc

    worker = threading.Thread(target=execute, name=f"run-{run_id[:8]}", daemon=True)
    worker.start()
    cursor = None
    while True:
        alive = worker.is_alive()
        if on_step is not None:
            page = instance.get_records_for_run(run_id, cursor=cursor)
            for record in page.records:
                if update := step_update(record.event_log_entry):
                    on_step(update)
            cursor = page.cursor
        if not alive:
            break
        time.sleep(0.2)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    mark_failed_partitions(instance, run_id)
    return outcome["result"]  # type: ignore[return-value]


def step_update(entry: dg.EventLogEntry) -> StepUpdate | None:
    """The step event or the step's own log line that `entry` records, if it is one."""
    event = entry.dagster_event
    if event is None:
        if entry.step_key and entry.level >= logging.INFO:
            return StepUpdate(entry.step_key, "log", entry.timestamp, entry.user_message)
        return None
    if event.event_type not in STEP_EVENTS:
        return None
    state = event.event_type_value.removeprefix("STEP_").lower()
    return StepUpdate(event.step_key or "", state, entry.timestamp)


def run_stage(
    defs: dg.Definitions,
    stage: Stage,
    instance: dg.DagsterInstance,
    on_step: Callable[[StepUpdate], None] | None = None,
) -> dg.ExecuteInProcessResult:
    """One stage of a staged backfill as one recorded run."""
    tags = {RANGE_START_TAG: stage.start_key, RANGE_END_TAG: stage.end_key}
    return run_job(
        defs,
        stage.job,
        instance,
        tags=tags if stage.start_key and stage.end_key else None,
        select=stage.select,
        on_step=on_step,
    )
