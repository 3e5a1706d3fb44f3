"""A tiny job of two daily-partitioned assets run as one range, to watch Dagster's bookkeeping."""

import dagster as dg

PARTITIONS = dg.DailyPartitionsDefinition(start_date="2024-01-01", end_date="2024-01-11")
RANGE = {
    "dagster/asset_partition_range_start": "2024-01-02",
    "dagster/asset_partition_range_end": "2024-01-05",
}
RANGE_KEYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
JOB = "ranged"


def ranged_defs(*, fail: bool) -> dg.Definitions:
    """`first` (logging a line, failing when `fail`) and `second` after it, single-run ranges."""
    policy = dg.BackfillPolicy.single_run()

    @dg.asset(partitions_def=PARTITIONS, backfill_policy=policy)
    def first(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        context.log.info(f"first: {len(context.partition_keys)} sessions")
        if fail:
            raise dg.Failure("first failed on purpose")
        return dg.MaterializeResult()

    @dg.asset(partitions_def=PARTITIONS, backfill_policy=policy, deps=[first])
    def second() -> dg.MaterializeResult:
        return dg.MaterializeResult()

    job = dg.define_asset_job(JOB, selection=[first, second])
    return dg.Definitions(assets=[first, second], jobs=[job])


def statuses(instance: dg.DagsterInstance, asset: str) -> dict[str, str]:
    """Each partition of `asset` that has a status, by key."""
    found = instance.get_status_by_partition(
        dg.AssetKey(asset), PARTITIONS.get_partition_keys(), PARTITIONS
    )
    return {key: status.value for key, status in (found or {}).items() if status}
