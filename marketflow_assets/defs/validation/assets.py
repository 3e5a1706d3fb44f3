"""`signal_outcomes`, `signal_calibration` and `signal_scorecard`: the track record of each
signal once its window has passed, what it feeds back, and how each kind of signal fares."""

from pathlib import Path

import dagster as dg
import polars as pl

from marketflow_assets.calendar import describe_sessions, sessions_between
from marketflow_assets.defs.bars.assets import daily_bars
from marketflow_assets.defs.resources import ReportsResource, StoreResource
from marketflow_assets.defs.vpa.assets import vpa_signals
from marketflow_assets.defs.windows import (
    first_session,
    partition_dates,
    require_rules,
    require_sessions,
)
from marketflow_assets.partitions import trading_days
from marketflow_assets.store.reads import (
    missing_sessions,
    read_bars,
    read_matured_outcomes,
    read_of_rules,
    read_signals_to_score,
    read_window,
    written_sessions,
)
from marketflow_assets.store.windows import replace_table, replace_windows
from marketflow_assets.validation.calibration import calibrate, rule_flags
from marketflow_assets.validation.outcomes import compute_outcomes
from marketflow_assets.validation.report import write_report
from marketflow_assets.validation.scorecard import build_scorecard
from marketflow_assets.validation.summary import calibration_summary, outcome_summary
from marketflow_assets.validation.windows import matured_before, window_sessions
from marketflow_assets.vpa import load_rules

# A 30-day window holds at most 22 sessions. The mappings below only draw the lineage and the
# UI's hints; each asset checks the exact window it reads in the store.
MAX_WINDOW_SESSIONS = 22


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="validation",
    deps=[
        vpa_signals,
        dg.AssetDep(
            daily_bars,
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=1,
                end_offset=MAX_WINDOW_SESSIONS,
                allow_nonexistent_upstream_partitions=True,
            ),
        ),
    ],
    kinds={"duckdb", "polars"},
)
def signal_outcomes(
    context: dg.AssetExecutionContext, store: StoreResource
) -> dg.MaterializeResult:
    """What followed each signal of D over (D, D + 30 days]: returns, excursions, hit, barrier.
    Refuses a window whose `daily_bars` sessions are not all in the store."""
    start, end = partition_dates(context)
    rules = load_rules()
    with store.get_connection() as conn:
        require_sessions(conn, "vpa_signals", start, end, 0)
        needed = window_sessions(start, end, rules.outcomes.window_days)
        missing = missing_sessions(conn, "daily_bars", needed)
        if missing:
            raise dg.Failure(
                f"the {rules.outcomes.window_days}-day windows of {start}..{end} are not complete: "
                f"daily_bars has not been materialised for {describe_sessions(missing)}. "
                "The validation sensor requests each session once its window is complete."
            )
        signals = read_signals_to_score(conn, start, end)
        require_rules("signals", signals["rules_hash"].unique().to_list(), rules.hash)
        bars = read_bars(conn, start, needed[-1], with_splits=True)
        outcomes = compute_outcomes(signals, bars, rules.outcomes.window_days, rules=rules)
        replace_windows(
            conn,
            {"outcomes": outcomes},
            start,
            end,
            asset="signal_outcomes",
            sessions=sessions_between(start, end),
        )
    summary = outcome_summary(outcomes)
    return dg.MaterializeResult(metadata={**summary, "dagster/row_count": outcomes.height})


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="validation",
    deps=[
        dg.AssetDep(
            signal_outcomes,
            # The latest session whose window has surely closed before D.
            partition_mapping=dg.TimeWindowPartitionMapping(
                start_offset=-MAX_WINDOW_SESSIONS - 1,
                end_offset=-MAX_WINDOW_SESSIONS - 1,
                allow_nonexistent_upstream_partitions=True,
            ),
        )
    ],
    kinds={"duckdb", "polars"},
)
def signal_calibration(
    context: dg.AssetExecutionContext, store: StoreResource
) -> dg.MaterializeResult:
    """The confidence multiplier of each signal type and the flagged rules at D, from outcomes
    matured before D's session only (tables `calibration` and `rule_flags`)."""
    start, end = partition_dates(context)
    rules = load_rules()
    path = sessions_between(first_session(), end)
    with store.get_connection() as conn:
        # Sessions never analysed (before the data begins) have no signal to score.
        analysed = written_sessions(conn, "vpa_signals")
        needed = [d for d in matured_before(path, end, rules.outcomes.window_days) if d in analysed]
        missing = missing_sessions(conn, "signal_outcomes", needed)
        if missing:
            raise dg.Failure(
                f"signal_outcomes has not been materialised for {describe_sessions(missing)}, "
                f"whose windows closed before {end}; the calibration needs every matured "
                "outcome. Turn on the validation sensor or run `marketflow backfill`."
            )
        outcomes = read_matured_outcomes(conn, end)
        require_rules("outcomes", outcomes["rules_hash"].unique().to_list(), rules.hash)
        events = read_window(conn, "events", path[0], end)
        stamp = {"rules_version": pl.lit(rules.version), "rules_hash": pl.lit(rules.hash)}
        frames = {
            "calibration": calibrate(outcomes, path, rules.calibration),
            "rule_flags": rule_flags(outcomes, events, path, rules.calibration),
        }
        frames = {
            table: frame.filter(frame["date"] >= start).with_columns(**stamp)
            for table, frame in frames.items()
        }
        replace_windows(
            conn,
            frames,
            start,
            end,
            asset="signal_calibration",
            sessions=sessions_between(start, end),
        )
    summary = calibration_summary(frames["calibration"], frames["rule_flags"])
    return dg.MaterializeResult(metadata=summary)


@dg.asset(
    pool="duckdb",
    group_name="validation",
    deps=[signal_outcomes],
    kinds={"duckdb", "polars"},
    # Rebuilt by the automation sensor once newly scored outcomes stop arriving.
    automation_condition=dg.AutomationCondition.eager(),
)
def signal_scorecard(
    context: dg.AssetExecutionContext, store: StoreResource, reports: ReportsResource
) -> dg.MaterializeResult:
    """Hit rates with Wilson intervals against the base rate, returns, excursions and
    calibration per signal type, strength, pattern and year, over every matured outcome."""
    rules = load_rules()
    with store.get_connection() as conn:
        outcomes, other_rules = read_of_rules(conn, "outcomes", rules.hash)
        signals, _ = read_of_rules(conn, "signals", rules.hash)
        scorecard = build_scorecard(signals, outcomes, hold_band=rules.outcomes.hold_band)
        replace_table(conn, "scorecard", scorecard)
    if other_rules:
        context.log.warning(f"{other_rules} outcome(s) of other rules left out; re-score them")
    report = write_report(scorecard, Path(reports.reports_dir))
    context.log.info(f"scorecard of {outcomes.height} outcomes written to {report.markdown_path}")
    return dg.MaterializeResult(
        metadata={
            "scorecard": dg.MetadataValue.md(report.markdown),
            "plot": dg.MetadataValue.md(report.image_markdown),
            "report": dg.MetadataValue.path(str(report.markdown_path)),
            "plot_file": dg.MetadataValue.path(str(report.image_path)),
            "outcomes": outcomes.height,
            "outcomes_of_other_rules_left_out": other_rules,
            "dagster/row_count": scorecard.height,
        }
    )
