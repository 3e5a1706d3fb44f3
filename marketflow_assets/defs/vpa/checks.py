"""Checks on stored VPA rows: warm-up flags agree with the stored history; keys are unique."""

import dagster as dg

from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.vpa.assets import vpa_features, vpa_signals
from marketflow_assets.defs.windows import partition_dates
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import warmup_mismatches
from marketflow_assets.vpa import load_rules


@dg.asset_check(asset=vpa_features, partitions_def=trading_days, pool="duckdb")
def warmup_coverage(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    """A row is warm-up exactly when its ticker has fewer stored bars before it than the rules
    ask for; a mismatch means features were computed from a cut history."""
    start, end = partition_dates(context)
    needed = load_rules().features["warmup_bars"]
    with store.get_connection() as conn:
        mismatches = warmup_mismatches(conn, start, end, needed)
    return dg.AssetCheckResult(
        passed=mismatches.height == 0,
        metadata={
            "mismatches": mismatches.height,
            "first_mismatches": [
                f"{row['ticker']} {row['date']}: warmup={row['warmup']} "
                f"with {row['bars_before']} earlier bars"
                for row in mismatches.head(10).iter_rows(named=True)
            ],
        },
    )


features_unique_keys = unique_keys_check(
    "features_unique_keys", vpa_features, {"features": ("ticker", "date")}
)
signals_unique_keys = unique_keys_check(
    "signals_unique_keys",
    vpa_signals,
    {"signals": ("ticker", "date"), "events": ("ticker", "date", "rule_id")},
)
