"""Calibration feedback: multipliers per signal type and rule failure flags, point in time.

Hand-built outcomes show each rule of the multiplier (known target, steps, bounds, too few
outcomes, lookback expiry) and of the flags (window edges, directions, warm-up). A seeded random
history then checks that nothing computed for session D uses an outcome that matured on or after
D, with the same check run against deliberately leaky variants that it must catch.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Sequence

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from marketflow_assets.validation.calibration import (
    CALIBRATION_COLUMNS,
    CALIBRATION_SCHEMA,
    COUNTED_COLUMNS,
    RULE_FLAG_COLUMNS,
    RULE_FLAG_SCHEMA,
    RULE_IDS,
    SIGNALS,
    calibrate,
    calibrate_sorted,
    flags_of_scored_events,
    rule_flags,
    scored_events,
)
from marketflow_assets.vpa import load_rules
from marketflow_assets.vpa.events import EVENTS_SCHEMA
from marketflow_assets.vpa.rules import PATTERN_IDS, CalibrationRules

RULES = load_rules().calibration
DAY = dt.timedelta(days=1)
START = dt.date(2024, 1, 2)
OUTCOMES_SCHEMA = pl.Schema(
    {
        "ticker": pl.String,
        "date": pl.Date,
        "signal": pl.String,
        "confidence": pl.Float64,
        "warmup": pl.Boolean,
        "matured_on": pl.Date,
        "ret_window": pl.Float64,
        "hit": pl.Boolean,
    }
)

Frames = dict[str, pl.DataFrame]
Pipeline = Callable[[pl.DataFrame, pl.DataFrame], Frames]


def days_from(start: dt.date, count: int) -> list[dt.date]:
    """`count` consecutive calendar days from `start` (sessions need not be weekdays here)."""
    return [start + k * DAY for k in range(count)]


def weekdays(start: dt.date, count: int) -> list[dt.date]:
    """`count` weekdays from `start`."""
    days = []
    day = start
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day += DAY
    return days


def batch(
    signal: str,
    count: int,
    hits: int,
    confidence: float,
    matured_on: dt.date,
    *,
    warmup: bool = False,
    prefix: str = "T",
) -> pl.DataFrame:
    """`count` outcomes of `signal` that matured on `matured_on`, the first `hits` of them hits."""
    return pl.DataFrame(
        {
            "ticker": [f"{prefix}{i}" for i in range(count)],
            "date": matured_on - 30 * DAY,
            "signal": signal,
            "confidence": confidence,
            "warmup": warmup,
            "matured_on": matured_on,
            "ret_window": 0.01,
            "hit": [i < hits for i in range(count)],
        },
        schema=OUTCOMES_SCHEMA,
    )


def column(frame: pl.DataFrame, key: str, value: str, name: str) -> list:
    """Column `name` of the rows whose `key` is `value`, in date order."""
    return frame.filter(pl.col(key) == value).sort("date")[name].to_list()


# calibrate: hand-built cases


def test_multiplier_steps_toward_a_known_target_then_settles() -> None:
    sessions = days_from(START, 8)
    # 40 BUY outcomes at confidence 0.5 with 30 hits: 0.75 / 0.5 = 1.5.
    out = calibrate(batch("BUY", 40, 30, 0.5, START), sessions, RULES)
    assert out.schema == CALIBRATION_SCHEMA
    assert tuple(out.columns) == CALIBRATION_COLUMNS
    assert out.height == 8 * 3
    assert_frame_equal(out, out.sort("date", "signal"))
    # Matured on the first session: not part of that session's calibration, only of the next.
    assert column(out, "signal", "BUY", "matured") == [0] + [40] * 7
    assert column(out, "signal", "BUY", "hit_rate") == [None] + [0.75] * 7
    assert column(out, "signal", "BUY", "mean_confidence") == [None] + [0.5] * 7
    assert column(out, "signal", "BUY", "target") == [None] + [1.5] * 7
    assert column(out, "signal", "BUY", "multiplier") == pytest.approx(
        [1.0, 1.1, 1.21, 1.331, 1.4641, 1.5, 1.5, 1.5], rel=1e-12
    )
    for other in ("SELL", "HOLD"):
        assert column(out, "signal", other, "matured") == [0] * 8
        assert column(out, "signal", other, "target") == [None] * 8
        assert column(out, "signal", other, "multiplier") == [1.0] * 8


def test_target_is_clipped_to_the_bounds() -> None:
    sessions = days_from(START + DAY, 9)
    outcomes = pl.concat(
        [
            # All hits at confidence 0.1: 1.0 / 0.1 = 10, clipped to 2.0.
            batch("SELL", 40, 40, 0.1, START, prefix="S"),
            # 4 hits in 40 at confidence 0.9: 0.1 / 0.9 = 0.11, clipped to 0.5.
            batch("HOLD", 40, 4, 0.9, START, prefix="H"),
        ]
    )
    out = calibrate(outcomes, sessions, RULES)
    assert column(out, "signal", "SELL", "target") == [2.0] * 9
    assert column(out, "signal", "HOLD", "target") == [0.5] * 9
    rising = [1.1**k for k in range(1, 8)] + [2.0, 2.0]
    falling = [0.9**k for k in range(1, 7)] + [0.5, 0.5, 0.5]
    assert column(out, "signal", "SELL", "multiplier") == pytest.approx(rising, rel=1e-12)
    assert column(out, "signal", "HOLD", "multiplier") == pytest.approx(falling, rel=1e-12)


def test_too_few_outcomes_leave_the_multiplier_at_one() -> None:
    sessions = days_from(START + DAY, 3)
    outcomes = pl.concat(
        [
            batch("BUY", 29, 29, 0.5, START),
            # Neither warm-up rows nor outcomes without a hit bring it to min_outcomes (30).
            batch("BUY", 5, 5, 0.5, START, warmup=True, prefix="W"),
            batch("BUY", 5, 0, 0.5, START, prefix="N").with_columns(hit=None),
        ]
    )
    out = calibrate(outcomes, sessions, RULES)
    assert column(out, "signal", "BUY", "matured") == [29] * 3
    assert column(out, "signal", "BUY", "hit_rate") == [1.0] * 3
    assert column(out, "signal", "BUY", "target") == [None] * 3
    assert column(out, "signal", "BUY", "multiplier") == [1.0] * 3


def test_multiplier_holds_when_outcomes_leave_the_lookback() -> None:
    rules = dataclasses.replace(RULES, lookback_days=7)
    sessions = days_from(START + DAY, 10)
    out = calibrate(batch("BUY", 40, 30, 0.5, START), sessions, rules)
    # In [D - 7, D) up to D = START + 7 days, then gone: the multiplier stays, it is not reset.
    assert column(out, "signal", "BUY", "matured") == [40] * 7 + [0] * 3
    assert column(out, "signal", "BUY", "target") == [1.5] * 7 + [None] * 3
    assert column(out, "signal", "BUY", "multiplier") == pytest.approx(
        [1.1, 1.21, 1.331, 1.4641, 1.5, 1.5, 1.5, 1.5, 1.5, 1.5], rel=1e-12
    )


def test_zero_mean_confidence_gives_no_target() -> None:
    out = calibrate(batch("SELL", 40, 30, 0.0, START), [START + DAY], RULES)
    row = out.filter(pl.col("signal") == "SELL").row(0, named=True)
    assert (row["matured"], row["mean_confidence"], row["target"]) == (40, 0.0, None)
    assert row["multiplier"] == 1.0


def test_no_outcomes_and_no_sessions() -> None:
    empty = pl.DataFrame(schema=OUTCOMES_SCHEMA)
    out = calibrate(empty, [START, START + DAY], RULES)
    assert out["matured"].to_list() == [0] * 6
    assert out["multiplier"].to_list() == [1.0] * 6
    assert calibrate(empty, [], RULES).schema == CALIBRATION_SCHEMA


# A batch of outcomes of one signal type maturing together: (signal, confidence, hits, misses,
# without hit, warm-up, day). Whole batches of hits or misses push targets to the bounds.
BATCHES = st.lists(
    st.tuples(
        st.sampled_from(SIGNALS),
        st.floats(0.0, 1.0),
        st.integers(0, 8),
        st.integers(0, 8),
        st.integers(0, 2),
        st.booleans(),
        st.integers(0, 39),
    ),
    max_size=40,
)


@settings(max_examples=25, deadline=None)
@given(
    batches=BATCHES,
    max_step=st.floats(0.01, 0.5),
    low=st.floats(0.1, 1.0),
    high=st.floats(1.0, 5.0),
    min_outcomes=st.integers(1, 8),
)
def test_multiplier_moves_at_most_max_step_toward_target_within_bounds(
    batches: list[tuple[str, float, int, int, int, bool, int]],
    max_step: float,
    low: float,
    high: float,
    min_outcomes: int,
) -> None:
    rules = CalibrationRules(
        lookback_days=10,
        min_outcomes=min_outcomes,
        bounds=(low, high),
        max_step=max_step,
        failure_days=30,
        failure_flag=3,
    )
    rows = [
        (signal, confidence, hit, warmup, START + day * DAY)
        for signal, confidence, hits, misses, unscored, warmup, day in batches
        for hit in [True] * hits + [False] * misses + [None] * unscored
    ]
    outcomes = pl.DataFrame(
        rows,
        schema={
            "signal": pl.String,
            "confidence": pl.Float64,
            "hit": pl.Boolean,
            "warmup": pl.Boolean,
            "matured_on": pl.Date,
        },
        orient="row",
    )
    out = calibrate(outcomes, days_from(START, 40), rules)
    for kind in SIGNALS:
        path = np.array(column(out, "signal", kind, "multiplier"))
        target = np.array(column(out, "signal", kind, "target"), dtype=float)  # null -> nan
        before = np.concatenate(([1.0], path[:-1]))
        assert np.all(np.abs(path / before - 1) <= max_step * (1 + 1e-12))
        assert np.all((path >= low) & (path <= high))
        held = np.isnan(target)
        assert np.array_equal(path[held], before[held])
        # Toward the target: never further from it than the session before.
        moved = ~held
        assert np.all(np.abs(path - target)[moved] <= np.abs(before - target)[moved] + 1e-12)


# rule_flags: hand-built cases

D = dt.date(2024, 3, 1)  # a Friday
NEXT = dt.date(2024, 3, 4)


def flag_case(*cases: tuple) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Outcomes and events from (rule_id, direction, ret_window, matured_on[, warmup]) cases,
    one ticker each; each event is confirmed on its bar and scored by that bar's outcome."""
    outcomes, events = [], []
    for i, (rule_id, direction, ret_window, matured_on, *warmup) in enumerate(cases):
        ticker, bar = f"T{i}", matured_on - 30 * DAY
        flags = (bool(warmup and warmup[0]), matured_on, ret_window, None)
        outcomes.append((ticker, bar, "HOLD", 0.5, *flags))
        events.append((ticker, bar, rule_id, 1, direction, 0.6, bar, "1.2.0", "hash"))
    return (
        pl.DataFrame(outcomes, schema=OUTCOMES_SCHEMA, orient="row"),
        pl.DataFrame(events, schema=EVENTS_SCHEMA, orient="row"),
    )


