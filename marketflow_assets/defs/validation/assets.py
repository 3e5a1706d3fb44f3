"""`signal_outcomes`, `signal_calibration` and `signal_scorecard`: the track record of each
signal once its window has passed, what it feeds back, and how each kind of signal fares."""

from pathlib import Path

import dagster as dg
import duckdb
import polars as pl

from marketflow_assets.calendar import describe_sessions, sessions_between
from marketflow_assets.defs.area import STORE_POOL, AreaContext
from marketflow_assets.defs.resources import ReportsResource, StoreResource
from marketflow_assets.defs.run_window import RunWindow, require_rules
from marketflow_assets.progress import Progress
from marketflow_assets.store.reads import (
    count_of_rules,
    count_window,
    matured_rules,
    missing_sessions,
    read_bars,
    read_counted_outcomes,
    read_of_rules,
    read_scored_events,
    read_signals_to_score,
    written_sessions,
)
from marketflow_assets.store.writes import replace_table
from marketflow_assets.validation.calibration import calibration_tables
from marketflow_assets.validation.forward_window import (
    matured_before,
    max_window_sessions,
    window_end,
    window_sessions,
)
from marketflow_assets.validation.outcomes import compute_outcomes
from marketflow_assets.validation.report import write_report
from marketflow_assets.validation.scorecard import OUTCOME_INPUT, SIGNAL_INPUT, build_scorecard
from marketflow_assets.validation.summary import calibration_summary, outcome_summary
from marketflow_assets.vpa.rules import Rules

# Memory one signal costs while it is scored: its window's bars gathered step by step (up to
# the window's sessions), with room to spare.
OUTCOME_ROW_BYTES = 8 << 10
# Memory one matured outcome or scored event costs while the calibration reads it in batches.
CALIBRATION_ROW_BYTES = 256
# Memory one signal or outcome costs while the scorecard sums its batch: the batch, its Arrow copy
# and the per-group sums (about 400 bytes measured), with room to spare. The lean copy of the
# matured rows kept for the medians and rank correlations (about 60 bytes an outcome) comes on top.
SCORECARD_ROW_BYTES = 1 << 10
# What the run's metadata counts, kept from each chunk (words as categories: a few bytes a row).
OUTCOME_COUNTED = (
    pl.col("signal").cast(pl.Categorical),
    "warmup",
    "hit",
    pl.col("barrier").cast(pl.Categorical),
    "bars",
    "missing_bars",
)


