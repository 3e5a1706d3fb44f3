"""`marketflow status`: what the store holds, and the last recorded run."""

from __future__ import annotations

import datetime as dt

from rich.markup import escape

from marketflow_assets.cli.output import compact_table, console
from marketflow_assets.runs.instance import project_instance
from marketflow_assets.runs.launch import RANGE_END_TAG, RANGE_START_TAG
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.reads import (
    event_counts,
    quarantine_by_reason,
    signal_counts,
    summarize_tables,
)


def print_status(settings: Settings) -> None:
    """Rows, tickers and dates per store table, then quarantine, pattern and signal counts."""
    with open_store(settings.store_location, read_only=True) as conn:
        tables = summarize_tables(conn)
        reasons = quarantine_by_reason(conn)
        events = event_counts(conn)
        signals = signal_counts(conn)
    # The path on its own line: in a table's title it would be folded to the table's width.
    console.print(f"Store {escape(str(settings.store_location))}")
    table = compact_table(
        None, ("table", "rows", "tickers", "first date", "last date"), {"rows", "tickers"}
    )
    for t in tables:
        table.add_row(
            t.table,
            f"{t.rows:,}",
            "" if t.tickers is None else f"{t.tickers:,}",
            str(t.first_date or ""),
            str(t.last_date or ""),
        )
    console.print(table)
    if reasons:
        console.print(
            "Quarantined rows by reason: " + ", ".join(f"{k} {v}" for k, v in reasons.items())
        )
    for title, counts in (("Pattern events", events), ("Signals", signals)):
        if counts:
            console.print(
                f"{title}: " + ", ".join(f"{k.replace('_', ' ')} {v:,}" for k, v in counts.items())
            )


def print_last_run() -> None:
    """The job, session range, state and id of the newest run in DAGSTER_HOME."""
    instance = project_instance()
    runs = instance.get_runs(limit=1)
    if not runs:
        console.print("No runs yet.")
        return
    run = runs[0]
    span = run.tags.get(RANGE_START_TAG, run.tags.get("dagster/partition", ""))
    if RANGE_END_TAG in run.tags:
        span += f" .. {run.tags[RANGE_END_TAG]}"
    stats = instance.get_run_stats(run.run_id)
    ended = (
        dt.datetime.fromtimestamp(stats.end_time, dt.UTC).isoformat(timespec="seconds")
        if stats.end_time
        else "running"
    )
    console.print(
        f"Last run: {run.job_name} {span} [bold]{run.status.value}[/] (ended {ended}), "
        f"id {run.run_id}"
    )