def flag_row(flags: pl.DataFrame, rule_id: str, day: dt.date = D) -> tuple:
    """(events, failures, failure_rate, flagged) of a rule at a session."""
    row = flags.filter((pl.col("rule_id") == rule_id) & (pl.col("date") == day))
    return row.select("events", "failures", "failure_rate", "flagged").row(0)


def test_three_failures_in_the_window_flag_a_rule_two_do_not() -> None:
    outcomes, events = flag_case(
        # spring (bullish): three failures (a flat window fails too), one at the window's edge.
        ("spring", "bullish", -0.02, D - DAY),
        ("spring", "bullish", 0.0, D - 10 * DAY),
        ("spring", "bullish", -0.05, D - 30 * DAY),
        ("spring", "bullish", 0.03, D - 5 * DAY),
        # upthrust (bearish): two failures in the window, one just outside it.
        ("upthrust", "bearish", 0.01, D - 2 * DAY),
        ("upthrust", "bearish", 0.0, D - 3 * DAY),
        ("upthrust", "bearish", -0.04, D - 4 * DAY),
        ("upthrust", "bearish", 0.05, D - 31 * DAY),
    )
    flags = rule_flags(outcomes, events, [D], RULES)
    assert flags.schema == RULE_FLAG_SCHEMA
    assert tuple(flags.columns) == RULE_FLAG_COLUMNS
    assert flags["rule_id"].to_list() == sorted(PATTERN_IDS) == list(RULE_IDS)
    assert flag_row(flags, "spring") == (4, 3, 0.75, True)
    assert flag_row(flags, "upthrust") == (3, 2, 2 / 3, False)
    assert flag_row(flags, "hammer") == (0, 0, None, False)


