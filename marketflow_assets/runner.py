"""Run the pipeline over a session range as one Dagster run, from the command line or a test."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.events import DagsterEventType

from marketflow_assets.calendar import unclosed_sessions
from marketflow_assets.settings import PROJECT_ROOT
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import written_sessions
from marketflow_assets.validation.requests import ScoringCursor, plan_scoring
from marketflow_assets.vpa import load_rules

RANGE_START_TAG = "dagster/asset_partition_range_start"
RANGE_END_TAG = "dagster/asset_partition_range_end"
PIPELINE_JOB = "daily_pipeline"
SCORE_OUTCOMES_JOB = "score_outcomes"
SCORECARD_JOB = "scorecard"
# A staged backfill: what must exist before outcomes can be scored, and what the matured
# outcomes feed (through the calibration) afterwards.
ANALYSIS_ASSETS = ("daily_bars", "vpa_features", "vpa_signals")
FEEDBACK_ASSETS = ("signal_calibration", "analysis_snapshots", "training_pairs")
STEP_EVENTS = {
    DagsterEventType.STEP_START,
    DagsterEventType.STEP_SUCCESS,
    DagsterEventType.STEP_FAILURE,
    DagsterEventType.STEP_SKIPPED,
}


class RangeError(ValueError):
    """A requested session range is empty or outside the partitions."""


@dataclass(frozen=True)
class Stage:
    """One run of a staged backfill: a job, its session range (none for the scorecard) and
    the assets selected (none: the whole job)."""

    job: str
    start_key: str | None = None
    end_key: str | None = None
    select: tuple[str, ...] | None = None

    def describe(self) -> str:
        what = ", ".join(self.select) if self.select else self.job.replace("_", " ")
        span = f" for sessions {self.start_key} .. {self.end_key}" if self.start_key else ""
        return f"{what}{span}"


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


def staged_backfill(start_key: str, end_key: str, store_path: Path) -> Iterator[Stage]:
    """The runs that materialise every daily asset for [start_key, end_key] in the order the
    feedback loop needs: bars to signals; the outcomes of every session whose window is then
    complete in the store and not scored yet, or scored from the bars or rules this backfill
    replaced (one run per stretch of consecutive sessions); the calibration, snapshots and
    pairs; and the scorecard when outcomes were scored. The outcome stages are worked out
    from the store after the first run, so iterate while running them."""
    yield Stage(PIPELINE_JOB, start_key, end_key, ANALYSIS_ASSETS)
    start, end = dt.date.fromisoformat(start_key), dt.date.fromisoformat(end_key)
    blocks = scoring_blocks(store_path, start, end)
    for first, last in blocks:
        yield Stage(SCORE_OUTCOMES_JOB, first.isoformat(), last.isoformat())
    yield Stage(PIPELINE_JOB, start_key, end_key, FEEDBACK_ASSETS)
    if blocks:
        yield Stage(SCORECARD_JOB)


def scoring_blocks(store_path: Path, start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Stretches of consecutive sessions to score after bars and signals of [start, end] were
    (re)written: those whose signals are stored and whose whole window has bars in the store,
    and which have no outcome yet, an outcome of other rules, or a window reaching into
    [start, end]."""
    from marketflow_assets.partitions import trading_days

    rules = load_rules()
    window_days = rules.outcomes.window_days
    sessions = [dt.date.fromisoformat(k) for k in trading_days.get_partition_keys()]
    with open_store(store_path, read_only=True) as conn:
        written = {
            asset: written_sessions(conn, asset)
            for asset in ("daily_bars", "vpa_signals", "signal_outcomes")
        }
        stale = {
            day
            for (day,) in conn.execute(
                "SELECT DISTINCT date FROM outcomes WHERE rules_hash <> ?", [rules.hash]
            ).fetchall()
        }
    touched = start - dt.timedelta(days=window_days)
    plan = plan_scoring(
        sessions,
        bars=written["daily_bars"],
        signals=written["vpa_signals"],
        scored={d for d in written["signal_outcomes"] - stale if not touched <= d <= end},
        cursor=ScoringCursor(),
        window_days=window_days,
        limit=len(sessions),
    )
    position = {day: i for i, day in enumerate(sessions)}
    blocks: list[list[dt.date]] = []
    for day in plan.requests:
        if blocks and position[day] == position[blocks[-1][-1]] + 1:
            blocks[-1].append(day)
        else:
            blocks.append([day])
    return [(block[0], block[-1]) for block in blocks]


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
