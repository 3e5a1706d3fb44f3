"""The signal of each (ticker, D): BUY, SELL or HOLD from the events that became visible on D.

score = sum over events confirmed on D of direction * confidence * weight, leaned by the weekly
trend; thresholds and weights live in rules.yaml under `signals`.
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.vpa.frame import map_ticker_chunks, sort_by_ticker
from marketflow_assets.vpa.rules import Rules, load_rules

SIGNAL_COLUMNS = (
    "ticker",
    "date",
    "signal",
    "strength",
    "confidence",
    "score",
    "event_count",
    "reason_codes",
    "warmup",
    "rules_version",
    "rules_hash",
)
# The feature columns a signal reads.
NEEDED = (
    "ticker",
    "date",
    "warmup",
    "trend_state",
    "weekly_trend",
    "support_distance_atr",
    "resistance_distance_atr",
)
SIGNALS = ("BUY", "SELL", "HOLD")
STRENGTHS = ("STRONG", "MODERATE", "WEAK")


def compute_signals(
    features: pl.DataFrame, events: pl.DataFrame, rules: Rules | None = None
) -> pl.DataFrame:
    """One signal per row of `features`, from the events confirmed on that row's date.

    Reason codes list the events (rule ids) and the context: daily and weekly trend, and
    closeness to support or resistance. Warm-up rows are HOLD with confidence 0 and reason
    `warmup`.
    """
    rules = rules or load_rules()
    weights = pl.col("rule_id").replace_strict(
        dict(rules.signals["weights"]), return_dtype=pl.Float64
    )
    sign = pl.when(pl.col("direction") == "bullish").then(1.0).otherwise(-1.0)
    by_day = (
        events.group_by("ticker", "confirmed_at")
        .agg(
            (sign * pl.col("confidence") * weights).sum().alias("_event_score"),
            pl.len().cast(pl.Int32).alias("event_count"),
            pl.col("rule_id").unique().sort().str.join(",").alias("_event_codes"),
        )
        .rename({"confirmed_at": "date"})
    )
    frame = sort_by_ticker(features.select(NEEDED)).join(
        by_day, on=["ticker", "date"], how="left", maintain_order="left"
    )
    return map_ticker_chunks(frame, lambda chunk: _signals(chunk, rules))


def _signals(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    spec = rules.signals
    threshold, lean = spec["threshold"], spec["weekly_weight"]
    near = rules.features["levels"]["near_atr"]
    raw = pl.col("_event_score").fill_null(0.0)
    weekly = pl.col("weekly_trend")
    agrees = ((raw > 0) & (weekly == "up")) | ((raw < 0) & (weekly == "down"))
    opposes = ((raw > 0) & (weekly == "down")) | ((raw < 0) & (weekly == "up"))
    score = raw * pl.when(agrees.fill_null(False)).then(1 + lean).when(
        opposes.fill_null(False)
    ).then(1 - lean).otherwise(1.0)
    frame = frame.with_columns(
        pl.when(pl.col("warmup")).then(0.0).otherwise(score).alias("score"),
        pl.col("event_count").fill_null(0),
    )
    score = pl.col("score")
    signal = (
        pl.when(score >= threshold)
        .then(pl.lit("BUY"))
        .when(score <= -threshold)
        .then(pl.lit("SELL"))
        .otherwise(pl.lit("HOLD"))
    )
    confidence = (
        pl.when(pl.col("warmup"))
        .then(0.0)
        .when(score.abs() >= threshold)
        .then(1 - (-score.abs()).exp())
        .otherwise(1 - score.abs() / (2 * threshold))
    )
    frame = frame.with_columns(signal.alias("signal"), confidence.alias("confidence"))
    strength = spec["strength"]
    reasons = pl.concat_str(
        pl.col("_event_codes"),
        pl.lit("trend_") + pl.col("trend_state"),
        pl.lit("weekly_") + weekly,
        pl.when(pl.col("support_distance_atr") <= near).then(pl.lit("near_support")),
        pl.when(pl.col("resistance_distance_atr") <= near).then(pl.lit("near_resistance")),
        separator=",",
        ignore_nulls=True,
    )
    return frame.select(
        "ticker",
        "date",
        "signal",
        pl.when(pl.col("confidence") >= strength["strong"])
        .then(pl.lit("STRONG"))
        .when(pl.col("confidence") >= strength["moderate"])
        .then(pl.lit("MODERATE"))
        .otherwise(pl.lit("WEAK"))
        .alias("strength"),
        "confidence",
        "score",
        "event_count",
        pl.when(pl.col("warmup"))
        .then(pl.lit("warmup"))
        .otherwise(reasons)
        .str.split(",")
        .alias("reason_codes"),
        "warmup",
        pl.lit(rules.version).alias("rules_version"),
        pl.lit(rules.hash).alias("rules_hash"),
    ).sort("ticker", "date")
