"""Failed sessions of a failed range run, marked as Dagster would without the bookkeeping
settings of `runs/instance.py`.

With one "planned" event per asset for a whole range, Dagster's partition status never sees a
failed run's sessions as failed (its documented caveat). After such a run, each asset's
planned sessions that it did not materialise get the per-session planned event Dagster would
have written, and the status of those sessions becomes "failed" as it would have been.
"""

from __future__ import annotations

import logging

import dagster as dg

# Dagster exports no way to build a planned event; this is the one its run creation uses.
from dagster._core.events import AssetMaterializationPlannedData


def mark_failed_partitions(instance: dg.DagsterInstance, run_id: str) -> int:
    """Record the unmaterialised planned sessions of failed run `run_id` one by one, so they
    show as failed; the number recorded (0 for a run that did not fail or was marked before)."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.status != dg.DagsterRunStatus.FAILURE:
        return 0
    planned = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION_PLANNED
    ).records
    done: dict[dg.AssetKey, set[str]] = {}
    for record in instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
    ).records:
        event = record.event_log_entry.dagster_event
        done.setdefault(event.asset_key, set()).add(event.partition)
    ranges, singles = [], set()
    for record in planned:
        event = record.event_log_entry.dagster_event
        data = event.event_specific_data
        if data.partitions_subset is not None:
            ranges.append((event.step_key, data))
        elif data.partition is not None:
            singles.add((data.asset_key, data.partition))
    marked = 0
    for step_key, data in ranges:
        for key in data.partitions_subset.get_partition_keys():
            if key in done.get(data.asset_key, ()) or (data.asset_key, key) in singles:
                continue
            planned_one = AssetMaterializationPlannedData(data.asset_key, partition=key)
            instance.report_dagster_event(
                dg.DagsterEvent.build_asset_materialization_planned_event(
                    run.job_name, step_key, planned_one
                ),
                run_id,
                logging.DEBUG,
            )
            marked += 1
    return marked
