"""Outcomes, calibration, snapshots and scorecard through real Dagster runs on a real DuckDB."""

import dataclasses
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from marketflow_assets.calendar import sessions_between
from marketflow_assets.definitions import build_definitions
from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.evening.definitions import DAILY_PIPELINE_JOB as PIPELINE_JOB
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.defs.validation.assets import OUTCOME_ROW_BYTES
from marketflow_assets.defs.validation.definitions import SCORE_OUTCOMES_JOB, SCORECARD_JOB
from marketflow_assets.runs.launch import run_stage
from marketflow_assets.runs.plan import ANALYSIS_ASSETS, FEEDBACK_ASSETS, Stage, staged_backfill
from marketflow_assets.runs.report import failure_reasons
from marketflow_assets.settings import Settings
from marketflow_assets.store.reads import (
    read_counted_outcomes,
    read_of_rules,
    read_scored_events,
    read_window,
)
from marketflow_assets.training.snapshots import load_snapshot
from marketflow_assets.validation.calibration import (
    calibrate,
    calibrate_sorted,
    flags_of_scored_events,
    rule_flags,
)
from marketflow_assets.validation.report import scorecard_markdown
from marketflow_assets.validation.scorecard import (
    GROUP_COLUMNS,
    OUTCOME_INPUT,
    SIGNAL_INPUT,
    build_scorecard,
)
from marketflow_assets_tests.defs.stores import copy_of

START, END = "2009-08-21", "2010-01-29"
# The store holds bars and signals through the end of 2009 first, then through END.
FIRST_HALF_END, SECOND_HALF_START = "2009-12-31", "2010-01-04"
# Its 30-day window (2009-12-16 .. 2010-01-14) reaches into 2010.
LATE_SESSION = "2009-12-15"
SIGNALS = {"BUY", "SELL", "HOLD"}
FEEDBACK = ("calibration", "rule_flags")


def table(settings: Settings, sql: str) -> pl.DataFrame:
    with duckdb.connect(str(settings.duckdb_path), read_only=True) as conn:
        return conn.sql(sql).pl()


