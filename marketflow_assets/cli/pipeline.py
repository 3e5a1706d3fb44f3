"""`marketflow demo|backfill|status|export|worker`: runs of the pipeline (in this process or
on Celery workers) and what they stored."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Sequence

import dagster as dg
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TaskID, TextColumn, TimeElapsedColumn

from marketflow_assets.cli.output import console
from marketflow_assets.cli.scorecard import print_scorecard
from marketflow_assets.cli.status import print_last_run, print_status
from marketflow_assets.definitions import definitions_for
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.exports.definitions import EXPORT_JOB
from marketflow_assets.defs.validation.definitions import SCORECARD_JOB
from marketflow_assets.runs.celery_worker import run_worker
from marketflow_assets.runs.instance import project_instance
from marketflow_assets.runs.launch import StepUpdate, run_job, run_stage
from marketflow_assets.runs.plan import (
    RangeError,
    Stage,
    matured_end,
    selection_stage,
    session_range,
    staged_backfill,
)
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.runs.workers import (
    RunOutcome,
    label,
    run_wave,
    share_store,
    split_over,
    waves,
)
from marketflow_assets.settings import Settings, SettingsError
from marketflow_assets.sources.sample import load_sample
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.exports import read_export
from marketflow_assets.training.export import check_export_name


class StepProgress:
    """A line per run step, spinning while it runs with the step's latest log line (for chunked
    work: sessions done, rate, time left), and ticked (or crossed) when it ends."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.tasks: dict[str, TaskID] = {}

    def __call__(self, update: StepUpdate) -> None:
        marks = {"success": "[green]done", "failure": "[red]failed", "skipped": "[yellow]skipped"}
        message = escape(update.message)
        if update.state == "start":
            self.tasks[update.step] = self.progress.add_task(
                update.step, total=1, status=message or "running"
            )
        elif update.state == "log":
            if update.step in self.tasks:
                self.progress.update(self.tasks[update.step], status=message)
        elif update.step in self.tasks:
            mark = marks.get(update.state, update.state)
            self.progress.update(
                self.tasks[update.step], completed=1, status=f"{mark} {message}".strip()
            )


def _run(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    select: Sequence[str] | None,
    parts: int | None = None,
) -> bool:
    """The selected assets (all daily ones by default) for [start, end] in one run, or split
    over `parts` workers; scoring alone stops at the last session whose window is complete."""
    area = AreaContext.from_settings(settings)
    start_key, end_key = session_range(area.partitions, start, end)
    if select and set(select) == {"signal_outcomes"}:
        last = matured_end(area, start_key, end_key)
        if last is None:
            raise RangeError(
                f"no session of {start_key} .. {end_key} has its whole outcome window in the "
                "store yet; backfill daily_bars past the range first"
            )
        if last != end_key:
            console.print(f"Scoring up to {last}: the windows of later sessions are not complete.")
        end_key = last
    stage = selection_stage(start_key, end_key, select)
    return _run_stage(area, definitions_for(area), stage, parts)


def _run_staged(settings: Settings, start: dt.date, end: dt.date, parts: int | None = None) -> bool:
    """Every daily asset for [start, end] in the runs the feedback loop needs (see
    `staged_backfill`), each shown as it runs, on `parts` workers when given; stops at the
    first failure."""
    area = AreaContext.from_settings(settings)
    defs = definitions_for(area)
    start_key, end_key = session_range(area.partitions, start, end)
    return all(
        _run_stage(area, defs, stage, parts) for stage in staged_backfill(start_key, end_key, area)
    )


COLUMNS = (
    SpinnerColumn(),
    TextColumn("{task.description:<28}"),
    TextColumn("{task.fields[status]}"),
    TimeElapsedColumn(),
)


def _run_stage(
    area: AreaContext, defs: dg.Definitions, stage: Stage, parts: int | None = None
) -> bool:
    """One stage in this process (`parts` None), or on the Celery workers split `parts` ways."""
    if parts is not None:
        return _run_on_workers(area, defs, stage, parts)
    console.print(
        f"Materialising [bold]{escape(stage.describe())}[/] (one run) "
        f"from source [bold]{area.settings.source}[/]"
    )
    with Progress(*COLUMNS, console=console) as progress:
        result = run_stage(defs, stage, project_instance(), StepProgress(progress))
    return _report(result)


def _run_on_workers(area: AreaContext, defs: dg.Definitions, stage: Stage, parts: int) -> bool:
    """The waves of runs of `stage` on the workers (see `runs/workers.py`), a line per run."""
    instance = project_instance()
    share_store(instance, area.settings.lake_dir is not None, parts)
    for wave in waves(defs, stage, area.partitions, parts):
        whole = Stage(stage.job, stage.start_key, stage.end_key, wave[0].select)
        console.print(
            f"Materialising [bold]{escape(whole.describe())}[/] ({len(wave)} run(s) on the "
            f"workers) from source [bold]{area.settings.source}[/]"
        )
        with Progress(*COLUMNS, console=console) as progress:
            outcomes = run_wave(defs, wave, instance, StepProgress(progress))
        if not _report_runs(outcomes):
            return False
    return True


