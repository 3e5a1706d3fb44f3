"""Immutable analysis snapshots: what the engine saw for (ticker, as-of date), frozen as JSON.

A snapshot holds the features, events, levels, weekly view and signal of one session, rounded
to the precision a reader would quote and in the units the text quotes (percentages as
percent), so that every number a template writes can be found in it. `schema_version` lets an
older snapshot be migrated when loaded. Built for all rows at once with Polars.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import polars as pl

from marketflow_assets.training.ids import sha256_ids
from marketflow_assets.vpa.rules import Rules

SCHEMA_VERSION = 3

PRICE_DIGITS = 2
RATIO_DIGITS = 3
PERCENT_DIGITS = 2

SNAPSHOT_COLUMNS = (
    "snapshot_id",
    "ticker",
    "as_of",
    "schema_version",
    "rules_version",
    "rules_hash",
    "warmup",
    "signal",
    "strength",
    "confidence",
    "calibrated_confidence",
    "market_condition",
    "events",
    "payload",
)


def build_snapshots(
    features: pl.DataFrame,
    events: pl.DataFrame,
    signals: pl.DataFrame,
    calibration: pl.DataFrame,
    flags: pl.DataFrame,
    rules: Rules,
) -> pl.DataFrame:
    """One snapshot per (ticker, date) of `signals`: its features, the events visible that day
    (those confirmed on it), the signal with its confidence calibrated by the `calibration` of
    that day (date, signal, multiplier), and which of the day's rules `flags` marks as failing
    (date, rule_id, flagged); as JSON plus extracted columns for querying.

    `features` and `events` may cover more than `signals`; only rows matching a signal are used.
    """
    signals = signals.with_columns(pl.col("signal").cast(pl.String))
    for other, name, keys in (
        (features, "feature row", ["ticker", "date"]),
        (calibration, "calibration", ["date", "signal"]),
    ):
        missing = signals.join(
            other.with_columns(pl.col(k).cast(signals[k].dtype) for k in keys), on=keys, how="anti"
        )
        if missing.height:
            first = missing.row(0, named=True)
            raise ValueError(
                f"{missing.height} signal(s) have no {name}, "
                f"first {first['ticker']} {first['date']} {first['signal']}"
            )
    multipliers = calibration.select(
        "date",
        pl.col("signal").cast(pl.String),
        pl.col("multiplier").alias("calibration_multiplier"),
    )
    failing = flags.filter(pl.col("flagged")).select("date", pl.col("rule_id").alias("rule"))
    meanings = pl.DataFrame(
        {
            "rule_id": list(rules.patterns),
            "meaning": [rule.rationale for rule in rules.patterns.values()],
        }
    )
    visible = (
        events.with_columns(pl.col("rule_id").cast(pl.String))
        .join(meanings, on="rule_id", how="left")
        .select(
            "ticker",
            pl.col("confirmed_at").alias("date"),
            pl.col("rule_id").alias("rule"),
            pl.struct(
                pl.col("rule_id").alias("rule"),
                pl.col("direction").cast(pl.String),
                pl.col("confidence").round(RATIO_DIGITS),
                pl.col("date").cast(pl.String).alias("bar_date"),
                "meaning",
            ).alias("event"),
        )
        .sort("ticker", "date", "event")
        .join(failing.with_columns(failing=True), on=["date", "rule"], how="left")
        .group_by("ticker", "date", maintain_order=True)
        .agg(
            pl.col("event").alias("events"),
            pl.col("rule").filter(pl.col("failing").fill_null(False)).alias("flagged_rules"),
            pl.col("event")
            .struct.field("direction")
            .replace_strict({"bullish": 1, "bearish": -1}, default=0, return_dtype=pl.Int32)
            .sum()
            .alias("net_direction"),
        )
    )
    frame = (
        signals.join(features, on=["ticker", "date"], how="left", suffix="_feature")
        .join(visible, on=["ticker", "date"], how="left")
        .join(multipliers, on=["date", "signal"], how="left")
        .with_columns(
            pl.col("events").fill_null([]),
            pl.col("flagged_rules").fill_null([]),
            pl.col("net_direction").fill_null(0),
            (pl.col("confidence") * pl.col("calibration_multiplier"))
            .clip(0.0, 1.0)
            .alias("calibrated_confidence"),
        )
        .with_columns(_phase().alias("phase"))
    )
    frame = frame.with_columns(
        sha256_ids(
            frame.with_columns(pl.col("date").cast(pl.String)), ["ticker", "date", "rules_hash"]
        ).alias("snapshot_id")
    )
    return frame.select(
        "snapshot_id",
        "ticker",
        pl.col("date").alias("as_of"),
        pl.lit(SCHEMA_VERSION).alias("schema_version"),
        "rules_version",
        "rules_hash",
        "warmup",
        _word("signal"),
        _word("strength"),
        "confidence",
        "calibrated_confidence",
        pl.col("phase").alias("market_condition"),
        pl.col("events").list.eval(pl.element().struct.field("rule")).alias("events"),
        _payload(rules).struct.json_encode().alias("payload"),
    )


def _price(column: str) -> pl.Expr:
    return pl.col(column).round(PRICE_DIGITS)


def _ratio(column: str) -> pl.Expr:
    return pl.col(column).round(RATIO_DIGITS)


def _percent(column: str) -> pl.Expr:
    return (pl.col(column) * 100).round(PERCENT_DIGITS)


def _word(column: str) -> pl.Expr:
    return pl.col(column).cast(pl.String)


def _phase() -> pl.Expr:
    trend = pl.col("trend_state").cast(pl.String)
    return (
        pl.when(trend.is_null())
        .then(pl.lit("undetermined"))
        .when(trend.is_in(["down", "sideways"]) & (pl.col("net_direction") > 0))
        .then(pl.lit("accumulation"))
        .when(trend.is_in(["up", "sideways"]) & (pl.col("net_direction") < 0))
        .then(pl.lit("distribution"))
        .when(trend == "up")
        .then(pl.lit("markup"))
        .when(trend == "down")
        .then(pl.lit("markdown"))
        .otherwise(pl.lit("trading_range"))
    )


def _payload(rules: Rules) -> pl.Expr:
    """The snapshot document, grouped the way an analyst reads a chart."""
    params = rules.features
    stop, target = rules.plan["stop_atr"], rules.plan["target_atr"]
    atr = pl.col("atr14")
    return pl.struct(
        pl.lit(SCHEMA_VERSION).alias("schema_version"),
        "ticker",
        pl.col("date").cast(pl.String).alias("as_of"),
        "warmup",
        pl.struct(
            pl.lit(params["volume_window"]).alias("volume"),
            pl.lit(params["spread_window"]).alias("spread"),
            pl.lit(params["atr_period"]).alias("atr"),
            pl.lit(params["trend"]["fast"]).alias("trend_fast"),
            pl.lit(params["trend"]["slow"]).alias("trend_slow"),
            pl.lit(params["range_windows"]["short"]).alias("range_short"),
            pl.lit(params["range_windows"]["long"]).alias("range_long"),
            pl.lit(params["weekly"]["weeks"]).alias("weeks"),
        ).alias("windows"),
        pl.struct(
            *(_price(c) for c in ("open", "high", "low", "close")),
            pl.col("volume").round(0).cast(pl.Int64),
            _percent("close_change").alias("change_pct"),
            _percent("gap").alias("gap_pct"),
        ).alias("bar"),
        pl.struct(
            _word("volume_class").alias("class"),
            _ratio("volume_rel_mean").alias("relative_to_mean"),
            _ratio("volume_rel_median").alias("relative_to_median"),
            _ratio("volume_z").alias("z_score"),
            pl.col("volume_mean20").round(0).cast(pl.Int64).alias("mean"),
        ).alias("volume"),
        pl.struct(
            _word("spread_class").alias("class"),
            _price("range"),
            _ratio("spread_rel").alias("relative_to_mean"),
            _ratio("range_atr").alias("in_atr"),
        ).alias("spread"),
        pl.struct(
            _ratio("body"), _ratio("upper_wick"), _ratio("lower_wick"), _ratio("close_location")
        ).alias("candle"),
        _word("effort_result").alias("effort_result"),
        pl.struct(
            _word("trend_state").alias("state"),
            _ratio("trend_strength").alias("strength"),
            _price("sma20"),
            _price("sma50"),
            _ratio("range_location20").alias("location_short"),
            _ratio("range_location60").alias("location_long"),
            _ratio("obv_trend20").alias("obv_trend"),
        ).alias("trend"),
        pl.struct(
            _price("support"),
            pl.col("support_touches").cast(pl.Int32),
            _ratio("support_distance_atr"),
            _price("resistance"),
            pl.col("resistance_touches").cast(pl.Int32),
            _ratio("resistance_distance_atr"),
        ).alias("levels"),
        pl.struct(
            _word("weekly_trend").alias("trend"),
            _percent("week_change").alias("change_pct"),
            _ratio("weekly_volume_rel").alias("volume_relative"),
            _ratio("week_close_location").alias("close_location"),
            pl.col("week_bars").alias("bars"),
        ).alias("weekly"),
        "events",
        pl.struct(pl.col("phase")).alias("wyckoff"),
        pl.struct(
            _word("signal").alias("type"),
            _word("strength"),
            _ratio("confidence").alias("raw_confidence"),
            _ratio("calibrated_confidence"),
            _ratio("score"),
            pl.col("event_count"),
            pl.col("reason_codes").alias("reasons"),
        ).alias("signal"),
        pl.struct(
            _ratio("calibration_multiplier").alias("multiplier"),
            pl.col("flagged_rules"),
        ).alias("calibration"),
        pl.struct(
            _price("atr14").alias("atr"),
            pl.lit(stop).alias("stop_atr"),
            pl.lit(target).alias("target_atr"),
            (pl.col("close") - stop * atr).round(PRICE_DIGITS).alias("long_stop"),
            (pl.col("close") + target * atr).round(PRICE_DIGITS).alias("long_target"),
            (pl.col("close") + stop * atr).round(PRICE_DIGITS).alias("short_stop"),
            (pl.col("close") - target * atr).round(PRICE_DIGITS).alias("short_target"),
        ).alias("risk"),
        pl.struct(
            pl.col("rules_version").alias("version"), pl.col("rules_hash").alias("hash")
        ).alias("rules"),
    )


def _v1_to_v2(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Version 1 held the signal's confidence as `confidence`; version 2 names it
    `raw_confidence`, beside the calibrated one that the validation feedback adds."""
    signal = dict(snapshot["signal"])
    signal["raw_confidence"] = signal.pop("confidence")
    return {**snapshot, "signal": signal, "schema_version": 2}


def _v2_to_v3(snapshot: dict[str, Any]) -> dict[str, Any]:
    """Version 3 adds the confidence calibrated by the track record and the rules it flags;
    a version-2 snapshot was made before any calibration, so both are empty."""
    signal = {**snapshot["signal"], "calibrated_confidence": None}
    calibration = {"multiplier": None, "flagged_rules": []}
    return {**snapshot, "signal": signal, "calibration": calibration, "schema_version": 3}


MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {
    1: _v1_to_v2,
    2: _v2_to_v3,
}


def load_snapshot(payload: str) -> dict[str, Any]:
    """A stored snapshot as a dict of the current schema, migrating older versions in order."""
    snapshot = json.loads(payload)
    version = snapshot.get("schema_version") if isinstance(snapshot, dict) else None
    if (
        isinstance(version, bool)
        or not isinstance(version, int)
        or not 1 <= version <= SCHEMA_VERSION
    ):
        raise ValueError(f"snapshot has unknown schema_version {version!r}")
    while snapshot["schema_version"] < SCHEMA_VERSION:
        snapshot = MIGRATIONS[snapshot["schema_version"]](snapshot)
    return snapshot
