"""Checks on stored VPA rows: warm-up flags agree with the stored history; keys are unique."""

import dagster as dg

from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.vpa.assets import vpa_features, vpa_signals
from marketflow_assets.defs.windows import partition_dates
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import duplicate_keys, warmup_mismatches
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


@dg.asset_check(asset=vpa_features, partitions_def=trading_days, pool="duckdb")
def features_unique_keys(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    """No (ticker, date) appears twice among the window's features."""
    start, end = partition_dates(context)
    with store.get_connection() as conn:
        duplicates = duplicate_keys(conn, "features", ("ticker", "date"), start, end)
    return dg.AssetCheckResult(passed=duplicates == 0, metadata={"duplicate_keys": duplicates})


@dg.asset_check(asset=vpa_signals, partitions_def=trading_days, pool="duckdb")
def signals_unique_keys(
    context: dg.AssetCheckExecutionContext, store: StoreResource
) -> dg.AssetCheckResult:
    """One signal per (ticker, date) and one event per (ticker, bar, rule) in the window."""
    start, end = partition_dates(context)
    with store.get_connection() as conn:
        signals = duplicate_keys(conn, "signals", ("ticker", "date"), start, end)
        events = duplicate_keys(conn, "events", ("ticker", "date", "rule_id"), start, end)
    return dg.AssetCheckResult(
        passed=signals == events == 0,
        metadata={"duplicate_signal_keys": signals, "duplicate_event_keys": events},
    )
