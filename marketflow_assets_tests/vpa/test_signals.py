"""Signals of (ticker, D) from real features and events, most of them written by hand.

rules.yaml `signals`: score = sum of direction * confidence * weight over the events confirmed
on D, times 1.25 when the weekly trend agrees and 0.75 when it opposes; BUY at score >= 0.5,
SELL at <= -0.5, else HOLD. BUY/SELL confidence = 1 - exp(-|score|), HOLD confidence =
1 - |score|; STRONG at confidence >= 0.75, MODERATE at >= 0.55, else WEAK.
"""

from __future__ import annotations

import math
import re
from typing import Any

import polars as pl
import pytest

from marketflow_assets.vpa import compute_signals
from marketflow_assets.vpa.events import EVENTS_SCHEMA
from marketflow_assets.vpa.signals import SIGNAL_COLUMNS
from marketflow_assets_tests.vpa.patterns import (
    RULES,
    events_of,
    feature_row,
    features_of,
    frames,
    quiet,
    session,
)

D = 70  # the bar the hand-written events sit on
FLAT = features_of(quiet(75))  # trend and weekly trend sideways from bar 60 on
RISING = features_of(quiet(75, drift=0.2))  # trend and weekly trend up
FALLING = features_of(quiet(75, drift=-0.2))  # trend and weekly trend down


def event(
    rule_id: str,
    direction: str,
    confidence: float,
    bar: int = D,
    confirmed_bar: int | None = None,
    ticker: str = "AAA",
) -> dict[str, Any]:
    """An event row as `detect_events` writes it."""
    return {
        "ticker": ticker,
        "date": session(bar),
        "rule_id": rule_id,
        "rule_version": RULES.patterns[rule_id].version,
        "direction": direction,
        "confidence": confidence,
        "confirmed_at": session(bar if confirmed_bar is None else confirmed_bar),
        "rules_version": RULES.version,
        "rules_hash": RULES.hash,
    }


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=EVENTS_SCHEMA)


def signals(features: pl.DataFrame, *rows: dict[str, Any]) -> pl.DataFrame:
    return compute_signals(features, events(*rows), RULES)


def signal_on(signals: pl.DataFrame, bar: int = D, ticker: str = "AAA") -> dict[str, Any]:
    rows = signals.filter((pl.col("ticker") == ticker) & (pl.col("date") == session(bar)))
    assert rows.height == 1
    return rows.row(0, named=True)


def test_the_fixture_trends() -> None:
    """The three tapes the tests lean on have the trends their names say at D."""
    for features, trend in ((FLAT, "sideways"), (RISING, "up"), (FALLING, "down")):
        row = feature_row(features, session(D))
        assert (row["warmup"], row["trend_state"], row["weekly_trend"]) == (False, trend, trend)


def test_bullish_event_gives_buy() -> None:
    out = signals(FLAT, event("no_supply", "bullish", 0.6))
    row = signal_on(out)
    assert row["signal"] == "BUY"
    assert row["score"] == pytest.approx(0.6)
    assert row["confidence"] == pytest.approx(1 - math.exp(-0.6))
    assert row["event_count"] == 1
    assert "no_supply" in row["reason_codes"]
    assert {"trend_sideways", "weekly_sideways"} <= set(row["reason_codes"])
    # Only D: every other ready day has no event and holds.
    others = out.filter((pl.col("date") != session(D)) & ~pl.col("warmup"))
    assert others["signal"].unique().to_list() == ["HOLD"]


def test_bearish_event_gives_sell() -> None:
    row = signal_on(signals(FLAT, event("no_demand", "bearish", 0.6)))
    assert row["signal"] == "SELL"
    assert row["score"] == pytest.approx(-0.6)
    assert row["confidence"] == pytest.approx(1 - math.exp(-0.6))
    assert "no_demand" in row["reason_codes"]


def test_no_event_gives_hold() -> None:
    out = signals(FLAT)
    ready = out.filter(~pl.col("warmup"))
    assert ready.height == 15
    assert ready["signal"].unique().to_list() == ["HOLD"]
    assert ready["score"].unique().to_list() == [0.0]
    assert ready["event_count"].unique().to_list() == [0]
    # HOLD at score 0 is as sure as a HOLD gets: 1 - 0 / (2 * threshold).
    assert ready["confidence"].unique().to_list() == [1.0]
    row = signal_on(out)
    assert row["strength"] == "STRONG"
    assert row["reason_codes"][:2] == ["trend_sideways", "weekly_sideways"]
    assert not any(code in RULES.patterns for code in row["reason_codes"])


def test_warmup_rows_hold_with_no_confidence() -> None:
    """Even a strong event on a warm-up day (bar 30) leaves the row a warm-up HOLD."""
    out = signals(FLAT, event("spring", "bullish", 1.0, bar=30), event("test", "bullish", 1.0, 30))
    warm = out.filter(pl.col("warmup"))
    assert warm.height == RULES.features["warmup_bars"]
    assert warm["signal"].unique().to_list() == ["HOLD"]
    assert warm["confidence"].unique().to_list() == [0.0]
    assert warm["score"].unique().to_list() == [0.0]
    assert warm["reason_codes"].to_list() == [["warmup"]] * warm.height
    assert warm["strength"].unique().to_list() == ["WEAK"]
    assert out.filter(~pl.col("warmup"))["reason_codes"].list.contains("warmup").sum() == 0