def day(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


@dataclass(frozen=True)
class Stored:
    settings: Settings
    # Refusals and the first session, run while bars and signals reached 2009-12-31 only.
    refused_outcomes: dg.ExecuteInProcessResult
    outcomes_after_refusal: int
    refused_calibration: dg.ExecuteInProcessResult
    first_calibration: dg.ExecuteInProcessResult
    first_calibration_rows: pl.DataFrame
    # The stages of the backfill that followed, by job (the outcome stages in order).
    outcome_runs: list[tuple[Stage, dg.ExecuteInProcessResult]]
    feedback: dg.ExecuteInProcessResult
    scorecard: dg.ExecuteInProcessResult
    outcomes: pl.DataFrame


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stored]:
    """The four tickers staged as `staged_backfill` orders it, the bars-to-signals stage run in
    two halves (with the refusals probed in between) and the feedback stage without pairs."""
    tmp_path = tmp_path_factory.mktemp("validation")
    settings = Settings.from_env(
        {"MARKETFLOW_DATA_DIR": str(tmp_path / "data"), "MARKETFLOW_TICKERS": "AAPL,JPM,XOM,MSFT"}
    )
    defs = build_definitions(settings)
    (tmp_path / "home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:
        stages = staged_backfill(START, END, AreaContext.from_settings(settings))
        analysis = next(stages)
        assert analysis == Stage(PIPELINE_JOB, START, END, ANALYSIS_ASSETS)
        first_half = run_stage(
            defs, dataclasses.replace(analysis, end_key=FIRST_HALF_END), instance
        )
        assert first_half.success, failure_reasons(first_half)

        refused_outcomes = run_stage(
            defs, Stage(SCORE_OUTCOMES_JOB, LATE_SESSION, LATE_SESSION), instance
        )
        outcomes_after_refusal = table(settings, "SELECT * FROM outcomes").height
        refused_calibration = run_stage(
            defs,
            Stage(PIPELINE_JOB, FIRST_HALF_END, FIRST_HALF_END, ("signal_calibration",)),
            instance,
        )
        first_calibration = run_stage(
            defs, Stage(PIPELINE_JOB, START, START, ("signal_calibration",)), instance
        )
        first_calibration_rows = table(settings, "SELECT * FROM calibration ORDER BY signal")

        second_half = run_stage(
            defs, dataclasses.replace(analysis, start_key=SECOND_HALF_START), instance
        )
        assert second_half.success, failure_reasons(second_half)

        outcome_runs, later = [], {}
        for stage in stages:
            if stage.select == FEEDBACK_ASSETS:
                # Pairs are tested elsewhere; leaving them out keeps the module fast.
                stage = dataclasses.replace(
                    stage, select=("signal_calibration", "analysis_snapshots")
                )
            result = run_stage(defs, stage, instance)
            assert result.success, (stage, failure_reasons(result))
            if stage.job == SCORE_OUTCOMES_JOB:
                outcome_runs.append((stage, result))
            else:
                later[stage.job] = result
        yield Stored(
            settings=settings,
            refused_outcomes=refused_outcomes,
            outcomes_after_refusal=outcomes_after_refusal,
            refused_calibration=refused_calibration,
            first_calibration=first_calibration,
            first_calibration_rows=first_calibration_rows,
            outcome_runs=outcome_runs,
            feedback=later[PIPELINE_JOB],
            scorecard=later[SCORECARD_JOB],
            outcomes=table(settings, "SELECT * FROM outcomes ORDER BY ticker, date"),
        )


def test_outcomes_refuse_a_window_whose_bars_are_not_all_materialised(stored: Stored) -> None:
    assert not stored.refused_outcomes.success
    reasons = " ".join(failure_reasons(stored.refused_outcomes))
    missing = sessions_between(day(SECOND_HALF_START), day("2010-01-14"))
    assert (
        f"daily_bars has not been materialised for {len(missing)} session(s): "
        f"2010-01-04..2010-01-14" in reasons
    )
    assert stored.outcomes_after_refusal == 0


def test_the_backfill_scores_every_signal_whose_window_is_complete(stored: Stored) -> None:
    # Windows of sessions up to 2009-12-31 end by 2010-01-30, within the bars; January's don't.
    assert [(s.start_key, s.end_key) for s, _ in stored.outcome_runs] == [(START, FIRST_HALF_END)]
    signals = table(
        stored.settings,
        f"SELECT ticker, date FROM signals WHERE date <= DATE '{FIRST_HALF_END}' "
        "ORDER BY ticker, date",
    )
    outcomes = stored.outcomes
    assert outcomes.height == signals.height > 0
    assert outcomes.select("ticker", "date").n_unique() == outcomes.height
    assert_frame_equal(outcomes.select("ticker", "date"), signals)
    _, result = stored.outcome_runs[0]
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {"outcomes_unique_keys": True}
    metadata = result.asset_materializations_for_node("signal_outcomes")[-1].metadata
    assert metadata["dagster/row_count"].value == outcomes.height


def hand_scored(settings: Settings, ticker: str, signal_day: dt.date) -> dict[str, object]:
    """Entry, returns and window of one signal from the stored bars, computed plainly."""
    last_day = signal_day + dt.timedelta(days=30)
    bars = table(
        settings,
        f"SELECT date, open, close FROM bars WHERE ticker = '{ticker}' "
        f"AND date > DATE '{signal_day}' AND date <= DATE '{last_day}' ORDER BY date",
    ).rows(named=True)
    sessions = sessions_between(signal_day + dt.timedelta(days=1), last_day)
    entry = bars[0]["open"]
    # The close of the last bar at most five sessions after the signal's day.
    close_5 = [b["close"] for b in bars if sessions.index(b["date"]) + 1 <= 5][-1]
    return {
        "entry_date": bars[0]["date"],
        "entry_price": entry,
        "ret_5": close_5 / entry - 1,
        "ret_window": bars[-1]["close"] / entry - 1,
        "max_move": max(abs(b["close"] / entry - 1) for b in bars),
        "matured_on": sessions[-1],
        "window_sessions": len(sessions),
        "missing_bars": len(sessions) - len(bars),
    }


def test_stored_returns_agree_with_a_hand_computation_from_the_bars(stored: Stored) -> None:
    scored = stored.outcomes.filter(~pl.col("warmup"))
    picked = [
        *(scored.filter(pl.col("signal") == s).head(1) for s in sorted(SIGNALS)),
        # A window over the sessions the sample lacks (2009-10-29 .. 2009-11-04).
        stored.outcomes.filter(pl.col("missing_bars") > 0).head(1),
    ]
    rows = pl.concat(picked).rows(named=True)
    assert len(rows) == 4
    assert any(row["missing_bars"] > 0 for row in rows)
    for row in rows:
        expected = hand_scored(stored.settings, row["ticker"], row["date"])
        for key, value in expected.items():
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, rel=1e-12), (row["ticker"], key)
            else:
                assert row[key] == value, (row["ticker"], row["date"], key)
        r = row["ret_window"]
        hit = {"BUY": r > 0, "SELL": r < 0, "HOLD": expected["max_move"] < 0.05}[row["signal"]]
        assert row["hit"] is hit


