"""Launching recorded runs in-process on the project's instance, with each step's progress."""

from __future__ import annotations

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

from marketflow_assets.runs.plan import Stage
from marketflow_assets.settings import INSTANCE_CONFIG, default_dagster_home

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
    """One step of a run changed state: started, succeeded, failed or was skipped."""

    step: str
    state: str
    at: float


def project_instance() -> dg.DagsterInstance:
    """The instance in DAGSTER_HOME (default `.dagster_home/`), given the project's instance
    config when it has none."""
    home = Path(os.environ.get("DAGSTER_HOME") or default_dagster_home())
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        shutil.copyfile(INSTANCE_CONFIG, config)
    os.environ["DAGSTER_HOME"] = str(home)
    return dg.DagsterInstance.get()


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
