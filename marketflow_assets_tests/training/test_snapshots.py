"""Snapshots built by the real engine from bars written in code, and loading older versions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from marketflow_assets.training.lint import lint_pairs
from marketflow_assets.training.pairs import render_pairs
from marketflow_assets.training.snapshots import SNAPSHOT_COLUMNS, build_snapshots, load_snapshot
from marketflow_assets.training.templates import CONVERSATION_TYPES, load_templates
from marketflow_assets.vpa import compute_signals
from marketflow_assets.vpa.events import EVENTS_SCHEMA
from marketflow_assets_tests.training.fixtures.cases import snapshot_frame
from marketflow_assets_tests.vpa.patterns import RULES, features_of, quiet, session

FIXTURE_V1 = Path(__file__).parent / "fixtures" / "snapshot_v1.json"
D = 70  # the session the hand-written events are visible on
FEATURES = features_of(quiet(75, drift=-0.2))  # a steady decline, past warm-up from bar 60


def event(rule_id: str, direction: str, confidence: float, bar: int, confirmed: int) -> dict:
    """An event row as `detect_events` writes it."""
    return {
        "ticker": "AAA",
        "date": session(bar),
        "rule_id": rule_id,
        "rule_version": RULES.patterns[rule_id].version,
        "direction": direction,
        "confidence": confidence,
        "confirmed_at": session(confirmed),
        "rules_version": RULES.version,
        "rules_hash": RULES.hash,
    }


EVENTS = pl.DataFrame(
    [
        event("stopping_volume", "bullish", 0.6734, D, D),
        event("spring", "bullish", 0.6461, D - 2, D),  # formed two bars before, confirmed on D
    ],
    schema=EVENTS_SCHEMA,
)
SIGNALS = compute_signals(FEATURES, EVENTS, RULES)
# The track record scales BUY confidence by 1.25 and flags stopping volume from D on.
CALIBRATION = pl.DataFrame(
    [
        {"date": day, "signal": signal, "multiplier": 1.25 if signal == "BUY" else 0.8}
        for day in SIGNALS["date"].unique()
        for signal in ("BUY", "SELL", "HOLD")
    ]
)
FLAGS = pl.DataFrame(
    [
        {"date": day, "rule_id": rule, "flagged": rule == "stopping_volume" and day >= session(D)}
        for day in SIGNALS["date"].unique()
        for rule in ("spring", "stopping_volume")
    ]
)


def snapshots(signals: pl.DataFrame = SIGNALS) -> pl.DataFrame:
    return build_snapshots(FEATURES, EVENTS, signals, CALIBRATION, FLAGS, RULES)


def document(frame: pl.DataFrame, bar: int) -> dict[str, Any]:
    return load_snapshot(frame.filter(pl.col("as_of") == session(bar))["payload"][0])


def test_one_snapshot_per_signal_with_the_events_visible_that_day() -> None:
    frame = snapshots()
    assert frame.columns == list(SNAPSHOT_COLUMNS)
    assert frame.height == SIGNALS.height
    day = frame.filter(pl.col("as_of") == session(D)).row(0, named=True)
    assert day["events"] == ["spring", "stopping_volume"]
    assert day["signal"] == "BUY"
    assert day["market_condition"] == "accumulation"
    doc = document(frame, D)
    spring, stopping = doc["events"]
    assert spring["bar_date"] == str(session(D - 2))
    assert stopping["bar_date"] == str(session(D)) == doc["as_of"]
    assert spring["meaning"] == RULES.patterns["spring"].rationale
    assert stopping["confidence"] == 0.673
    assert doc["signal"]["event_count"] == 2
    # Before D neither event exists yet.
    assert document(frame, D - 1)["events"] == []


def test_the_signal_carries_its_raw_and_calibrated_confidence_and_the_flagged_rules() -> None:
    frame = snapshots()
    day = frame.filter(pl.col("as_of") == session(D)).row(0, named=True)
    raw = SIGNALS.filter(pl.col("date") == session(D))["confidence"][0]
    assert day["confidence"] == raw
    assert day["calibrated_confidence"] == pytest.approx(min(raw * 1.25, 1.0))
    doc = document(frame, D)
    assert doc["signal"]["raw_confidence"] == round(raw, 3)
    assert doc["signal"]["calibrated_confidence"] == round(min(raw * 1.25, 1.0), 3)
    assert doc["calibration"] == {"multiplier": 1.25, "flagged_rules": ["stopping_volume"]}
    # A HOLD is scaled by its own multiplier and clipped to [0, 1]; without events none is flagged.
    hold = frame.filter(pl.col("signal") == "HOLD").row(0, named=True)
    assert hold["calibrated_confidence"] == pytest.approx(hold["confidence"] * 0.8)
    assert load_snapshot(hold["payload"])["calibration"]["flagged_rules"] == []


def test_signal_without_its_calibration_is_an_error_naming_it() -> None:
    calibration = CALIBRATION.filter(pl.col("date") != session(D))
    with pytest.raises(
        ValueError, match=rf"1 signal\(s\) have no calibration, first AAA {session(D)} BUY"
    ):
        build_snapshots(FEATURES, EVENTS, SIGNALS, calibration, FLAGS, RULES)


def test_snapshot_id_is_deterministic_and_changes_with_the_rules() -> None:
    first, second = snapshots(), snapshots()
    assert first["snapshot_id"].to_list() == second["snapshot_id"].to_list()
    assert first["snapshot_id"].n_unique() == first.height
    other = snapshots(SIGNALS.with_columns(pl.lit("cd" * 32).alias("rules_hash")))
    assert not set(other["snapshot_id"]) & set(first["snapshot_id"])


def test_payload_numbers_are_rounded_to_what_a_reader_quotes() -> None:
    def decimals(value: float) -> int:
        text = repr(float(value))
        return len(text.split(".")[1].rstrip("0")) if "." in text else 0

    doc = document(snapshots(), D)
    prices = [doc["bar"][k] for k in ("open", "high", "low", "close")]
    prices += [doc["trend"]["sma20"], doc["risk"]["atr"], doc["risk"]["long_stop"]]
    assert max(map(decimals, prices)) <= 2
    percents = [doc["bar"]["change_pct"], doc["bar"]["gap_pct"], doc["weekly"]["change_pct"]]
    assert max(map(decimals, percents)) <= 2
    ratios = [*doc["candle"].values(), doc["volume"]["relative_to_mean"], doc["signal"]["score"]]
    assert max(map(decimals, ratios)) <= 3
    assert isinstance(doc["bar"]["volume"], int)
    assert doc["signal"]["type"] == "BUY"
    assert doc["rules"]["hash"] == RULES.hash


def test_version_1_fixture_migrates_and_renders_with_every_template() -> None:
    payload = FIXTURE_V1.read_text()
    old = json.loads(payload)
    assert old["schema_version"] == 1
    doc = load_snapshot(payload)
    assert doc["schema_version"] == 3
    assert doc["signal"]["raw_confidence"] == old["signal"]["confidence"]
    assert "confidence" not in doc["signal"]
    assert doc["signal"]["calibrated_confidence"] is None
    assert doc["calibration"] == {"multiplier": None, "flagged_rules": []}
    frame = snapshot_frame([old])
    pairs = render_pairs(frame, load_templates())
    assert sorted(pairs["conversation_type"]) == sorted(CONVERSATION_TYPES)
    assert lint_pairs(pairs, frame).height == 0


@pytest.mark.parametrize("version", [0, 4, "2", True, None])
def test_unknown_schema_version_is_a_clear_error(version: object) -> None:
    with pytest.raises(ValueError, match="unknown schema_version"):
        load_snapshot(json.dumps({"schema_version": version}))
    with pytest.raises(ValueError, match="unknown schema_version"):
        load_snapshot("[]")


def test_signal_without_a_feature_row_is_an_error_naming_it() -> None:
    features = FEATURES.filter(pl.col("date") != session(D))
    with pytest.raises(
        ValueError, match=rf"1 signal\(s\) have no feature row, first AAA {session(D)}"
    ):
        build_snapshots(features, EVENTS, SIGNALS, CALIBRATION, FLAGS, RULES)
