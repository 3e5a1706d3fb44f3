"""`vpa_features` and `vpa_signals`: point-in-time analysis of each session, from the store."""

import dagster as dg

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.bars.assets import daily_bars
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.windows import partition_dates, require_sessions
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import read_bars, read_window
from marketflow_assets.store.windows import replace_windows
from marketflow_assets.vpa import compute_features, compute_signals, detect_events, load_rules
from marketflow_assets.vpa.features import ORIGIN_DEPENDENT
from marketflow_assets.vpa.summary import feature_summary, signal_summary

# Sessions of stored features read before a signal window, so that patterns waiting for
# follow-through can be confirmed inside it (pattern bars are counted in bars, and a ticker may
# miss a few sessions).
CONFIRMATION_MARGIN = 10


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="vpa",
    deps=[daily_bars],
    kinds={"duckdb", "polars"},
)
def vpa_features(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Features of each (ticker, session) from that session's bar and earlier bars only."""
    start, end = partition_dates(context)
    rules = load_rules()
    with store.get_connection() as conn:
        before = require_sessions(
            conn, "daily_bars", start, end, rules.features["history_sessions"]
        )
        bars = read_bars(conn, before[0] if before else start, end, with_splits=True)
        context.log.info(f"computing features of {bars.height} bars ({len(before)} for history)")
        features = compute_features(bars, rules)
        features = features.filter(features["date"] >= start).drop(ORIGIN_DEPENDENT)
        replace_windows(
            conn,
            {"features": features},
            start,
            end,
            asset="vpa_features",
            sessions=sessions_between(start, end),
        )
    summary = feature_summary(features, rules)
    return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="vpa",
    deps=[vpa_features],
    kinds={"duckdb", "polars"},
)
def vpa_signals(context: dg.AssetExecutionContext, store: StoreResource) -> dg.MaterializeResult:
    """Pattern events confirmed on each session (table `events`) and the signal they give."""
    start, end = partition_dates(context)
    rules = load_rules()
    with store.get_connection() as conn:
        margin = rules.max_confirm_bars + CONFIRMATION_MARGIN
        before = require_sessions(conn, "vpa_features", start, end, margin)
        features = read_window(conn, "features", before[0] if before else start, end)
        events = detect_events(features, rules)
        events = events.filter(events["confirmed_at"] >= start)
        signals = compute_signals(features.filter(features["date"] >= start), events, rules)
        replace_windows(
            conn,
            {"events": events, "signals": signals},
            start,
            end,
            asset="vpa_signals",
            sessions=sessions_between(start, end),
        )
    context.log.info(f"{events.height} events, {signals.height} signals")
    summary = signal_summary(events, signals, rules)
    return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})