def test_failure_matured_on_the_session_counts_from_the_next_session() -> None:
    outcomes, events = flag_case(
        ("hammer", "bullish", -0.01, D - 3 * DAY),
        ("hammer", "bullish", -0.01, D - 4 * DAY),
        ("hammer", "bullish", -0.01, D),
    )
    flags = rule_flags(outcomes, events, [NEXT, D], RULES)
    assert flags["date"].to_list() == [D] * 12 + [NEXT] * 12
    assert flag_row(flags, "hammer", D) == (2, 2, 1.0, False)
    assert flag_row(flags, "hammer", NEXT) == (3, 3, 1.0, True)


def test_failure_depends_on_the_event_direction() -> None:
    returns = (-0.02, -0.01, 0.0, 0.01)
    outcomes, events = flag_case(
        *(("no_supply", "bullish", r, D - DAY) for r in returns),
        *(("no_demand", "bearish", r, D - DAY) for r in returns),
    )
    flags = rule_flags(outcomes, events, [D], RULES)
    # Bullish fails at ret_window <= 0, bearish at ret_window >= 0.
    assert flag_row(flags, "no_supply") == (4, 3, 0.75, True)
    assert flag_row(flags, "no_demand") == (4, 2, 0.5, False)


def test_warmup_and_unscored_outcomes_are_not_counted() -> None:
    outcomes, events = flag_case(
        ("shooting_star", "bearish", 0.02, D - DAY),
        ("shooting_star", "bearish", 0.02, D - DAY, True),
        ("shooting_star", "bearish", 0.02, D - DAY, True),
        ("shooting_star", "bearish", None, D - DAY),
    )
    flags = rule_flags(outcomes, events, [D], RULES)
    assert flag_row(flags, "shooting_star") == (1, 1, 1.0, False)


