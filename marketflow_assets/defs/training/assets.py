"""`analysis_snapshots` and `training_pairs`: each session's analysis frozen, then rendered."""

import time

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.defs.run_window import RunWindow, require_rules
from marketflow_assets.store.reads import read_window
from marketflow_assets.training.pairs import render_pairs, select_snapshots
from marketflow_assets.training.snapshots import build_snapshots
from marketflow_assets.training.summary import pair_summary, snapshot_summary
from marketflow_assets.training.templates import load_templates


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The training assets of `area`'s partitions and rules."""
    rules = area.rules

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
        with store.get_connection() as conn:
            window.require(conn, "vpa_signals")
            window.require(conn, "signal_calibration")
            frames = {
                table: read_window(conn, table, window.start, window.end)
                for table in ("features", "events", "signals", "calibration", "rule_flags")
            }
            for table in ("signals", "calibration"):
                require_rules(table, frames[table]["rules_hash"].unique().to_list(), rules.hash)
            snapshots = build_snapshots(
                frames["features"],
                frames["events"],
                frames["signals"],
                frames["calibration"],
                frames["rule_flags"],
                rules,
            )
            window.write(
                conn,
                {"snapshots": snapshots},
                "analysis_snapshots",
                scope={"rules_hash": rules.hash},
            )
        summary = snapshot_summary(snapshots)
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
        with store.get_connection() as conn:
            window.require(conn, "analysis_snapshots")
            snapshots = read_window(conn, "snapshots", window.start, window.end)
            snapshots = snapshots.filter(snapshots["rules_hash"] == rules.hash)
            selected = select_snapshots(snapshots, training.share_of_quiet(rules))
            context.log.info(f"rendering pairs for {selected.height} of {snapshots.height}")
            began = time.perf_counter()
            pairs = render_pairs(selected, templates)
            seconds = time.perf_counter() - began
            window.write(
                conn,
                {"training_pairs": pairs},
                "training_pairs",
                scope={"rules_hash": rules.hash},
            )
        hashes = {t.name: t.hash for t in templates}
        summary = pair_summary(selected, pairs, seconds, hashes)
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    return [analysis_snapshots, training_pairs]