@pytest.mark.parametrize(
    ("rows", "signal", "strength", "score"),
    [
        # One bullish event: weight 1.0, score 0.6, confidence 1 - e^-0.6 = 0.451.
        ([("no_supply", "bullish", 0.6)], "BUY", "WEAK", 0.6),
        # At the threshold exactly: 0.5 buys (confidence 0.393).
        ([("no_supply", "bullish", 0.5)], "BUY", "WEAK", 0.5),
        # A spring weighs 1.2: 0.7 * 1.2 = 0.84, confidence 0.568.
        ([("spring", "bullish", 0.7)], "BUY", "MODERATE", 0.84),
        # Two events on D add: 1.2 * 0.9 + 1.2 * 0.9 = 2.16, confidence 0.885.
        ([("spring", "bullish", 0.9), ("selling_climax", "bullish", 0.9)], "BUY", "STRONG", 2.16),
        (
            [("upthrust", "bearish", 0.9), ("buying_climax", "bearish", 0.9)],
            "SELL",
            "STRONG",
            -2.16,
        ),
        ([("upthrust", "bearish", 0.7)], "SELL", "MODERATE", -0.84),
        # Below the threshold, HOLD confidence 1 - |score|: 0.52 is WEAK...
        ([("no_supply", "bullish", 0.48)], "HOLD", "WEAK", 0.48),
        # ...0.6 MODERATE...
        ([("no_demand", "bearish", 0.4)], "HOLD", "MODERATE", -0.4),
        # ...and 0.9 STRONG: opposite events cancel, 0.6 - 0.5 = 0.1.
        ([("no_supply", "bullish", 0.6), ("no_demand", "bearish", 0.5)], "HOLD", "STRONG", 0.1),
    ],
    ids=[
        "buy-weak",
        "buy-at-threshold",
        "buy-moderate",
        "buy-strong",
        "sell-strong",
        "sell-moderate",
        "hold-weak",
        "hold-moderate",
        "hold-strong",
    ],
)
def test_signal_and_strength_from_score(
    rows: list[tuple[str, str, float]], signal: str, strength: str, score: float
) -> None:
    row = signal_on(signals(FLAT, *(event(*spec) for spec in rows)))
    assert row["score"] == pytest.approx(score)
    assert row["signal"] == signal
    if signal == "HOLD":
        expected = 1 - abs(score) / (2 * RULES.signals["threshold"])
    else:
        expected = 1 - math.exp(-abs(score))
    assert row["confidence"] == pytest.approx(expected)
    assert row["strength"] == strength
    assert row["event_count"] == len(rows)
    assert {rule_id for rule_id, *_ in rows} <= set(row["reason_codes"])


def test_strength_boundaries_are_inclusive() -> None:
    """Confidence exactly at `strong` / `moderate` takes the higher word: HOLD scores of 0.25 and
    0.45 give confidences of 0.75 and 0.55."""
    assert RULES.signals["strength"] == {"strong": 0.75, "moderate": 0.55}
    strong = signal_on(signals(FLAT, event("no_supply", "bullish", 0.25)))
    assert strong["confidence"] == 0.75
    assert strong["strength"] == "STRONG"
    moderate = signal_on(signals(FLAT, event("no_supply", "bullish", 0.45)))
    assert moderate["confidence"] == 0.55
    assert moderate["strength"] == "MODERATE"
    weak = signal_on(signals(FLAT, event("no_supply", "bullish", 0.46)))
    assert weak["strength"] == "WEAK"


@pytest.mark.parametrize(
    ("features", "direction", "score", "signal"),
    [
        # The weekly trend agrees: 0.6 * 1.25.
        (RISING, "bullish", 0.75, "BUY"),
        (FALLING, "bearish", -0.75, "SELL"),
        # It opposes: 0.6 * 0.75 = 0.45, under the threshold.
        (RISING, "bearish", -0.45, "HOLD"),
        (FALLING, "bullish", 0.45, "HOLD"),
        # Sideways leaves it alone.
        (FLAT, "bullish", 0.6, "BUY"),
        (FLAT, "bearish", -0.6, "SELL"),
    ],
    ids=["up-bull", "down-bear", "up-bear", "down-bull", "flat-bull", "flat-bear"],
)
def test_weekly_trend_leans_the_score(
    features: pl.DataFrame, direction: str, score: float, signal: str
) -> None:
    rule_id = "no_supply" if direction == "bullish" else "no_demand"
    row = signal_on(signals(features, event(rule_id, direction, 0.6)))
    weekly = feature_row(features, session(D))["weekly_trend"]
    assert f"weekly_{weekly}" in row["reason_codes"]
    assert row["score"] == pytest.approx(score)
    assert row["signal"] == signal


