"""`analysis_snapshots` and `training_pairs`: each session's analysis frozen, then rendered."""

import time

import dagster as dg

from marketflow_assets.calendar import sessions_between
from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.defs.vpa.assets import vpa_signals
from marketflow_assets.defs.windows import partition_dates, require_sessions
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import read_window
from marketflow_assets.store.windows import replace_windows
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.snapshots import build_snapshots
from marketflow_assets.training.summary import pair_summary, snapshot_summary
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa import load_rules


def require_rules(table: str, hashes: list[str], current: str) -> None:
    """Fail when stored rows were computed with other rules than the ones loaded now."""
    stale = sorted(set(hashes) - {current})
    if stale:
        raise dg.Failure(
            f"{table} in this window were computed with rules {', '.join(h[:12] for h in stale)}, "
            f"not the current {current[:12]}; re-materialise them first."
        )


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="training",
    deps=[vpa_signals],
    kinds={"duckdb", "polars"},
)
def analysis_snapshots(
    context: dg.AssetExecutionContext, store: StoreResource
) -> dg.MaterializeResult:
    """One immutable JSON snapshot per (ticker, session, rules): features, events and signal."""
    start, end = partition_dates(context)
    rules = load_rules()
    with store.get_connection() as conn:
        require_sessions(conn, "vpa_signals", start, end, 0)
        signals = read_window(conn, "signals", start, end)
        require_rules("signals", signals["rules_hash"].unique().to_list(), rules.hash)
        features = read_window(conn, "features", start, end)
        events = read_window(conn, "events", start, end)
        snapshots = build_snapshots(features, events, signals, rules)
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
