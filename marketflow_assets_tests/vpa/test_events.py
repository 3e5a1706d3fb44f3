"""The twelve VPA patterns of rules.yaml, each on a hand-built tape where it must fire and on a
near miss (one number just past its threshold) where it must not.

Every tape starts with 70 quiet bars (see `patterns.quiet`): the first 60 are warm-up, and the
baselines the pattern bar is read against are flat. A flat tape closes at 100 with a range of
1.0 (high 100.5, low 99.5); a tape with drift +0.2 (an uptrend) closes at 113.8 on bar 69 with a
range of 1.2, its 20-bar high at bar 70 is 114.3; with drift -0.2 (a downtrend) bar 69 closes at
86.2 and the 20-bar low at bar 70 is 85.7. Volume is 1,000,000 a bar unless a test says not.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal

from marketflow_assets.vpa import detect_events, load_rules
from marketflow_assets.vpa.events import EVENTS_SCHEMA
from marketflow_assets.vpa.rules import PATTERN_IDS
from marketflow_assets_tests.vpa.patterns import (
    RULES,
    Tape,
    events_of,
    expected_confidence,
    feature_row,
    features_of,
    frames,
    quiet,
    session,
)

PATTERN_BAR = 70  # the bar after the quiet run: the first one a test writes
PATTERN_DAY = session(PATTERN_BAR)


def events_on(tape: Tape, bar: int = PATTERN_BAR) -> dict[str, dict[str, Any]]:
    """The events whose pattern bar is `bar` of the tape, by rule id."""
    events = events_of(tape).filter(pl.col("date") == session(bar))
    assert events["rule_id"].is_unique().all()
    return {row["rule_id"]: row for row in events.iter_rows(named=True)}


def assert_event(
    tape: Tape,
    rule_id: str,
    direction: str,
    bar: int = PATTERN_BAR,
    confirmed_bar: int | None = None,
) -> dict[str, Any]:
    """The single `rule_id` event on `bar`, checked field by field against rules.yaml."""
    features = features_of(tape)
    events = detect_events(features, RULES)
    assert events.schema == EVENTS_SCHEMA
    rows = events.filter((pl.col("rule_id") == rule_id) & (pl.col("date") == session(bar)))
    assert rows.height == 1, f"{rule_id} did not fire on bar {bar}: {events}"
    event = rows.row(0, named=True)
    rule = RULES.patterns[rule_id]
    volume_rel = feature_row(features, session(bar), tape.ticker)["volume_rel_mean"]
    assert event["ticker"] == tape.ticker
    assert event["rule_version"] == rule.version
    assert event["direction"] == direction
    assert 0.0 <= event["confidence"] <= 1.0
    assert event["confidence"] == pytest.approx(expected_confidence(rule, volume_rel))
    expected_confirmation = bar if confirmed_bar is None else confirmed_bar
    assert event["confirmed_at"] == session(expected_confirmation)
    assert event["rules_version"] == RULES.version
    assert event["rules_hash"] == RULES.hash
    return event


def pattern_features(tape: Tape, bar: int = PATTERN_BAR) -> dict[str, Any]:
    return feature_row(features_of(tape), session(bar), tape.ticker)


# --- The pattern tapes: each builder takes the one number its near miss moves. ----------------


def no_demand(volume: float) -> Tape:
    """Flat market; the two bars before trade 1.5M, so the 20-bar mean is 1.05M. An up bar with
    a range of 0.35 (narrow: the mean range is 1.0) and volume below both of them."""
    return quiet().volumes(1.5e6, 1.5e6).bar(100.0, 100.3, 99.95, 100.2, volume)


def no_supply(volume: float) -> Tape:
    """The mirror of `no_demand`: a narrow down bar below the volume of the two bars before."""
    return quiet().volumes(1.5e6, 1.5e6).bar(100.0, 100.05, 99.7, 99.8, volume)


def stopping_volume(lower_wick: float) -> Tape:
    """Downtrend; a bar of range 1.0 from the 20-bar low (85.7) closing at 0.6 of it on 2.5x
    volume, its open (the low end of the body) `lower_wick` above the low."""
    low = 85.7
    return quiet(drift=-0.2).bar(low + lower_wick, low + 1.0, low, low + 0.6, 2.5e6)


def selling_climax(close: float) -> Tape:
    """Downtrend; a wide down bar (range 3.0 against a mean of 1.2) from 86.4 to 83.4, below the
    20-bar low of 85.7, on 3x volume."""
    return quiet(drift=-0.2).bar(86.2, 86.4, 83.4, close, 3e6)


def buying_climax(close: float) -> Tape:
    """Uptrend; a wide up bar from 113.6 to 116.6, above the 20-bar high of 114.3, on 3x
    volume."""
    return quiet(drift=0.2).bar(113.8, 116.6, 113.6, close, 3e6)


def upthrust(close: float) -> Tape:
    """Flat market; a push to 101.5, a point above the 20-bar high (100.5), on 1.5x volume that
    closes back below that high, from a low of 99.7."""
    return quiet().bar(100.0, 101.5, 99.7, close, 1.5e6)


def spring(close: float) -> Tape:
    """Flat market; a shakeout to 98.5, a point below the 20-bar low (99.5), on 1.5x volume that
    closes back above that low, with a high of 100.2."""
    return quiet().bar(100.0, 100.2, 98.5, close, 1.5e6)


def low_probe(volume: float) -> Tape:
    """Flat market; a bar whose low (99.4) is 0.1 under the 20-bar low (99.5), within half an
    ATR, closing at 100.0 (high in its range of 0.7)."""
    return quiet().bar(99.9, 100.1, 99.4, 100.0, volume)


def effort_without_result(volume: float, close: float = 100.2) -> Tape:
    """Flat market; a bar of range 0.4 (narrow) closing at `close` (up from 100.0 by default)."""
    return quiet().bar(100.0, 100.3, 99.9, close, volume)


def result_without_effort(volume: float, up: bool = True) -> Tape:
    """Flat market; a bar of range 1.6 (wide) on `volume`, closing 1.0 up (or down)."""
    if up:
        return quiet().bar(100.0, 101.2, 99.6, 101.0, volume)
    return quiet().bar(100.0, 100.4, 98.8, 99.0, volume)


def hammer(high: float) -> Tape:
    """Downtrend (last close 86.2); a bar from a low of 85.0 with a small body 85.9 to 86.0, so
    the lower wick is most of the range; `high` sets the upper wick."""
    return quiet(drift=-0.2).bar(85.9, high, 85.0, 86.0)


def shooting_star(low: float) -> Tape:
    """Uptrend (last close 113.8); a bar up to 114.8 with a small body 114.0 to 113.9, so the
    upper wick is most of the range; `low` sets the lower wick."""
    return quiet(drift=0.2).bar(114.0, 114.8, low, 113.9)


class Case(NamedTuple):
    """A pattern's tape where it fires and its near miss, which moves `feature` from
    `hit_range` just across the threshold into `miss_range`."""

    rule_id: str
    direction: str
    hit: Callable[[], Tape]
    miss: Callable[[], Tape]
    feature: str
    hit_range: tuple[float, float]
    miss_range: tuple[float, float]


CASES: list[Case] = [
    # max_volume_ratio 1.0: 1.00M / 1.05M = 0.952 fires, 1.06M / 1.05M = 1.0095 does not.
    Case(
        "no_demand",
        "bearish",
        lambda: no_demand(1.00e6),
        lambda: no_demand(1.06e6),
        "volume_rel_mean",
        (0.9, 1.0),
        (1.0, 1.02),
    ),
    Case(
        "no_supply",
        "bullish",
        lambda: no_supply(1.00e6),
        lambda: no_supply(1.06e6),
        "volume_rel_mean",
        (0.9, 1.0),
        (1.0, 1.02),
    ),
    # min_lower_wick 0.4.
    Case(
        "stopping_volume",
        "bullish",
        lambda: stopping_volume(0.41),
        lambda: stopping_volume(0.39),
        "lower_wick",
        (0.4, 0.42),
        (0.38, 0.4),
    ),
    # min_close_location 0.3: a close at 84.35 is 0.317 up the bar, at 84.25 it is 0.283.
    Case(
        "selling_climax",
        "bullish",
        lambda: selling_climax(84.35),
        lambda: selling_climax(84.25),
        "close_location",
        (0.3, 0.32),
        (0.28, 0.3),
    ),
    # max_close_location 0.7: 115.65 is 0.683 up the bar, 115.75 is 0.717.
    Case(
        "buying_climax",
        "bearish",
        lambda: buying_climax(115.65),
        lambda: buying_climax(115.75),
        "close_location",
        (0.68, 0.7),
        (0.7, 0.72),
    ),
    # min_close_location 0.65: 99.7 is 0.706 up the bar, 99.6 is 0.647.
    Case(
        "spring",
        "bullish",
        lambda: spring(99.7).bar(99.7, 100.3, 99.5, 100.1),
        lambda: spring(99.6).bar(99.6, 100.3, 99.5, 100.1),
        "close_location",
        (0.65, 0.71),
        (0.64, 0.65),
    ),
    # max_close_location 0.35: 100.3 is 0.333 up the bar, 100.35 is 0.361.
    Case(
        "upthrust",
        "bearish",
        lambda: upthrust(100.3).bar(100.3, 100.5, 99.6, 99.8),
        lambda: upthrust(100.35).bar(100.35, 100.5, 99.6, 99.8),
        "close_location",
        (0.33, 0.35),
        (0.35, 0.37),
    ),
    # max_volume_ratio 0.8.
    Case(
        "test",
        "bullish",
        lambda: low_probe(0.78e6),
        lambda: low_probe(0.82e6),
        "volume_rel_mean",
        (0.77, 0.8),
        (0.8, 0.83),
    ),
    # High volume starts at 1.3x the mean (features.volume_classes.average).
    Case(
        "effort_without_result",
        "bearish",
        lambda: effort_without_result(1.32e6),
        lambda: effort_without_result(1.28e6),
        "volume_rel_mean",
        (1.3, 1.33),
        (1.27, 1.3),
    ),
    # Low volume ends at 0.8x the mean (features.volume_classes.low).
    Case(
        "result_without_effort",
        "bearish",
        lambda: result_without_effort(0.78e6),
        lambda: result_without_effort(0.82e6),
        "volume_rel_mean",
        (0.77, 0.8),
        (0.8, 0.83),
    ),
    # max_other_wick 0.15: a high of 86.15 leaves an upper wick of 0.13, 86.2 one of 0.167.
    Case(
        "hammer",
        "bullish",
        lambda: hammer(86.15),
        lambda: hammer(86.2),
        "upper_wick",
        (0.12, 0.15),
        (0.15, 0.17),
    ),
    # max_other_wick 0.15: a low of 113.75 leaves a lower wick of 0.143, 113.7 one of 0.182.
    Case(
        "shooting_star",
        "bearish",
        lambda: shooting_star(113.75),
        lambda: shooting_star(113.7),
        "lower_wick",
        (0.12, 0.15),
        (0.15, 0.19),
    ),
]
CONFIRMED_ON = {"spring": PATTERN_BAR + 1, "upthrust": PATTERN_BAR + 1}


def test_every_pattern_has_a_case() -> None:
    assert sorted(case.rule_id for case in CASES) == sorted(PATTERN_IDS)


def test_quiet_tapes_have_no_events() -> None:
    """The baselines themselves are silent, so an event in a case comes from its pattern bar."""
    for drift in (0.0, 0.2, -0.2):
        events = events_of(quiet(drift=drift))
        assert events.height == 0, events
        assert events.schema == EVENTS_SCHEMA


@pytest.mark.parametrize(
    ("rule_id", "direction", "hit", "feature", "inside"),
    [
        pytest.param(c.rule_id, c.direction, c.hit, c.feature, c.hit_range, id=c.rule_id)
        for c in CASES
    ],
)
def test_pattern_fires(
    rule_id: str,
    direction: str,
    hit: Callable[[], Tape],
    feature: str,
    inside: tuple[float, float],
) -> None:
    tape = hit()
    value = pattern_features(tape)[feature]
    assert inside[0] <= value <= inside[1], f"{feature} = {value}"
    assert_event(tape, rule_id, direction, confirmed_bar=CONFIRMED_ON.get(rule_id))


@pytest.mark.parametrize(
    ("rule_id", "miss", "feature", "outside"),
    [pytest.param(c.rule_id, c.miss, c.feature, c.miss_range, id=c.rule_id) for c in CASES],
)
def test_pattern_near_miss_does_not_fire(
    rule_id: str, miss: Callable[[], Tape], feature: str, outside: tuple[float, float]
) -> None:
    tape = miss()
    value = pattern_features(tape)[feature]
    assert outside[0] <= value <= outside[1], f"{feature} = {value}"
    assert rule_id not in events_on(tape)


# --- Context conditions. -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule_id", "close"), [("no_demand", 100.2), ("no_supply", 99.8)], ids=["demand", "supply"]
)
def test_no_demand_and_no_supply_need_less_volume_than_both_prior_bars(
    rule_id: str, close: float
) -> None:
    """1.0M under a 20-bar mean of 1.005M, and under the bar before (1.2M), but not under the
    one before that (0.9M)."""
    tape = quiet().volumes(0.9e6, 1.2e6).bar(100.0, 100.3, 99.7, close, 1.0e6)
    row = pattern_features(tape)
    assert row["volume_rel_mean"] < 1.0
    assert row["spread_class"] == "narrow"
    assert row["volume_below_prior_two"] is False
    assert rule_id not in events_on(tape)
    # Under both (0.9M is the lower), the same bar is the pattern.
    assert rule_id in events_on(
        quiet().volumes(0.9e6, 1.2e6).bar(100.0, 100.3, 99.7, close, 0.85e6)
    )


def test_climaxes_need_their_trend() -> None:
    """The same wide, ultra-high-volume bar that is a selling climax in a downtrend is not one
    in a flat market whose close sits above SMA20."""
    flat = quiet().bar(100.0, 100.2, 97.2, 98.2, 3e6)
    row = pattern_features(flat)
    assert row["trend_state"] == "sideways"
    assert row["volume_class"] == "ultra_high"
    assert row["low"] < row["range_low20"]
    assert "selling_climax" not in events_on(flat)


def test_hammer_at_range_low_without_downtrend() -> None:
    """A hammer needs a downtrend or a close in the bottom 30% of the 20-bar range: a flat market
    probing its low gives one, an uptrend at its high does not."""
    flat = quiet().bar(99.4, 99.6, 98.5, 99.5)
    row = pattern_features(flat)
    assert row["trend_state"] == "sideways"
    assert row["range_location20"] <= 0.3
    assert_event(flat, "hammer", "bullish")

    rising = quiet(drift=0.2).bar(113.9, 114.0, 112.9, 113.8)
    row = pattern_features(rising)
    assert row["trend_state"] == "up"
    assert row["range_location20"] > 0.3
    assert row["lower_wick"] >= 0.6
    assert "hammer" not in events_on(rising)


# --- Against the bar: effort without result and result without effort. ---------------------------


@pytest.mark.parametrize(
    ("rule_id", "tape", "bar_direction", "direction"),
    [
        ("effort_without_result", lambda: effort_without_result(2e6, close=100.2), 1, "bearish"),
        ("effort_without_result", lambda: effort_without_result(2e6, close=99.95), -1, "bullish"),
        ("result_without_effort", lambda: result_without_effort(0.5e6, up=True), 1, "bearish"),
        ("result_without_effort", lambda: result_without_effort(0.5e6, up=False), -1, "bullish"),
    ],
    ids=["ewr-up", "ewr-down", "rwe-up", "rwe-down"],
)
def test_against_bar_direction_opposes_the_bar(
    rule_id: str, tape: Callable[[], Tape], bar_direction: int, direction: str
) -> None:
    bars = tape()
    change = pattern_features(bars)["close_change"]
    assert change * bar_direction > 0
    assert_event(bars, rule_id, direction)


@pytest.mark.parametrize("rule_id", ["effort_without_result", "result_without_effort"])
def test_against_bar_unchanged_close_is_not_reported(rule_id: str) -> None:
    """A bar that closes where the one before did has no direction to oppose."""
    if rule_id == "effort_without_result":
        tape = quiet().bar(99.9, 100.2, 99.8, 100.0, 2e6)
    else:
        tape = quiet().bar(99.4, 100.8, 99.2, 100.0, 0.5e6)
    row = pattern_features(tape)
    assert row["effort_result"] == rule_id
    assert row["close_change"] == 0.0
    assert rule_id not in events_on(tape)


# --- Follow-through: spring and upthrust are published on the bar that confirms them. ----------


def test_spring_needs_its_follow_through() -> None:
    # The spring bar alone: not an event yet.
    assert "spring" not in events_on(spring(99.7))
    # A lower close (99.65) without a new low does not confirm it either.
    waiting = spring(99.7).bar(99.7, 99.9, 99.0, 99.65)
    assert "spring" not in events_on(waiting)
    # The next bar closes above the spring's close (99.7) without a low under 98.5: confirmed.
    confirmed = waiting.copy().bar(99.65, 100.3, 99.5, 100.1)
    event = assert_event(confirmed, "spring", "bullish", confirmed_bar=PATTERN_BAR + 2)
    assert event["date"] == PATTERN_DAY
    # A further higher close changes nothing: the first bar that follows through confirms.
    confirmed.bar(100.1, 100.6, 99.9, 100.4)
    assert_event(confirmed, "spring", "bullish", confirmed_bar=PATTERN_BAR + 2)


def test_spring_fails_on_a_new_low() -> None:
    """A new low under the spring's (98.5) before the higher close: the shakeout was a
    breakdown."""
    tape = spring(99.7).bar(99.7, 99.8, 98.4, 99.6).bar(99.6, 100.4, 99.5, 100.2)
    assert "spring" not in events_on(tape)


def test_spring_follow_through_must_come_within_confirm_bars() -> None:
    assert RULES.patterns["spring"].confirm_bars == 3
    # Two bars closing at 99.6, below the spring's close, then a higher close on the third.
    on_time = spring(99.7).bar(99.7, 99.8, 99.3, 99.6).bar(99.6, 99.7, 99.3, 99.6)
    late = on_time.copy().bar(99.6, 99.7, 99.3, 99.6)
    on_time.bar(99.6, 99.9, 99.5, 99.8)
    assert_event(on_time, "spring", "bullish", confirmed_bar=PATTERN_BAR + 3)
    # The same higher close one bar later, the fourth after the spring, is too late.
    late.bar(99.6, 99.9, 99.5, 99.8)
    assert "spring" not in events_on(late)


def test_spring_confirmation_reads_through_a_split() -> None:
    """A 2-for-1 split on the confirming bar: its close of 50.05 is 100.1 on the spring's basis,
    above the spring's close of 99.7, and its low of 49.75 is 99.5, above the spring's low."""
    tape = spring(99.7).bar(49.85, 50.15, 49.75, 50.05, 2e6, split_ratio=2.0)
    assert_event(tape, "spring", "bullish", confirmed_bar=PATTERN_BAR + 1)


def test_spring_must_close_back_above_the_low() -> None:
    """The same shape (high in the bar, long lower wick) closing at 99.4, still under the 20-bar
    low of 99.5, is a breakdown, not a spring, however it follows through."""
    tape = quiet().bar(99.6, 99.8, 97.0, 99.4, 1.5e6).bar(99.4, 100.3, 99.3, 100.1)
    row = pattern_features(tape)
    assert row["close_location"] >= 0.65
    assert row["lower_wick"] >= 0.5
    assert row["close"] < row["range_low20"]
    assert "spring" not in events_on(tape)


def test_upthrust_must_close_back_below_the_high() -> None:
    """Mirror: closing at 100.6, above the 20-bar high of 100.5, is a breakout."""
    tape = quiet().bar(100.4, 103.0, 100.2, 100.6, 1.5e6).bar(100.6, 100.7, 99.7, 99.9)
    row = pattern_features(tape)
    assert row["close_location"] <= 0.35
    assert row["upper_wick"] >= 0.5
    assert row["close"] > row["range_high20"]
    assert "upthrust" not in events_on(tape)


@pytest.mark.parametrize(("bar", "ratio"), [(55, 2.0), (65, 0.5), (70, 3.0), (71, 2.0)])
def test_a_split_changes_no_event(bar: int, ratio: float) -> None:
    """The confirmed spring tape traded through a split (forward or reverse, in the warm-up, in
    the 20-bar window, on the spring bar, on the confirming bar) gives the same events."""
    tape = spring(99.7).bar(99.7, 100.3, 99.5, 100.1)
    expected = events_of(tape)
    assert "spring" in expected["rule_id"].to_list()
    assert_frame_equal(events_of(tape.split_at(bar, ratio)), expected)


def test_upthrust_needs_its_follow_through() -> None:
    assert "upthrust" not in events_on(upthrust(100.3))
    # A higher close (100.4) without a new high does not confirm it.
    waiting = upthrust(100.3).bar(100.3, 100.6, 100.1, 100.4)
    assert "upthrust" not in events_on(waiting)
    confirmed = waiting.copy().bar(100.4, 100.5, 99.6, 99.8)
    event = assert_event(confirmed, "upthrust", "bearish", confirmed_bar=PATTERN_BAR + 2)
    assert event["date"] == PATTERN_DAY
    confirmed.bar(99.8, 100.0, 99.4, 99.6)
    assert_event(confirmed, "upthrust", "bearish", confirmed_bar=PATTERN_BAR + 2)


def test_upthrust_fails_on_a_new_high() -> None:
    """A high above the upthrust's (101.5) before the lower close: it was a breakout."""
    tape = upthrust(100.3).bar(100.3, 101.6, 100.1, 100.4).bar(100.4, 100.5, 99.6, 99.8)
    assert "upthrust" not in events_on(tape)