def test_event_is_scored_by_the_outcome_of_its_confirmation_day() -> None:
    bar, confirmed = D - 40 * DAY, D - 37 * DAY
    outcomes = pl.DataFrame(
        [
            ("T0", bar, "BUY", 0.5, False, D - 5 * DAY, 0.05, True),
            ("T0", confirmed, "SELL", 0.5, False, D - 2 * DAY, -0.05, True),
        ],
        schema=OUTCOMES_SCHEMA,
        orient="row",
    )
    events = pl.DataFrame(
        [("T0", bar, "spring", 1, "bullish", 0.6, confirmed, "1.2.0", "hash")],
        schema=EVENTS_SCHEMA,
        orient="row",
    )
    assert flag_row(rule_flags(outcomes, events, [D], RULES), "spring") == (1, 1, 1.0, False)


# Bad input


def test_missing_columns_are_named() -> None:
    outcomes = batch("BUY", 3, 1, 0.5, START)
    with pytest.raises(ValueError, match=r"outcomes lack column\(s\) matured_on, hit"):
        calibrate(outcomes.drop("hit", "matured_on"), [START], RULES)
    _, events = flag_case(("spring", "bullish", -0.01, D))
    with pytest.raises(ValueError, match=r"outcomes lack column\(s\) ret_window"):
        rule_flags(outcomes.drop("ret_window"), events, [D], RULES)
    with pytest.raises(ValueError, match=r"events lack column\(s\) confirmed_at"):
        rule_flags(outcomes, events.drop("confirmed_at"), [D], RULES)


# Point in time: the rows of D ignore every outcome that matured on or after D.