def outcomes_of(conn: duckdb.DuckDBPyConnection, window: RunWindow, rules: Rules) -> pl.DataFrame:
    """The outcomes of the signals of `window`, from the bars through its last window's end."""
    signals = read_signals_to_score(conn, window.start, window.end)
    require_rules("signals", signals["rules_hash"].unique().to_list(), rules.hash)
    last = window_end(window.end, rules.outcomes.window_days)
    bars = read_bars(conn, window.start, last, with_splits=True)
    return compute_outcomes(signals, bars, rules=rules)


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The validation assets of `area`'s partitions and rules."""
    rules = area.rules
    window_days = rules.outcomes.window_days
    # The mappings only draw the lineage and the UI's hints: each asset checks the exact window
    # it reads in the store, as the mappings cut windows at the edge of the partitions.
    longest = max_window_sessions(window_days)
    batch_rows = (area.settings.memory_mib << 20) // CALIBRATION_ROW_BYTES
    scorecard_rows = (area.settings.memory_mib << 20) // SCORECARD_ROW_BYTES

    @area.session_asset(
        group_name="validation",
        deps=[
            "vpa_signals",
            dg.AssetDep(
                "daily_bars",
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=1, end_offset=longest, allow_nonexistent_upstream_partitions=True
                ),
            ),
        ],
        kinds={"duckdb", "polars"},
        evening=False,
    )
    def signal_outcomes(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """What followed each signal of D over its forward window: returns, excursions, hit,
        barrier. Refuses a window whose `daily_bars` sessions are not all in the store."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            window.require(conn, "vpa_signals")
            needed = window_sessions(window.start, window.end, window_days=window_days)
            missing = missing_sessions(conn, "daily_bars", needed)
            if missing:
                raise dg.Failure(
                    f"the {window_days}-day windows of {window.start}..{window.end} are not "
                    f"complete: daily_bars has not been materialised for "
                    f"{describe_sessions(missing)}. The validation sensor requests each session "
                    "once its window is complete."
                )
            rows = count_window(conn, "signals", window.start, window.end)
            counted, progress = [], Progress("outcomes", len(window.sessions))
            for chunk in window.chunks(rows, OUTCOME_ROW_BYTES, area.settings.memory_mib):
                outcomes = outcomes_of(conn, chunk, rules)
                chunk.write(conn, {"outcomes": outcomes}, "signal_outcomes")
                counted.append(outcomes.select(OUTCOME_COUNTED))
                context.log.info(progress.step(len(chunk.sessions), outcomes.height))
        summary = outcome_summary(pl.concat(counted))
        return dg.MaterializeResult(metadata={**summary, "dagster/row_count": summary["rows"]})

    @area.session_asset(
        group_name="validation",
        deps=[
            dg.AssetDep(
                "signal_outcomes",
                # The latest session whose window has surely closed before D.
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-longest - 1,
                    end_offset=-longest - 1,
                    allow_nonexistent_upstream_partitions=True,
                ),
            )
        ],
        kinds={"duckdb", "polars"},
    )
    def signal_calibration(
        context: dg.AssetExecutionContext, store: StoreResource
    ) -> dg.MaterializeResult:
        """The confidence multiplier of each signal type and the flagged rules at D, from
        outcomes matured before D's session only (tables `calibration` and `rule_flags`)."""
        window = RunWindow.of(context, area.first_session)
        path = sessions_between(area.first_session, window.end)
        with store.get_connection() as conn:
            # Sessions never analysed (before the data begins) have no signal to score.
            analysed = written_sessions(conn, "vpa_signals")
            matured = matured_before(path, window.end, window_days)
            missing = missing_sessions(
                conn, "signal_outcomes", [d for d in matured if d in analysed]
            )
            if missing:
                raise dg.Failure(
                    f"signal_outcomes has not been materialised for {describe_sessions(missing)}, "
                    f"whose windows closed before {window.end}; the calibration needs every "
                    "matured outcome. Turn on the validation sensor or run `marketflow backfill`."
                )
            require_rules("outcomes", matured_rules(conn, window.end), rules.hash)
            frames = calibration_tables(
                lambda signal: read_counted_outcomes(conn, window.end, signal, batch_rows),
                read_scored_events(conn, path[0], window.end, window.end, batch_rows),
                path,
                window.start,
                rules,
            )
            window.write(conn, frames, "signal_calibration")
        return dg.MaterializeResult(
            metadata=calibration_summary(frames["calibration"], frames["rule_flags"])
        )

    @dg.asset(
        pool=STORE_POOL,
        group_name="validation",
        deps=["signal_outcomes"],
        kinds={"duckdb", "polars"},
        # Rebuilt by the automation sensor once newly scored outcomes stop arriving.
        automation_condition=dg.AutomationCondition.eager(),
    )
    def signal_scorecard(
        context: dg.AssetExecutionContext, store: StoreResource, reports: ReportsResource
    ) -> dg.MaterializeResult:
        """Hit rates with Wilson intervals against the base rate, returns, excursions and
        calibration per signal type, strength, pattern and year, over every matured outcome."""
        with store.get_connection() as conn:
            outcomes, other_rules = count_of_rules(conn, "outcomes", rules.hash)
            scorecard = build_scorecard(
                read_of_rules(conn, "signals", rules.hash, SIGNAL_INPUT, scorecard_rows),
                read_of_rules(conn, "outcomes", rules.hash, OUTCOME_INPUT, scorecard_rows),
                hold_band=rules.outcomes.hold_band,
                ready_min_matured=rules.scorecard.ready_min_matured,
            )
            replace_table(conn, "scorecard", scorecard)
        if other_rules:
            context.log.warning(f"{other_rules} outcome(s) of other rules left out; re-score them")
        report = write_report(scorecard, Path(reports.reports_dir))
        context.log.info(f"scorecard of {outcomes} outcomes: {report.markdown_path}")
        return dg.MaterializeResult(
            metadata={
                "scorecard": dg.MetadataValue.md(report.markdown),
                "plot": dg.MetadataValue.md(report.image_markdown),
                "report": dg.MetadataValue.path(str(report.markdown_path)),
                "plot_file": dg.MetadataValue.path(str(report.image_path)),
                "outcomes": outcomes,
                "outcomes_of_other_rules_left_out": other_rules,
                "dagster/row_count": scorecard.height,
            }
        )

    return [signal_outcomes, signal_calibration, signal_scorecard]
