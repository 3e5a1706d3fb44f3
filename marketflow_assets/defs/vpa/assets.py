"""`vpa_features` and `vpa_signals`: point-in-time analysis of each session, from the store."""

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.store.reads import read_bars, read_window
from marketflow_assets.vpa import compute_features, compute_signals, detect_events
from marketflow_assets.vpa.features import ORIGIN_DEPENDENT
from marketflow_assets.vpa.summary import feature_summary, signal_summary


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The VPA assets of `area`'s partitions and rules."""
    rules = area.rules

    @area.session_asset(group_name="vpa", deps=["daily_bars"], kinds={"duckdb", "polars"})
    def vpa_features(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """Features of each (ticker, session) from that session's bar and earlier bars only."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            before = window.require(conn, "daily_bars", rules.features["history_sessions"])
            bars = read_bars(
                conn, before[0] if before else window.start, window.end, with_splits=True
            )
            context.log.info(f"computing features of {bars.height} bars ({len(before)} earlier)")
            features = compute_features(bars, rules)
            features = features.filter(features["date"] >= window.start).drop(ORIGIN_DEPENDENT)
            window.write(conn, {"features": features}, "vpa_features")
        summary = feature_summary(features, rules)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    @area.session_asset(group_name="vpa", deps=["vpa_features"], kinds={"duckdb", "polars"})
    def vpa_signals(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """Pattern events confirmed on each session (table `events`) and the signal they give."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            before = window.require(conn, "vpa_features", rules.signal_history_sessions)
            features = read_window(
                conn, "features", before[0] if before else window.start, window.end
            )
            events = detect_events(features, rules)
            events = events.filter(events["confirmed_at"] >= window.start)
            signals = compute_signals(
                features.filter(features["date"] >= window.start), events, rules
            )
            window.write(conn, {"events": events, "signals": signals}, "vpa_signals")
        context.log.info(f"{events.height} events, {signals.height} signals")
        summary = signal_summary(events, signals, rules)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    return [vpa_features, vpa_signals]