PIT_RULES = dataclasses.replace(RULES, lookback_days=45, min_outcomes=10)
SESSIONS = weekdays(START, 140)


def random_history(seed: int, tickers: int = 6) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Seeded outcomes (a signal per ticker and session, matured on the last session within 30
    days) and events on about a third of them, some confirmed a few sessions after their bar."""
    rng = np.random.default_rng(seed)
    days = pl.Series(SESSIONS, dtype=pl.Date)
    day = days.to_physical().to_numpy()
    matured = np.searchsorted(day, day + 30, side="right") - 1
    ripe = day + 30 <= day[-1]
    n = int(ripe.sum())
    frames = []
    for t in range(tickers):
        ret = rng.normal(0.0, 0.05, n)
        signal = rng.choice(np.array(SIGNALS), n)
        frame = pl.DataFrame(
            {
                "ticker": f"T{t}",
                "date": days.filter(pl.Series(ripe)),
                "signal": signal,
                "confidence": rng.uniform(0.0, 1.0, n).round(3),
                "warmup": np.arange(n) < 5,
                "matured_on": days.gather(matured[ripe]),
                "ret_window": np.where(rng.random(n) < 0.03, np.nan, ret),
            }
        )
        frames.append(frame)
    ret = pl.col("ret_window")
    hit = (
        pl.when(pl.col("signal") == "BUY")
        .then(ret > 0)
        .when(pl.col("signal") == "SELL")
        .then(ret < 0)
        .otherwise(ret.abs() < 0.05)
    )
    outcomes = (
        pl.concat(frames)
        .with_columns(ret.fill_nan(None))
        .with_columns(hit.alias("hit"))
        .select(OUTCOMES_SCHEMA.names())
    )
    picked = outcomes.filter(pl.Series(rng.random(outcomes.height) < 0.3))
    lag = rng.choice(np.array([0, 0, 0, 1, 3]), picked.height)
    events = pl.DataFrame(
        {
            "ticker": picked["ticker"],
            "date": picked["date"],
            "rule_id": rng.choice(np.array(PATTERN_IDS), picked.height),
            "rule_version": 1,
            "direction": rng.choice(np.array(["bullish", "bearish"]), picked.height),
            "confidence": 0.6,
            "confirmed_at": days.gather(np.searchsorted(day, picked["date"].to_physical()) + lag),
            "rules_version": "1.2.0",
            "rules_hash": "hash",
        }
    ).cast(dict(EVENTS_SCHEMA))
    return outcomes, events


def pipeline(outcomes: pl.DataFrame, events: pl.DataFrame) -> Frames:
    """Both tables over every session of the history."""
    return {
        "calibration": calibrate(outcomes, SESSIONS, PIT_RULES),
        "rule_flags": rule_flags(outcomes, events, SESSIONS, PIT_RULES),
    }


def truncate(
    outcomes: pl.DataFrame, events: pl.DataFrame, as_of: dt.date
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What is known before the session of `as_of` opens."""
    return (
        outcomes.filter(pl.col("matured_on") < as_of),
        events.filter(pl.col("confirmed_at") < as_of),
    )


