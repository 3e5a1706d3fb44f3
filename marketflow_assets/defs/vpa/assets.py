"""`vpa_features` and `vpa_signals`: point-in-time analysis of each session, from the store.

Both work through a long window in shards of whole tickers sized from the memory budget: every
feature, event and signal is computed per ticker, so a shard gives exactly the rows the whole
universe would (no session-wise chunking, which would move the start of the running windows).
"""

import datetime as dt

import dagster as dg
import duckdb
import polars as pl

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.progress import Progress
from marketflow_assets.store.reads import read_bars, read_window
from marketflow_assets.vpa import compute_features, compute_signals, detect_events
from marketflow_assets.vpa.events import NEEDED as EVENT_NEEDS
from marketflow_assets.vpa.features import ORIGIN_DEPENDENT
from marketflow_assets.vpa.rules import Rules
from marketflow_assets.vpa.signals import NEEDED as SIGNAL_NEEDS
from marketflow_assets.vpa.summary import feature_summary, signal_summary

# Memory one bar costs while its features are computed and written (its bar, its features, the
# working columns of its piece and the copy handed to DuckDB), with room to spare.
FEATURE_ROW_BYTES = 1 << 10
# Memory one feature row costs while its events and signal are computed and written.
SIGNAL_ROW_BYTES = 1 << 10
# What the run's metadata counts, kept from each shard (tickers as categories: 4 bytes a row).
FEATURE_COUNTED = (pl.col("ticker").cast(pl.Categorical), "date", "warmup")
# The feature columns the events and signals read.
SIGNAL_INPUTS = tuple(dict.fromkeys((*EVENT_NEEDS, *SIGNAL_NEEDS)))


def features_of(
    conn: duckdb.DuckDBPyConnection,
    window: RunWindow,
    since: dt.date,
    tickers: list[str],
    rules: Rules,
) -> pl.DataFrame:
    """The features of `tickers` in the window, from their bars since `since` (the history
    their rolling windows need)."""
    bars = read_bars(conn, since, window.end, tickers=tickers, with_splits=True)
    features = compute_features(bars, rules)
    return features.filter(features["date"] >= window.start).drop(ORIGIN_DEPENDENT)


def signals_of(
    conn: duckdb.DuckDBPyConnection,
    window: RunWindow,
    since: dt.date,
    tickers: list[str],
    rules: Rules,
) -> dict[str, pl.DataFrame]:
    """The events confirmed and the signals given in the window by `tickers`, from their
    features since `since` (follow-through confirms events of earlier bars)."""
    features = read_window(
        conn, "features", since, window.end, columns=SIGNAL_INPUTS, tickers=tickers
    )
    events = detect_events(features, rules)
    return {
        "events": events.filter(events["confirmed_at"] >= window.start),
        "signals": compute_signals(
            features.filter(features["date"] >= window.start), events, rules
        ),
    }


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The VPA assets of `area`'s partitions and rules."""
    rules = area.rules
    budget = area.settings.memory_mib

    @area.session_asset(group_name="vpa", deps=["daily_bars"], kinds={"duckdb", "polars"})
    def vpa_features(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """Features of each (ticker, session) from that session's bar and earlier bars only."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            before = window.require(conn, "daily_bars", rules.features["history_sessions"])
            since = before[0] if before else window.start
            shards = window.shards(conn, "bars", since, FEATURE_ROW_BYTES, budget)
            counted = []
            progress = Progress("features", sum(map(len, shards)), unit="tickers")
            with window.sharded_write(conn, ["features"], "vpa_features") as write:
                for tickers in shards:
                    features = features_of(conn, window, since, tickers, rules)
                    write({"features": features})
                    counted.append(features.select(FEATURE_COUNTED))
                    context.log.info(progress.step(len(tickers), features.height))
        summary = feature_summary(pl.concat(counted), rules)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    @area.session_asset(group_name="vpa", deps=["vpa_features"], kinds={"duckdb", "polars"})
    def vpa_signals(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """Pattern events confirmed on each session (table `events`) and the signal they give."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            before = window.require(conn, "vpa_features", rules.signal_history_sessions)
            since = before[0] if before else window.start
            shards = window.shards(conn, "features", since, SIGNAL_ROW_BYTES, budget)
            events, signals = [], []
            progress = Progress("signals", sum(map(len, shards)), unit="tickers")
            with window.sharded_write(conn, ["events", "signals"], "vpa_signals") as write:
                for tickers in shards:
                    frames = signals_of(conn, window, since, tickers, rules)
                    write(frames)
                    events.append(frames["events"].select("rule_id"))
                    signals.append(frames["signals"].select("signal", "strength"))
                    context.log.info(progress.step(len(tickers), frames["signals"].height))
        summary = signal_summary(pl.concat(events), pl.concat(signals), rules)
        context.log.info(f"{summary['events']} events, {summary['rows']} signals")
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    return [vpa_features, vpa_signals]