def test_scoring_the_same_range_again_gives_identical_rows(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = copy_of(stored.settings, tmp_path / "copy")
    defs = build_definitions(settings)
    rerun = Stage(SCORE_OUTCOMES_JOB, "2009-11-02", "2009-11-30")
    for _ in range(2):
        result = run_stage(defs, rerun, instance)
        assert result.success, failure_reasons(result)
        again = table(settings, "SELECT * FROM outcomes ORDER BY ticker, date")
        assert_frame_equal(again, stored.outcomes)


def test_a_small_memory_budget_scores_in_chunks_with_the_same_rows(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = copy_of(stored.settings, tmp_path / "copy", memory_mib=1)
    before = {name: table(settings, f"SELECT * FROM {name} ORDER BY ALL") for name in FEEDBACK}
    with duckdb.connect(str(settings.duckdb_path)) as conn:
        conn.execute("DELETE FROM outcomes; DELETE FROM calibration; DELETE FROM rule_flags")
    first, last = stored.outcomes["date"].min(), stored.outcomes["date"].max()
    chunks = RunWindow(first, last, first).chunks(stored.outcomes.height, OUTCOME_ROW_BYTES, 1)
    assert len(chunks) == 3  # 342 signals of 8 KiB in 1 MiB
    defs = build_definitions(settings)

    for stage in (
        Stage(SCORE_OUTCOMES_JOB, first.isoformat(), last.isoformat()),
        Stage(PIPELINE_JOB, START, END, ("signal_calibration",)),
    ):
        result = run_stage(defs, stage, instance)
        assert result.success, failure_reasons(result)

    again = table(settings, "SELECT * FROM outcomes ORDER BY ticker, date")
    assert_frame_equal(again, stored.outcomes)
    for name, frame in before.items():
        assert_frame_equal(table(settings, f"SELECT * FROM {name} ORDER BY ALL"), frame)


def test_the_calibration_reads_what_the_in_memory_functions_count(stored: Stored) -> None:
    path = sessions_between(day(START), day(END))
    rules = AreaContext.from_settings(stored.settings).rules.calibration
    with duckdb.connect(str(stored.settings.duckdb_path), read_only=True) as conn:
        outcomes = conn.sql(f"SELECT * FROM outcomes WHERE matured_on < DATE '{END}'").pl()
        events = read_window(conn, "events", path[0], path[-1])
        # Batches of 3 rows: each signal's rows split across several of them.
        counted = {s: list(read_counted_outcomes(conn, path[-1], s, 3)) for s in SIGNALS}
        scored = list(read_scored_events(conn, path[0], path[-1], path[-1], 3))
    assert all(len(batches) > 1 for batches in counted.values())
    assert sum(b.height for b in scored) > 0
    assert_frame_equal(
        calibrate_sorted(counted.__getitem__, path, rules), calibrate(outcomes, path, rules)
    )
    assert_frame_equal(
        flags_of_scored_events(scored, path, rules), rule_flags(outcomes, events, path, rules)
    )


def test_calibration_refuses_a_session_whose_matured_outcomes_are_missing(
    stored: Stored,
) -> None:
    assert not stored.refused_calibration.success
    reasons = " ".join(failure_reasons(stored.refused_calibration))
    # Windows of sessions through 2009-11-30 closed before 2009-12-31.
    needed = sessions_between(day(START), day("2009-11-30"))
    assert (
        f"signal_outcomes has not been materialised for {len(needed)} session(s): "
        f"{START}..2009-11-30, whose windows closed before {FIRST_HALF_END}" in reasons
    )


def test_calibration_starts_at_one_on_the_first_session(stored: Stored) -> None:
    assert stored.first_calibration.success, failure_reasons(stored.first_calibration)
    rows = stored.first_calibration_rows
    assert rows["date"].to_list() == [day(START)] * 3
    assert rows["signal"].to_list() == ["BUY", "HOLD", "SELL"]
    assert rows["multiplier"].to_list() == [1.0, 1.0, 1.0]
    assert rows["matured"].to_list() == [0, 0, 0]
    first = table(
        stored.settings,
        f"SELECT multiplier FROM calibration WHERE date = DATE '{START}' ORDER BY signal",
    )
    assert first["multiplier"].to_list() == [1.0, 1.0, 1.0]


def test_multipliers_stay_bounded_move_slowly_and_use_only_matured_outcomes(
    stored: Stored,
) -> None:
    calibration = table(stored.settings, "SELECT * FROM calibration ORDER BY signal, date")
    sessions = sessions_between(day(START), day(END))
    assert calibration.height == 3 * len(sessions)
    assert set(calibration["signal"]) == SIGNALS
    assert calibration["multiplier"].is_between(0.5, 2.0).all()
    # The feedback is not idle over this range, so the step bound below is exercised.
    assert (calibration["multiplier"] < 1.0).any()
    steps = calibration.with_columns(
        (pl.col("multiplier") / pl.col("multiplier").shift(1).over("signal") - 1)
        .abs()
        .alias("step")
    )
    assert steps["step"].drop_nulls().max() <= 0.1 + 1e-12
    # Each session counts exactly the outcomes matured before it (the range is within the
    # 365-day lookback).
    counted = table(
        stored.settings,
        "SELECT c.date, c.signal, c.matured, count(o.ticker) AS expected FROM calibration c "
        "LEFT JOIN outcomes o ON o.signal = c.signal AND o.matured_on < c.date "
        "AND NOT o.warmup AND o.hit IS NOT NULL GROUP BY ALL ORDER BY c.date, c.signal",
    )
    assert counted["expected"].max() > 0
    assert (counted["matured"] == counted["expected"]).all()
    checks = {c.check_name: c.passed for c in stored.feedback.get_asset_check_evaluations()}
    assert checks["calibration_unique_keys"] is True


def test_snapshots_carry_the_confidence_calibrated_on_their_own_session(stored: Stored) -> None:
    rows = table(
        stored.settings,
        "SELECT s.ticker, s.as_of, s.signal, s.confidence, s.calibrated_confidence, s.payload, "
        "c.multiplier FROM snapshots s JOIN calibration c ON c.date = s.as_of "
        "AND c.signal = s.signal ORDER BY s.ticker, s.as_of",
    )
    signals = table(stored.settings, "SELECT * FROM signals")
    assert rows.height == signals.height
    assert (rows["multiplier"] != 1.0).sum() > 0
    expected = (rows["confidence"] * rows["multiplier"]).clip(0.0, 1.0)
    assert (rows["calibrated_confidence"] - expected).abs().max() < 1e-12
    for row in rows.iter_rows(named=True):
        document = load_snapshot(row["payload"])
        assert document["signal"]["calibrated_confidence"] == pytest.approx(
            round(row["calibrated_confidence"], 3), abs=1e-9
        )
        assert document["calibration"]["multiplier"] == pytest.approx(
            round(row["multiplier"], 3), abs=1e-9
        )


def test_scorecard_is_stored_written_to_reports_and_shown_as_markdown(stored: Stored) -> None:
    scorecard = table(stored.settings, "SELECT * FROM scorecard")
    assert scorecard.height > 0
    assert set(scorecard["signal"]) == SIGNALS
    rated = scorecard.filter(pl.col("hit_rate").is_not_null())
    assert rated.height > 0
    assert (rated["hit_low"] <= rated["hit_rate"]).all()
    assert (rated["hit_rate"] <= rated["hit_high"]).all()
    overall = scorecard.filter(
        (pl.col("strength") == "all") & (pl.col("pattern") == "all") & (pl.col("period") == "all")
    ).sort("signal")
    matured = (
        stored.outcomes.filter(~pl.col("warmup") & pl.col("hit").is_not_null())
        .group_by("signal")
        .len()
        .sort("signal")
    )
    assert overall["matured"].to_list() == matured["len"].to_list()

    reports = stored.settings.reports_dir
    assert reports == stored.settings.data_dir / "reports"
    markdown = (reports / "scorecard.md").read_text()
    assert (reports / "scorecard.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    metadata = stored.scorecard.asset_materializations_for_node("signal_scorecard")[-1].metadata
    shown = metadata["scorecard"].value
    assert "| Signal | Strength | Pattern |" in shown
    assert markdown == "# Signal scorecard\n\n" + shown
    assert metadata["outcomes"].value == stored.outcomes.height
    assert metadata["dagster/row_count"].value == scorecard.height


def scorecard_of(
    signals: Iterable[pl.DataFrame], outcomes: Iterable[pl.DataFrame], settings: Settings
) -> pl.DataFrame:
    rules = AreaContext.from_settings(settings).rules
    return build_scorecard(
        signals,
        outcomes,
        hold_band=rules.outcomes.hold_band,
        ready_min_matured=rules.scorecard.ready_min_matured,
    )


def test_the_scorecard_of_small_batches_read_from_the_store_is_the_stored_one(
    stored: Stored,
) -> None:
    rules_hash = AreaContext.from_settings(stored.settings).rules.hash
    with duckdb.connect(str(stored.settings.duckdb_path), read_only=True) as conn:
        # Batches of 3 rows: every group's rows split across many of them.
        signals = list(read_of_rules(conn, "signals", rules_hash, SIGNAL_INPUT, 3))
        outcomes = list(read_of_rules(conn, "outcomes", rules_hash, OUTCOME_INPUT, 3))
    assert len(outcomes) > 100
    assert outcomes[0].columns == list(OUTCOME_INPUT)
    batched = scorecard_of(signals, outcomes, stored.settings)
    whole = scorecard_of(
        [table(stored.settings, "SELECT * FROM signals")], [stored.outcomes], stored.settings
    )
    assert_frame_equal(batched, whole)
    assert_frame_equal(
        table(stored.settings, "SELECT * FROM scorecard").sort(GROUP_COLUMNS),
        batched.sort(GROUP_COLUMNS),
    )


def test_the_scorecard_leaves_out_outcomes_of_other_rules_within_a_tiny_budget(
    stored: Stored, tmp_path: Path, instance: dg.DagsterInstance
) -> None:
    settings = copy_of(stored.settings, tmp_path / "copy", memory_mib=1)
    with duckdb.connect(str(settings.duckdb_path)) as conn:
        conn.execute("UPDATE outcomes SET rules_hash = 'older' WHERE ticker = 'AAPL'")
    result = run_stage(build_definitions(settings), Stage(SCORECARD_JOB), instance)
    assert result.success, failure_reasons(result)

    kept = stored.outcomes.filter(pl.col("ticker") != "AAPL")
    metadata = result.asset_materializations_for_node("signal_scorecard")[-1].metadata
    assert metadata["outcomes"].value == kept.height
    assert (
        metadata["outcomes_of_other_rules_left_out"].value == stored.outcomes.height - kept.height
    )
    expected = scorecard_of([table(settings, "SELECT * FROM signals")], [kept], settings)
    assert_frame_equal(
        table(settings, "SELECT * FROM scorecard").sort(GROUP_COLUMNS), expected.sort(GROUP_COLUMNS)
    )
    assert (settings.reports_dir / "scorecard.md").read_text() == (
        "# Signal scorecard\n\n" + scorecard_markdown(expected)
    )
