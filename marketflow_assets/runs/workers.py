"""Backfill stages as runs on Celery workers (dagster-celery's run launcher, a Redis broker).

A stage split over N workers runs as waves, one asset at a time in dependency order, each wave
being N runs over consecutive ranges of whole sessions, launched through the instance so that
different workers execute them. One asset at a time, because an asset's range may read the
sessions before it of the asset upstream (vpa_features reads `history_sessions` of bars, which
another range's run writes): every run of a wave reads only rows that earlier waves and stages
wrote in full. On a DuckDB file the writers take turns through the `duckdb` pool, which the
instance in Postgres enforces across the workers; on a lake the runs of a wave write at once
(each writes its own dates, separate Delta commits).
"""

from __future__ import annotations

import functools
import itertools
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg
from celery.exceptions import DuplicateTaskNameWarning

# The type of a job's code origin, which Dagster does not export.
from dagster._core.origin import JobPythonOrigin
from dagster_celery.tags import DAGSTER_CELERY_TASK_ID_TAG
from kombu.exceptions import OperationalError

from marketflow_assets.definitions import build_definitions
from marketflow_assets.defs.area import STORE_POOL
from marketflow_assets.runs.failures import mark_failed_partitions
from marketflow_assets.runs.launch import (
    CONSOLE_LOG_LEVEL,
    RANGE_END_TAG,
    RANGE_START_TAG,
    StepUpdate,
    step_update,
)
from marketflow_assets.runs.plan import Stage
from marketflow_assets.runs.report import run_failure_reasons
from marketflow_assets.settings import Settings

# A launched run executes its steps in the worker's process, one after another, as a run of
# `run_job` does in the command's.
RUN_CONFIG = {
    "execution": {"config": {"in_process": {}}},
    "loggers": {"console": {"config": {"log_level": CONSOLE_LOG_LEVEL}}},
}
FINISHED = {
    dg.DagsterRunStatus.SUCCESS,
    dg.DagsterRunStatus.FAILURE,
    dg.DagsterRunStatus.CANCELED,
}
RUN_STATES = {
    dg.DagsterEventType.RUN_START: "log",
    dg.DagsterEventType.RUN_SUCCESS: "success",
    dg.DagsterEventType.RUN_FAILURE: "failure",
    dg.DagsterEventType.RUN_CANCELED: "failure",
}
POLL_SECONDS = 0.5
# How often the worker holding a run is pinged, and how long it may stay silent before its run
# is marked failed (a worker killed mid-run never reports; Celery keeps its task STARTED).
PING_SECONDS = 10.0
SILENCE_SECONDS = 60.0


class WorkersError(RuntimeError):
    """Runs cannot go to Celery workers: no broker is set, or no worker answers on it."""


@dataclass(frozen=True)
class RunOutcome:
    """How one launched run ended: its status, the worker that ran it, why it failed."""

    stage: Stage
    run_id: str
    status: dg.DagsterRunStatus
    worker: str | None
    reasons: tuple[str, ...]

    @property
    def success(self) -> bool:
        return self.status == dg.DagsterRunStatus.SUCCESS


def stage_job(job_name: str) -> dg.JobDefinition:
    """Job `job_name` of the code location made from this process's settings: what a worker
    loads to execute a launched run, so its settings must be those of the command."""
    return build_definitions(Settings.from_env()).resolve_job_def(job_name)


def split_over(
    settings: Settings, instance: dg.DagsterInstance, requested: int | None
) -> int | None:
    """How many ranges a backfill's stages are split into on the workers: `requested`, or as
    many as workers answer on the broker; None without a broker (each stage runs in this
    process). An error when no worker answers."""
    if not settings.celery_broker:
        if requested is not None:
            raise WorkersError(
                "--workers needs MARKETFLOW_CELERY_BROKER, the Redis URL that the workers of "
                "`marketflow worker` listen on"
            )
        return None
    try:
        replies = instance.run_launcher.celery.control.ping(timeout=1.0)  # type: ignore[attr-defined]
    except OperationalError as exc:
        raise WorkersError(
            f"the broker of MARKETFLOW_CELERY_BROKER does not answer: {exc}"
        ) from exc
    if not replies:
        raise WorkersError(
            "no Celery worker answers on MARKETFLOW_CELERY_BROKER; start some with "
            "`marketflow worker` (with the settings and DAGSTER_HOME of this command)"
        )
    return requested or len(replies)