# --- Warm-up, several tickers, and the rules stamp. ----------------------------------------------


@pytest.mark.parametrize(("quiet_bars", "fires"), [(59, False), (60, True)])
def test_warmup_rows_never_fire(quiet_bars: int, fires: bool) -> None:
    """The same absorption bar as bar 59 (warm-up: 59 earlier bars) and as bar 60 (the first
    ready row). Its features qualify both times; only the ready row gives an event."""
    tape = quiet(quiet_bars).bar(100.0, 100.3, 99.9, 100.2, 2e6)
    features = features_of(tape)
    row = feature_row(features, session(quiet_bars))
    assert row["warmup"] is not fires
    assert row["effort_result"] == "effort_without_result"
    events = detect_events(features, RULES)
    if fires:
        assert events["rule_id"].to_list() == ["effort_without_result"]
        assert events["date"].to_list() == [session(quiet_bars)]
    else:
        assert events.height == 0


def test_warmup_rows_never_fire_even_when_their_features_qualify() -> None:
    """From bar 21 on, every fourth bar is an absorption bar (narrow, 3M): those before bar 60
    qualify on their features but give no event; those after do."""
    tape = quiet(21)
    for i in range(21, 81):
        if i % 4 == 0:
            tape.bar(100.0, 100.3, 99.9, 100.2, 3e6)
        else:
            quiet_bar = quiet(2).rows[1]
            tape.bar(quiet_bar["open"], quiet_bar["high"], quiet_bar["low"], quiet_bar["close"])
    features = features_of(tape)
    absorbed = features.filter(pl.col("effort_result") == "effort_without_result")
    assert (absorbed.height, absorbed["warmup"].sum()) == (15, 9)
    events = detect_events(features, RULES)
    ready = features.filter(~pl.col("warmup"))["date"]
    assert events["date"].is_in(ready.implode()).all()
    absorption = events.filter(pl.col("rule_id") == "effort_without_result")
    assert absorption["date"].to_list() == absorbed.filter(~pl.col("warmup"))["date"].to_list()


