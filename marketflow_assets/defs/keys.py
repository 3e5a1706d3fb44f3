"""One asset check per asset: no key appears twice among the stored rows of the run's window."""

from collections.abc import Mapping, Sequence

import dagster as dg

from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.windows import partition_dates
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import duplicate_keys


def unique_keys_check(
    name: str, asset: dg.AssetsDefinition, keys: Mapping[str, Sequence[str]]
) -> dg.AssetChecksDefinition:
    """A check named `name` on `asset`: each table of `keys` holds each of its keys at most
    once in the window (metadata: duplicated keys per table)."""
    described = "; ".join(f"{table} ({', '.join(cols)})" for table, cols in keys.items())

    @dg.asset_check(
        name=name,
        asset=asset,
        partitions_def=trading_days,
        pool="duckdb",
        description=f"No key appears twice in the stored window: {described}.",
    )
    def check(context: dg.AssetCheckExecutionContext, store: StoreResource) -> dg.AssetCheckResult:
        start, end = partition_dates(context)
        with store.get_connection() as conn:
            counts = {
                table: duplicate_keys(conn, table, cols, start, end) for table, cols in keys.items()
            }
        return dg.AssetCheckResult(
            passed=not any(counts.values()),
            metadata={f"duplicate_{table}_keys": n for table, n in counts.items()},
        )

    return check
