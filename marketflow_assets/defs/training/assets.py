"""`analysis_snapshots` and `training_pairs`: each session's analysis frozen, then rendered.

Both work through a long window in chunks of whole sessions sized from the memory budget of
the settings, writing each chunk before reading the next, so a ten-year backfill holds one
chunk at a time; the rows are those of a one-chunk run. The budget covers DuckDB too: its
buffers (and its cache of the file) are held to a part of it, the chunks to the rest. Pairs
are rendered by worker processes (one per core unless the settings say otherwise), with the
rows of one process.
"""

import time

import dagster as dg
import duckdb
import polars as pl

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.defs.run_window import RunWindow, require_rules
from marketflow_assets.parallel import FramePool, available_cores
from marketflow_assets.progress import Progress
from marketflow_assets.settings import Settings
from marketflow_assets.store.connection import DUCKDB_FLOOR_MIB, limit_memory
from marketflow_assets.store.reads import count_window, read_window
from marketflow_assets.training.pairs import render_in_parts, select_snapshots
from marketflow_assets.training.snapshots import build_snapshots
from marketflow_assets.training.summary import (
    pair_counts,
    pair_summary,
    selection_counts,
    snapshot_counts,
    snapshot_summary,
)
from marketflow_assets.training.templates import load_templates
from marketflow_assets.vpa.rules import Rules

# Memory the frames of one snapshot row of a chunk take at their peak in this process (reading,
# building or rendering, writing), measured on 500 tickers x 2,520 sessions with room to spare.
SNAPSHOT_ROW_BYTES = 8 << 10
PAIR_ROW_BYTES = 20 << 10
# DuckDB's part of the memory budget, in percent: its cache of the file's blocks (which fills up
# to its limit over a long run), the sort behind a chunk's read and the insert of its write.
DUCKDB_PERCENT = 40


def frames_budget(conn: duckdb.DuckDBPyConnection, budget_mib: int) -> int:
    """Hold `conn`'s DuckDB to its part of the budget; the MiB left for one chunk's frames
    (at least 1), so that DuckDB and the frames together stay within the budget."""
    duckdb_mib = max(budget_mib * DUCKDB_PERCENT // 100, DUCKDB_FLOOR_MIB)
    limit_memory(conn, duckdb_mib)
    return max(1, budget_mib - duckdb_mib)


def worker_count(settings: Settings) -> int:
    """Processes for CPU-bound work: the settings' count, else one per core."""
    return settings.workers or available_cores()


def snapshots_of(conn: duckdb.DuckDBPyConnection, window: RunWindow, rules: Rules) -> pl.DataFrame:
    """The snapshots of `window` from its stored features, events, signals and calibration."""
    frames = {
        table: read_window(conn, table, window.start, window.end)
        for table in ("features", "events", "signals", "calibration", "rule_flags")
    }
    for table in ("signals", "calibration"):
        require_rules(table, frames[table]["rules_hash"].unique().to_list(), rules.hash)
    return build_snapshots(*frames.values(), rules)


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The training assets of `area`'s partitions and rules."""
    rules = area.rules
    scope = {"rules_hash": rules.hash}
    budget = area.settings.memory_mib

    @area.session_asset(
        group_name="training",
        deps=["vpa_signals", "signal_calibration"],
        kinds={"duckdb", "polars"},
    )
    def analysis_snapshots(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """One immutable JSON snapshot per (ticker, session, rules): features, events, the
        signal with its raw and calibrated confidence, and the day's rules the record flags."""
        window = RunWindow.of(context, area.first_session)
        counts = snapshot_counts()
        with store.get_connection() as conn:
            frames_mib = frames_budget(conn, budget)
            window.require(conn, "vpa_signals")
            window.require(conn, "signal_calibration")
            rows = count_window(conn, "signals", window.start, window.end)
            progress = Progress("snapshots", len(window.sessions))
            for chunk in window.chunks(rows, SNAPSHOT_ROW_BYTES, frames_mib):
                snapshots = snapshots_of(conn, chunk, rules)
                chunk.write(conn, {"snapshots": snapshots}, "analysis_snapshots", scope=scope)
                counts.add(snapshots)
                context.log.info(progress.step(len(chunk.sessions), snapshots.height))
        summary = snapshot_summary(counts)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    @area.session_asset(
        group_name="training", deps=["analysis_snapshots"], kinds={"duckdb", "jinja"}
    )
    def training_pairs(
        context: dg.AssetExecutionContext, store: StoreResource, training: TrainingResource
    ) -> dg.MaterializeResult:
        """Prompt/response pairs of every conversation type for the sessions worth learning
        from."""
        window = RunWindow.of(context, area.first_session)
        templates = load_templates(training.templates_dir)
        selections, pairs_made, seconds = selection_counts(), pair_counts(), 0.0
        with (
            store.get_connection() as conn,
            FramePool(worker_count(area.settings), load_templates, templates.directory) as pool,
        ):
            frames_mib = frames_budget(conn, budget)
            window.require(conn, "analysis_snapshots")
            rows = count_window(conn, "snapshots", window.start, window.end)
            progress = Progress("pairs", len(window.sessions))
            for chunk in window.chunks(rows, PAIR_ROW_BYTES, frames_mib):
                snapshots = read_window(conn, "snapshots", chunk.start, chunk.end)
                snapshots = snapshots.filter(snapshots["rules_hash"] == rules.hash)
                selected = select_snapshots(snapshots, training.share_of_quiet(rules))
                began = time.perf_counter()
                pairs = render_in_parts(selected, templates, pool)
                seconds += time.perf_counter() - began
                chunk.write(conn, {"training_pairs": pairs}, "training_pairs", scope=scope)
                selections.add(selected)
                pairs_made.add(pairs)
                context.log.info(progress.step(len(chunk.sessions), pairs.height))
        hashes = {t.name: t.hash for t in templates}
        summary = pair_summary(selections, pairs_made, seconds, hashes)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    return [analysis_snapshots, training_pairs]