def test_event_counts_on_the_day_it_is_confirmed() -> None:
    """A spring on D confirmed two bars later: HOLD on D, BUY on D + 2."""
    out = signals(FLAT, event("spring", "bullish", 0.7, bar=D, confirmed_bar=D + 2))
    assert signal_on(out, D)["signal"] == "HOLD"
    assert signal_on(out, D)["event_count"] == 0
    later = signal_on(out, D + 2)
    assert later["signal"] == "BUY"
    assert "spring" in later["reason_codes"]


def test_engine_spring_signals_on_its_confirmation() -> None:
    """End to end: a spring (a shakeout to 98.5 under the 20-bar low of 99.5, closing at 99.9)
    confirmed by the next bar's higher close; the BUY appears on that next bar only."""
    tape = quiet().bar(99.6, 100.2, 98.5, 99.9, 1.2e6).bar(99.9, 100.4, 99.6, 100.2)
    features = features_of(tape)
    found = events_of(tape)
    assert found.select("rule_id", "date", "confirmed_at").rows() == [
        ("spring", session(D), session(D + 1))
    ]
    out = compute_signals(features, found, RULES)
    assert signal_on(out, D)["signal"] == "HOLD"
    row = signal_on(out, D + 1)
    assert row["signal"] == "BUY"
    assert row["reason_codes"][0] == "spring"
    assert row["score"] == pytest.approx(found["confidence"][0] * 1.2)


def test_signal_words_are_plain() -> None:
    tapes = [
        quiet(75, ticker="AAA"),
        quiet(75, drift=0.2, ticker="BBB"),
        quiet(75, drift=-0.2, ticker="CCC"),
    ]
    features = features_of(frames(*tapes))
    out = signals(
        features,
        event("spring", "bullish", 0.9, ticker="AAA"),
        event("no_supply", "bullish", 0.6, ticker="BBB"),
        event("no_demand", "bearish", 0.4, ticker="CCC"),
        event("upthrust", "bearish", 0.9, bar=D + 1, ticker="CCC"),
    )
    assert out.schema["signal"] == pl.Enum(["BUY", "SELL", "HOLD"])
    assert out.schema["strength"] == pl.Enum(["STRONG", "MODERATE", "WEAK"])
    assert set(out["signal"]) == {"BUY", "SELL", "HOLD"}
    assert set(out["strength"]) == {"STRONG", "MODERATE", "WEAK"}
    codes = out["reason_codes"].explode()
    assert codes.str.contains(r"^[a-z_]+$").all(), codes.unique().to_list()
    for word in (*out["signal"], *out["strength"]):
        assert re.fullmatch(r"[A-Z]+", word), word


def test_one_signal_per_feature_row() -> None:
    """Three tickers of different lengths; events for a ticker and a day the features do not
    have add no rows."""
    tapes = [quiet(75, ticker="AAA"), quiet(72, ticker="BBB"), quiet(64, ticker="CCC")]
    features = features_of(frames(*reversed(tapes)))
    out = signals(
        features,
        event("spring", "bullish", 0.9, ticker="AAA"),
        event("spring", "bullish", 0.9, ticker="ZZZ"),
        event("no_supply", "bullish", 0.9, bar=73, ticker="BBB"),
        event("no_supply", "bullish", 0.9, bar=80, ticker="AAA"),
    )
    assert out.columns == list(SIGNAL_COLUMNS)
    assert out.height == features.height == 75 + 72 + 64
    keys = out.select("ticker", "date")
    assert keys.equals(features.select("ticker", "date").sort("ticker", "date"))
    assert keys.is_unique().all()
    assert out["event_count"].sum() == 1
    assert out["signal"].null_count() == 0
    assert out["confidence"].is_between(0.0, 1.0).all()


def test_reason_codes_name_nearby_levels() -> None:
    """near_support / near_resistance appear exactly where the level is within `near_atr`."""
    tape = quiet(75)
    for i in range(75):  # a wave, so that pivots and levels form
        row = tape.rows[i]
        shift = 1.5 * math.sin(i / 4)
        for column in ("open", "high", "low", "close"):
            row[column] += shift
    features = features_of(tape)
    out = signals(features).join(features, on=["ticker", "date"])
    ready = out.filter(~pl.col("warmup"))
    near = RULES.features["levels"]["near_atr"]
    support = ready["support_distance_atr"].fill_null(float("inf")) <= near
    resistance = ready["resistance_distance_atr"].fill_null(float("inf")) <= near
    assert (support.sum(), support.len()) == (7, 15)
    assert (ready["reason_codes"].list.contains("near_support") == support).all()
    assert (ready["reason_codes"].list.contains("near_resistance") == resistance).all()


def test_signals_carry_the_rules_stamp() -> None:
    out = signals(FLAT, event("spring", "bullish", 0.9))
    assert out["rules_version"].unique().to_list() == [RULES.version]
    assert out["rules_hash"].unique().to_list() == [RULES.hash]