def several_tapes() -> list[Tape]:
    """A confirmed spring, a confirmed upthrust, a selling climax, and a shorter ticker ending on
    an absorption bar."""
    return [
        spring(99.7).bar(99.7, 100.3, 99.5, 100.1).copy("AAA"),
        upthrust(100.3).bar(100.3, 100.5, 99.6, 99.8).copy("BBB"),
        selling_climax(84.35).copy("CCC"),
        quiet(64, drift=0.2, ticker="DDD").bar(112.6, 112.9, 112.5, 112.8, 2e6),
    ]


def test_several_tickers_give_what_each_gives_alone() -> None:
    tapes = several_tapes()
    alone = pl.concat([events_of(tape) for tape in tapes])
    assert set(alone["ticker"]) == {"AAA", "BBB", "CCC", "DDD"}
    together = frames(*tapes)
    for bars in (together, frames(*reversed(tapes)), together.sample(fraction=1.0, seed=7)):
        assert_frame_equal(events_of(bars), alone)


def test_follow_through_is_not_read_from_the_next_ticker() -> None:
    """AAA ends on a spring bar. BBB's first bars follow it in the frame and would confirm it
    (closes of 100.0 above 99.7, lows of 99.5 above 98.5), but they are another ticker's."""
    bars = frames(spring(99.7).copy("AAA"), quiet(ticker="BBB"))
    events = events_of(bars)
    assert "spring" not in events["rule_id"].to_list()
    assert_frame_equal(events, events_of(spring(99.7).copy("AAA")))


def test_every_event_carries_the_rules_stamp() -> None:
    events = events_of(frames(*several_tapes()))
    assert events.height == 6
    assert events["rules_version"].to_list() == [RULES.version] * events.height
    assert events["rules_hash"].to_list() == [RULES.hash] * events.height
    assert events.null_count().sum_horizontal().item() == 0


def test_events_follow_the_rules_they_are_given(tmp_path: Path) -> None:
    """With test.max_volume_ratio raised to 0.9 (and the rule's version to 3) the near miss above
    fires, stamped with the other rule set's version and hash."""
    raw = yaml.safe_load(RULES.path.read_text())
    raw["patterns"]["test"]["max_volume_ratio"] = 0.9
    raw["patterns"]["test"]["version"] = 3
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(raw))
    looser = load_rules(path)
    features = features_of(low_probe(0.82e6))
    assert "test" not in detect_events(features, RULES)["rule_id"].to_list()
    events = detect_events(features, looser).filter(pl.col("rule_id") == "test")
    assert events["date"].to_list() == [PATTERN_DAY]
    assert events["rules_hash"].to_list() == [looser.hash]
    assert events["rule_version"].to_list() == [3]
    assert looser.hash != RULES.hash