def perturb(
    outcomes: pl.DataFrame, events: pl.DataFrame, as_of: dt.date, seed: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Every outcome matured on or after `as_of` changed (hit flipped, new confidence, signal,
    return and warm-up), its events' directions flipped, and new outcomes with events added
    that matured on `as_of` and after. Outcomes matured before `as_of` are untouched."""
    rng = np.random.default_rng(seed)
    later = pl.col("matured_on") >= as_of
    n = outcomes.height

    def redraw(name: str, values: np.ndarray) -> pl.Expr:
        return pl.when(later).then(pl.Series(values)).otherwise(pl.col(name)).alias(name)

    changed = outcomes.with_columns(
        redraw("confidence", rng.uniform(0.0, 1.0, n)),
        redraw("signal", rng.choice(np.array(SIGNALS), n)),
        redraw("warmup", rng.random(n) < 0.2),
        pl.when(later)
        .then(-pl.col("ret_window") + 0.01)
        .otherwise("ret_window")
        .alias("ret_window"),
        pl.when(later).then(~pl.col("hit")).otherwise("hit").alias("hit"),
    )
    added = pl.concat(
        [
            batch(kind, 20, 15, 0.9, as_of + k * DAY, prefix=f"NEW{kind}{k}-")
            for kind in SIGNALS
            for k in (0, 3)
        ]
    ).with_columns(pl.Series("ret_window", rng.normal(0.0, 0.05, 120)))
    matured = outcomes.select("ticker", pl.col("date").alias("confirmed_at"), "matured_on")
    flipped = (
        pl.when(pl.col("direction") == "bullish")
        .then(pl.lit("bearish"))
        .otherwise(pl.lit("bullish"))
    )
    events_changed = (
        events.join(matured, on=["ticker", "confirmed_at"], how="left", maintain_order="left")
        .with_columns(
            pl.when(later)
            .then(flipped)
            .otherwise(pl.col("direction").cast(pl.String))
            .cast(EVENTS_SCHEMA["direction"])
            .alias("direction")
        )
        .drop("matured_on")
    )
    new_events = pl.DataFrame(
        {
            "ticker": added["ticker"],
            "date": added["date"],
            "rule_id": rng.choice(np.array(PATTERN_IDS), added.height),
            "rule_version": 1,
            "direction": rng.choice(np.array(["bullish", "bearish"]), added.height),
            "confidence": 0.6,
            "confirmed_at": added["date"],
            "rules_version": "1.2.0",
            "rules_hash": "hash",
        }
    ).cast(dict(EVENTS_SCHEMA))
    return pl.concat([changed, added]), pl.concat([events_changed, new_events])


CHECKS = {"truncation": truncate, "perturbation": perturb}


def point_in_time_leaks(
    run: Pipeline,
    outcomes: pl.DataFrame,
    events: pl.DataFrame,
    dates: Sequence[dt.date],
    checks: Sequence[str] = tuple(CHECKS),
) -> list[tuple[str, str, dt.date]]:
    """Every (check, table, D) whose rows dated on or before D differ, bit for bit, between the
    run on the whole history and the run on the history cut or changed from D on."""
    full = run(outcomes, events)
    leaks = []
    for i, as_of in enumerate(dates):
        for check in checks:
            args = (outcomes, events, as_of) + ((i,) if check == "perturbation" else ())
            found = run(*CHECKS[check](*args))
            for table, expected in full.items():
                try:
                    assert_frame_equal(
                        found[table].filter(pl.col("date") <= as_of),
                        expected.filter(pl.col("date") <= as_of),
                        check_exact=True,
                    )
                except AssertionError:
                    leaks.append((check, table, as_of))
    return leaks


@pytest.fixture(scope="module")
def history() -> tuple[pl.DataFrame, pl.DataFrame, list[dt.date]]:
    """The random history and six dates on which some scored event's outcome matured."""
    outcomes, events = random_history(3)
    scored = outcomes.filter(~pl.col("warmup") & pl.col("ret_window").is_not_null())
    matured = events.join(
        scored.select("ticker", pl.col("date").alias("confirmed_at"), "matured_on"),
        on=["ticker", "confirmed_at"],
    )["matured_on"]
    days = matured.unique().sort()
    dates = [days[int(i)] for i in np.linspace(3, days.len() - 2, 6).round()]
    return outcomes, events, dates


def test_random_history_exercises_the_tables(
    history: tuple[pl.DataFrame, pl.DataFrame, list[dt.date]],
) -> None:
    outcomes, events, _ = history
    out = pipeline(outcomes, events)
    calibration, flags = out["calibration"], out["rule_flags"]
    # Multipliers leave 1.0, targets come and go, rules get flagged and unflagged.
    targets = calibration.filter(pl.col("target").is_not_null())
    assert (targets.height, calibration.height) == (325, 420)
    assert calibration["multiplier"].n_unique() == 247
    assert calibration.filter(pl.col("matured").is_between(1, 9)).height == 10
    assert (flags["flagged"].sum(), flags.height) == (247, 1680)
    assert (events["confirmed_at"].gt(events["date"]).sum(), events.height) == (85, 218)


@pytest.mark.parametrize("rows", [1, 5, 64])
def test_batches_of_any_size_give_the_tables_of_one_frame(
    history: tuple[pl.DataFrame, pl.DataFrame, list[dt.date]], rows: int
) -> None:
    """The store hands the calibration its rows in batches; the bits are those of one pass."""
    outcomes, events, _ = history
    counted = (
        outcomes.filter(~pl.col("warmup") & pl.col("hit").is_not_null())
        .select("signal", *COUNTED_COLUMNS)
        .sort("signal", "matured_on", "confidence", "hit")
    )

    def batches_of(signal: str) -> list[pl.DataFrame]:
        rows_of = counted.filter(pl.col("signal") == signal).drop("signal")
        return list(rows_of.iter_slices(rows))

    scored = scored_events(outcomes, events).sample(fraction=1.0, shuffle=True, seed=rows)
    expected = pipeline(outcomes, events)
    assert len(batches_of("BUY")) > 1
    assert_frame_equal(
        calibrate_sorted(batches_of, SESSIONS, PIT_RULES), expected["calibration"], check_exact=True
    )
    assert_frame_equal(
        flags_of_scored_events(scored.iter_slices(rows), SESSIONS, PIT_RULES),
        expected["rule_flags"],
        check_exact=True,
    )


def test_perturbation_changes_only_outcomes_matured_on_or_after_d(
    history: tuple[pl.DataFrame, pl.DataFrame, list[dt.date]],
) -> None:
    outcomes, events, dates = history
    as_of = dates[2]
    changed, changed_events = perturb(outcomes, events, as_of, seed=0)
    before = pl.col("matured_on") < as_of
    assert_frame_equal(changed.filter(before), outcomes.filter(before), check_exact=True)
    later = outcomes.filter(~before)
    assert changed.filter(~before).height == later.height + 120
    assert changed.filter(pl.col("matured_on") == as_of).height == 78
    assert (changed.filter(~before).head(later.height)["hit"] != later["hit"]).all()
    assert changed_events.height == events.height + 120


def test_calibration_and_flags_are_point_in_time(
    history: tuple[pl.DataFrame, pl.DataFrame, list[dt.date]],
) -> None:
    outcomes, events, dates = history
    assert point_in_time_leaks(pipeline, outcomes, events, dates) == []


# Positive controls: variants with a planted lookahead that the same check must catch.


def calibrated_by_signal_date(outcomes: pl.DataFrame, events: pl.DataFrame) -> Frames:
    """Selects outcomes by the signal's date, as if they were known on the day of the signal."""
    return pipeline(outcomes.with_columns(pl.col("date").alias("matured_on")), events)


def calibrated_the_same_evening(outcomes: pl.DataFrame, events: pl.DataFrame) -> Frames:
    """Counts outcomes that matured on D itself in the calibration of D."""
    earlier = outcomes.with_columns(pl.col("matured_on") - DAY)
    return {**pipeline(outcomes, events), "calibration": pipeline(earlier, events)["calibration"]}


def flagged_the_same_evening(outcomes: pl.DataFrame, events: pl.DataFrame) -> Frames:
    """Counts failures that matured on D itself in the flags of D."""
    earlier = outcomes.with_columns(pl.col("matured_on") - DAY)
    return {**pipeline(outcomes, events), "rule_flags": pipeline(earlier, events)["rule_flags"]}


@pytest.mark.parametrize(
    ("leaky", "tables"),
    [
        (calibrated_by_signal_date, {"calibration", "rule_flags"}),
        (calibrated_the_same_evening, {"calibration"}),
        (flagged_the_same_evening, {"rule_flags"}),
    ],
)
@pytest.mark.parametrize("check", tuple(CHECKS))
def test_check_catches_planted_lookahead(
    history: tuple[pl.DataFrame, pl.DataFrame, list[dt.date]],
    leaky: Pipeline,
    tables: set[str],
    check: str,
) -> None:
    outcomes, events, dates = history
    leaks = point_in_time_leaks(leaky, outcomes, events, dates, checks=[check])
    # Caught at every date, in exactly the tables the leak reaches.
    assert sorted(leaks) == sorted((check, table, d) for table in tables for d in dates)
