"""The date window a (possibly single-run backfill) partitioned run covers."""

import datetime as dt

import dagster as dg


def partition_dates(
    context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext,
) -> tuple[dt.date, dt.date]:
    """First and last session of the run's partition range, both inclusive."""
    keys = context.partition_key_range
    return dt.date.fromisoformat(keys.start), dt.date.fromisoformat(keys.end)