def _report_runs(outcomes: Sequence[RunOutcome]) -> bool:
    """Each failed run's reasons and where its trace is, or which workers ran the wave."""
    for outcome in outcomes:
        if not outcome.success:
            for reason in outcome.reasons or (f"run {outcome.status.value.lower()}",):
                console.print(f"[red]failed[/] {escape(label(outcome.stage))}: {escape(reason)}")
            console.print(
                f"Run {outcome.run_id[:8]} failed; the full trace is in its log (`make ui`, Runs)."
            )
    if not all(outcome.success for outcome in outcomes):
        return False
    workers = sorted({outcome.worker or "?" for outcome in outcomes})
    console.print(f"{len(outcomes)} run(s) succeeded on {escape(', '.join(workers))}.")
    return True


def _report(result: dg.ExecuteInProcessResult) -> bool:
    """One line per failed step (what failed and why), then where its trace is."""
    if not result.success:
        for reason in failure_reasons(result):
            console.print(f"[red]failed[/] {escape(reason)}")
        console.print(
            f"Run {result.run_id[:8]} failed; the full trace is in its log (`make ui`, Runs)."
        )
        return False
    console.print(f"Run {result.run_id} succeeded.")
    return True


def cmd_demo(settings: Settings, _args: argparse.Namespace) -> int:
    if settings.source != "sample":
        raise SettingsError("the demo runs on the sample source; unset MARKETFLOW_SOURCE")
    dates = load_sample()["date"]
    if not _run_staged(settings, dates.min(), dates.max()):
        return 1
    if not _export(settings, DEMO_EXPORT, None, None, only_approved=False):
        return 1
    print_status(settings)
    print_scorecard(settings, by="strength")
    console.print(
        f"\nStore: {settings.store_location}\n"
        f"Dagster run history: {project_instance().root_directory}\n"
        "Open the UI with `make ui`, then http://127.0.0.1:3000 (assets, runs, backfills).\n"
        "From a notebook: marketflow_assets.store.queries.query_snapshots(...), or a read-only "
        "DuckDB connection to the store (README, 'From a notebook')."
    )
    return 0


DEMO_EXPORT = "sample"


def _print_log_lines(update: StepUpdate) -> None:
    """Each line a run's steps log (the export's progress, a chunk at a time), as it comes."""
    if update.state == "log":
        console.print(f"  [dim]{escape(update.message)}[/]")


def _export(
    settings: Settings,
    name: str,
    start: dt.date | None,
    end: dt.date | None,
    *,
    only_approved: bool,
    split: str = "auto",
    max_similar: int | None = None,
) -> bool:
    """Materialise `training_dataset` as export `name` in one recorded run; print what it wrote."""
    check_export_name(name)
    config = {
        "name": name,
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "only_approved": only_approved,
        "split": split,
        "max_similar": max_similar,
    }
    console.print(f"Exporting training pairs as [bold]{escape(name)}[/]")
    result = run_job(
        definitions_for(AreaContext.from_settings(settings)),
        EXPORT_JOB,
        project_instance(),
        run_config={"ops": {"training_dataset": {"config": config}}},
        on_step=_print_log_lines,
    )
    if not _report(result):
        return False
    with open_store(settings.store_location, read_only=True) as conn:
        row = read_export(conn, name)
    if row["split_note"]:
        console.print(f"[yellow]note[/] {escape(row['split_note'])}")
    splits = (
        f"train {row['train_rows']:,}, validation {row['validation_rows']:,}, "
        f"test {row['test_rows']:,}"
        if row["split_mode"] == "time"
        else f"one split: train {row['train_rows']:,}"
    )
    console.print(
        f"Export {escape(name)}: {row['path']}\n"
        f"  {splits} pairs (of {row['pairs']:,}; "
        f"{row['near_duplicates_dropped']:,} near-duplicates dropped)"
    )
    return True


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    ok = _export(
        settings,
        args.name,
        args.start,
        args.end,
        only_approved=args.only_approved,
        split=args.split,
        max_similar=args.max_similar,
    )
    return 0 if ok else 1


def cmd_backfill(settings: Settings, args: argparse.Namespace) -> int:
    select = [s.strip() for s in args.select.split(",") if s.strip()] if args.select else None
    parts = split_over(settings, project_instance(), args.workers)
    if select is None:
        return 0 if _run_staged(settings, args.start, args.end, parts) else 1
    return 0 if _run(settings, args.start, args.end, select, parts) else 1


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    return run_worker(settings, args.name)


def cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    area = AreaContext.from_settings(settings)
    if not _run_stage(area, definitions_for(area), Stage(SCORECARD_JOB)):
        return 1
    print_scorecard(settings, by=args.by)
    return 0


def cmd_status(settings: Settings, _args: argparse.Namespace) -> int:
    print_status(settings)
    print_last_run()
    return 0
