"""Checks on the stored bars of a window: sanity (blocking) and unique keys."""

import dagster as dg

from marketflow_assets.defs.bars.assets import daily_bars
from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.windows import partition_dates
from marketflow_assets.partitions import trading_days
from marketflow_assets.sources.quality import rule_violations
from marketflow_assets.store.reads import read_bars


@dg.asset_check(asset=daily_bars, blocking=True, partitions_def=trading_days, pool="duckdb")
def bar_sanity(context: dg.AssetCheckExecutionContext, store: StoreResource) -> dg.AssetCheckResult:
    """Every stored bar of the window has positive prices, open/close in range, volume >= 0."""
    start, end = partition_dates(context)
    with store.get_connection() as conn:
        bars = read_bars(conn, start, end)
    broken = rule_violations(bars)
    return dg.AssetCheckResult(
        passed=broken.height == 0,
        metadata={
            "bars_checked": bars.height,
            "violations": broken.height,
            "first_violations": [
                f"{row['ticker']} {row['date']}: {row['reason']}"
                for row in broken.head(10).iter_rows(named=True)
            ],
        },
    )


bars_unique_keys = unique_keys_check("bars_unique_keys", daily_bars, {"bars": ("ticker", "date")})