def split_range(
    partitions: dg.PartitionsDefinition, start_key: str, end_key: str, parts: int
) -> list[tuple[str, str]]:
    """[start_key, end_key] cut into up to `parts` consecutive ranges of whole sessions, the
    sizes differing by one at most."""
    keys = [k for k in partitions.get_partition_keys() if start_key <= k <= end_key]
    count = min(parts, len(keys))
    bounds = [len(keys) * i // count for i in range(count + 1)]
    return [(keys[a], keys[b - 1]) for a, b in itertools.pairwise(bounds)]


def waves(
    defs: dg.Definitions, stage: Stage, partitions: dg.PartitionsDefinition, parts: int
) -> list[list[Stage]]:
    """The runs of `stage` on `parts` workers: one run when it has no range or is not split,
    else a wave of runs over consecutive ranges per asset, in dependency order."""
    if parts < 2 or not (stage.start_key and stage.end_key):
        return [[stage]]
    ranges = split_range(partitions, stage.start_key, stage.end_key, parts)
    if len(ranges) < 2:
        return [[stage]]
    selected = (
        {dg.AssetKey(name) for name in stage.select}
        if stage.select
        else defs.resolve_job_def(stage.job).asset_layer.selected_asset_keys
    )
    ordered = [key for key in defs.resolve_asset_graph().toposorted_asset_keys if key in selected]
    return [
        [Stage(stage.job, start, end, (key.to_user_string(),)) for start, end in ranges]
        for key in ordered
    ]


@functools.cache
def job_origin(job_name: str) -> JobPythonOrigin:
    """Where a worker finds job `job_name`: `stage_job` called with it (the job is built here
    once, to check that it loads)."""
    job = dg.build_reconstructable_job(
        __name__, stage_job.__name__, reconstructable_args=(job_name,)
    )
    return job.get_python_origin()


def launch(defs: dg.Definitions, stage: Stage, instance: dg.DagsterInstance) -> str:
    """Create the run of `stage` and hand it to the instance's run launcher; its id."""
    tags = {RANGE_START_TAG: stage.start_key, RANGE_END_TAG: stage.end_key}
    run = instance.create_run_for_job(
        job_def=defs.resolve_job_def(stage.job),
        run_config=RUN_CONFIG,
        tags=tags if stage.start_key and stage.end_key else None,
        asset_selection=frozenset(dg.AssetKey(n) for n in stage.select) if stage.select else None,
        job_code_origin=job_origin(stage.job),
    )
    with warnings.catch_warnings():
        # dagster-celery registers its task anew at each launch, which Celery warns of.
        warnings.simplefilter("ignore", DuplicateTaskNameWarning)
        # Celery's launcher needs no workspace: the worker loads the job from the run's origin.
        instance.launch_run(run.run_id, workspace=None)  # type: ignore[arg-type]
    return run.run_id


def share_store(instance: dg.DagsterInstance, lake: bool, parts: int) -> int:
    """Let `parts` steps hold the store's pool at once on a lake, one on a DuckDB file (one
    writer per file); the limit set, which the instance keeps for later runs."""
    limit = parts if lake else 1
    instance.event_log_storage.set_concurrency_slots(STORE_POOL, limit)
    return limit


def run_wave(
    defs: dg.Definitions,
    wave: Sequence[Stage],
    instance: dg.DagsterInstance,
    on_update: Callable[[StepUpdate], None],
) -> list[RunOutcome]:
    """Launch every run of `wave`, then wait for all of them, reporting each run's progress to
    `on_update` under its `label`; a run left unfinished is cancelled."""
    launched: dict[str, Stage] = {}
    try:
        for stage in wave:
            launched[launch(defs, stage, instance)] = stage
            on_update(StepUpdate(label(stage), "start", time.time(), "queued"))
        return _wait(instance, launched, on_update)
    finally:
        _cancel_unfinished(instance, launched)


def label(stage: Stage) -> str:
    """A run's line in the progress: its range (or its job when it has none)."""
    return f"{stage.start_key} .. {stage.end_key}" if stage.start_key else stage.job


def _wait(
    instance: dg.DagsterInstance,
    launched: dict[str, Stage],
    on_update: Callable[[StepUpdate], None],
) -> list[RunOutcome]:
    """Follow the runs' event logs until each run has finished (or its worker's task failed)."""
    cursors: dict[str, str | None] = dict.fromkeys(launched)
    outcomes: dict[str, RunOutcome] = {}
    watch = WorkerWatch(instance)
    while len(outcomes) < len(launched):
        for run_id, stage in launched.items():
            if run_id in outcomes:
                continue
            run = _settled(instance, run_id, watch)
            page = instance.get_records_for_run(run_id, cursor=cursors[run_id])
            cursors[run_id] = page.cursor
            for record in page.records:
                if update := _run_update(instance, record.event_log_entry, label(stage)):
                    on_update(update)
            if run.status in FINISHED:
                outcomes[run_id] = _outcome(instance, stage, run)
        if len(outcomes) < len(launched):
            time.sleep(POLL_SECONDS)
    return [outcomes[run_id] for run_id in launched]


def _settled(instance: dg.DagsterInstance, run_id: str, watch: WorkerWatch) -> dg.DagsterRun:
    """The run, marked failed first when its worker's task failed without ending it, or its
    worker stopped answering."""
    run = instance.get_run_by_id(run_id)
    assert run is not None
    if run.status in FINISHED or DAGSTER_CELERY_TASK_ID_TAG not in run.tags:
        return run
    health = instance.run_launcher.check_run_worker_health(run)
    if health.status.value == "FAILED":
        instance.report_run_failed(run, f"the worker's task failed: {health.msg}")
    elif run.status == dg.DagsterRunStatus.STARTED and not watch.answers(_worker(instance, run)):
        instance.report_run_failed(
            run,
            f"its worker {_worker(instance, run)} stopped answering for {SILENCE_SECONDS:.0f} s",
        )
    return instance.get_run_by_id(run_id)  # type: ignore[return-value]


class WorkerWatch:
    """Whether the workers holding runs still answer Celery's ping, asked every PING_SECONDS."""

    def __init__(self, instance: dg.DagsterInstance) -> None:
        self._control = instance.run_launcher.celery.control  # type: ignore[attr-defined]
        self._heard: dict[str, float] = {}
        self._asked: dict[str, float] = {}

    def answers(self, worker: str | None) -> bool:
        """False once `worker` has not answered for SILENCE_SECONDS (True while unknown)."""
        if worker is None:
            return True
        now = time.monotonic()
        self._heard.setdefault(worker, now)
        if now - self._asked.get(worker, 0.0) >= PING_SECONDS:
            self._asked[worker] = now
            if self._control.ping(destination=[worker], timeout=1.0):
                self._heard[worker] = now
        return now - self._heard[worker] < SILENCE_SECONDS


def _run_update(
    instance: dg.DagsterInstance, entry: dg.EventLogEntry, name: str
) -> StepUpdate | None:
    """What the run's progress line shows of `entry`: a step's state or log line, the run
    starting on a worker, or its end."""
    event = entry.dagster_event
    if event is not None and event.event_type in RUN_STATES:
        run = instance.get_run_by_id(entry.run_id)
        worker = _worker(instance, run) if run else None
        started = "running" if event.event_type == dg.DagsterEventType.RUN_START else ""
        where = f"on {worker}" if worker else ""
        message = " ".join(part for part in (started, where) if part)
        return StepUpdate(name, RUN_STATES[event.event_type], entry.timestamp, message)
    update = step_update(entry)
    if update is None or update.state == "skipped":
        return None
    message = update.message if update.state == "log" else f"{update.step} {update.state}"
    return StepUpdate(name, "log", update.at, message)


def _worker(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str | None:
    """The Celery worker that took the run's task (results record it), if known yet."""
    task_id = run.tags.get(DAGSTER_CELERY_TASK_ID_TAG)
    if task_id is None:
        return None
    return instance.run_launcher.celery.AsyncResult(task_id).worker  # type: ignore[attr-defined]


def _outcome(instance: dg.DagsterInstance, stage: Stage, run: dg.DagsterRun) -> RunOutcome:
    """How `run` ended; a failed range run's sessions are marked failed as Dagster would."""
    reasons: tuple[str, ...] = ()
    if run.status != dg.DagsterRunStatus.SUCCESS:
        mark_failed_partitions(instance, run.run_id)
        records = instance.get_records_for_run(run.run_id, limit=None).records
        events = [r.event_log_entry.dagster_event for r in records]
        reasons = tuple(run_failure_reasons([e for e in events if e is not None]))
    return RunOutcome(stage, run.run_id, run.status, _worker(instance, run), reasons)


def _cancel_unfinished(instance: dg.DagsterInstance, launched: dict[str, Stage]) -> None:
    """Revoke the tasks of runs not finished (the command was interrupted) and mark them
    cancelled, so no worker goes on writing for a command that gave up."""
    for run_id in launched:
        run = instance.get_run_by_id(run_id)
        if run is None or run.status in FINISHED:
            continue
        if DAGSTER_CELERY_TASK_ID_TAG in run.tags:
            instance.run_launcher.terminate(run_id)
        instance.report_run_canceled(run, "the command that launched it was interrupted")
