"""`analysis_snapshots` and `training_pairs`: each session's analysis frozen, then rendered."""

import time

import dagster as dg

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.defs.validation.assets import signal_calibration
from marketflow_assets.defs.vpa.assets import vpa_signals
from marketflow_assets.defs.windows import partition_dates, require_rules, require_sessions
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import read_window
from marketflow_assets.store.windows import replace_windows
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.snapshots import build_snapshots
from marketflow_assets.training.summary import pair_summary, snapshot_summary
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa import load_rules


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="training",
    deps=[vpa_signals, signal_calibration],
    kinds={"duckdb", "polars"},
)
def analysis_snapshots(
    context: dg.AssetExecutionContext, store: StoreResource
) -> dg.MaterializeResult:
    """One immutable JSON snapshot per (ticker, session, rules): features, events, the signal
    with its raw and calibrated confidence, and the day's rules the track record flags."""
    start, end = partition_dates(context)
    rules = load_rules()
    with store.get_connection() as conn:
        require_sessions(conn, "vpa_signals", start, end, 0)
        require_sessions(conn, "signal_calibration", start, end, 0)
        signals = read_window(conn, "signals", start, end)
        calibration = read_window(conn, "calibration", start, end)
        for table, frame in (("signals", signals), ("calibration", calibration)):
            require_rules(table, frame["rules_hash"].unique().to_list(), rules.hash)
        features = read_window(conn, "features", start, end)
        events = read_window(conn, "events", start, end)
        flags = read_window(conn, "rule_flags", start, end)
        snapshots = build_snapshots(features, events, signals, calibration, flags, rules)
        replace_windows(
            conn,
            {"snapshots": snapshots},
            start,
            end,
            asset="analysis_snapshots",
            sessions=sessions_between(start, end),
            scope={"rules_hash": rules.hash},
        )
    summary = snapshot_summary(snapshots)
    return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="training",
    deps=[analysis_snapshots],
    kinds={"duckdb", "jinja"},
)
def training_pairs(
    context: dg.AssetExecutionContext, store: StoreResource, training: TrainingResource
) -> dg.MaterializeResult:
    """Prompt/response pairs of every conversation type for the sessions worth learning from."""
    start, end = partition_dates(context)
    rules = load_rules()
    templates = load_templates(training.templates_dir)
    with store.get_connection() as conn:
        require_sessions(conn, "analysis_snapshots", start, end, 0)
        snapshots = read_window(conn, "snapshots", start, end)
        snapshots = snapshots.filter(snapshots["rules_hash"] == rules.hash)
        selected = select_snapshots(snapshots, training.quiet_sample)
        context.log.info(f"rendering pairs for {selected.height} of {snapshots.height} snapshots")
        began = time.perf_counter()
        pairs = render_pairs(selected, templates)
        seconds = time.perf_counter() - began
        replace_windows(
            conn,
            {"training_pairs": pairs},
            start,
            end,
            asset="training_pairs",
            sessions=sessions_between(start, end),
            scope={"rules_hash": rules.hash},
        )
    hashes = {t.name: t.hash for t in templates}
    summary = pair_summary(selected, pairs, seconds, hashes)
    return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})
