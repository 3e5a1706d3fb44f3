"""Run the pipeline over a session range as one Dagster run, from the command line or a test."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType

from marketflow_assets.calendar import unclosed_sessions
from marketflow_assets.settings import PROJECT_ROOT

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PIPELINE_JOB = "daily_pipeline"
STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}


class RangeError(ValueError):
    """A requested session range is empty or outside the partitions."""


@dataclass(frozen=True)
class StepUpdate:
    """One step of a run changed state: started, succeeded, failed or was skipped."""

    step: str
    state: str
    at: float


def project_instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME (default `.dagster_home/`, with the project's dagster.yaml)."""
    home = Path(os.environ.get("DAGSTER_HOME") or PROJECT_ROOT / ".dagster_home")
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists() and (PROJECT_ROOT / "dagster.yaml").exists():
        shutil.copyfile(PROJECT_ROOT / "dagster.yaml", config)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


def session_range(
    partitions: dg.PartitionsDefinition, start: dt.date, end: dt.date
) -> tuple[str, str]:
    """The first and last partition keys within [start, end]; an error if there are none."""
    if end < start:
        raise RangeError(f"end {end} is before start {start}")
    keys = [k for k in partitions.get_partition_keys() if start <= dt.date.fromisoformat(k) <= end]
    # Today's session is a partition before its close (for the evening schedule); skip it.
    now = dt.datetime.now(dt.UTC)
    unclosed = {d.isoformat() for d in unclosed_sessions(_dates(keys[-3:]), now)}
    keys = [k for k in keys if k not in unclosed]
    if not keys:
        raise RangeError(f"no closed trading session between {start} and {end}")
    return keys[0], keys[-1]


def _dates(keys: Sequence[str]) -> list[dt.date]:
    return [dt.date.fromisoformat(k) for k in keys]


def run_pipeline(
    defs: dg.Definitions,
    start_key: str,
    end_key: str,
    instance: dg.DagsterInstance,
    select: Sequence[str] | None = None,
    on_step: Callable[[StepUpdate], None] | None = None,
    log_level: str = "WARNING",
) -> dg.ExecuteInProcessResult:
    """Materialise the pipeline (or `select`ed assets) for [start_key, end_key] in one run."""
    return run_job(
        defs,
        PIPELINE_JOB,
        instance,
        tags={RANGE_START_TAG: start_key, RANGE_END_TAG: end_key},
        select=select,
        on_step=on_step,
        log_level=log_level,
    )


def run_job(
    defs: dg.Definitions,
    job_name: str,
    instance: dg.DagsterInstance,
    *,
    tags: Mapping[str, str] | None = None,
    run_config: Mapping[str, Any] | None = None,
    select: Sequence[str] | None = None,
    on_step: Callable[[StepUpdate], None] | None = None,
    log_level: str = "WARNING",
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
    seen = 0
    while True:
        alive = worker.is_alive()
        if on_step is not None:
            records = instance.all_logs(run_id, of_type=STEP_EVENTS)
            for record in records[seen:]:
                event = record.get_dagster_event()
                state = event.event_type_value.removeprefix("STEP_").lower()
                on_step(StepUpdate(event.step_key or "", state, record.timestamp))
            seen = len(records)
        if not alive:
            break
        time.sleep(0.2)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["result"]  # type: ignore[return-value]


def failure_reasons(result: dg.ExecuteInProcessResult) -> list[str]:
    """`step: message` per failed step: the error our code raised, not Dagster's wrapper of it
    nor the library error beneath it."""
    reasons = []
    for event in result.all_events:
        if event.event_type_value != "STEP_FAILURE" or not event.step_failure_data:
            continue
        error = event.step_failure_data.error
        while (
            error is not None and error.cause is not None and error.cls_name.startswith("Dagster")
        ):
            error = error.cause
        message = error.message.strip() if error is not None else "unknown error"
        reasons.append(f"{event.step_key}: {message}")
    return reasons
