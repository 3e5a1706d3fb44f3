"""The signal of each (ticker, D): BUY, SELL or HOLD from the events that became visible on D.

score = sum over events confirmed on D of direction * confidence * weight, leaned by the weekly
trend; thresholds and weights live in rules.yaml under `signals`.

`signal` and `strength` are `pl.Enum`s of the words below.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketflow_assets.vpa.events import RULE_IDS
from marketflow_assets.vpa.frame import concat, map_ticker_chunks, ordered
from marketflow_assets.vpa.reasons import EVENT_SET, reason_codes
from marketflow_assets.vpa.rules import Rules, load_rules
from marketflow_assets.vpa.scores import EventScores

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
SIGNAL = pl.Enum(SIGNALS)
STRENGTH = pl.Enum(STRENGTHS)
EVENT_SCORE, EVENT_COUNT = "_event_score", "event_count"


def compute_signals(
    features: pl.DataFrame, events: pl.DataFrame, rules: Rules | None = None
) -> pl.DataFrame:
    """One signal per row of `features`, from the events confirmed on that row's date.

    Reason codes list the events (rule ids) and the context: daily and weekly trend, and
    closeness to support or resistance. Warm-up rows are HOLD with confidence 0 and reason
    `warmup`.
    """
    rules = rules or load_rules()
    frame, starts = ordered(features.select(NEEDED))
    scores = EventScores(events, rules.signals["weights"], RULE_IDS)
    return concat(
        map_ticker_chunks(
            frame, lambda chunk, firsts: _signals(chunk, firsts, scores, rules), starts
        )
    )


def _signals(
    frame: pl.DataFrame, starts: np.ndarray, scores: EventScores, rules: Rules
) -> pl.DataFrame:
    score, count, kinds = scores.by_row(frame, starts)
    frame = frame.with_columns(
        pl.Series(EVENT_SCORE, score),
        pl.Series(EVENT_COUNT, count),
        pl.Series(EVENT_SET, kinds),
    )
    spec = rules.signals
    threshold, lean = spec["threshold"], spec["weekly_weight"]
    near = rules.features["levels"]["near_atr"]
    raw = pl.col(EVENT_SCORE)
    weekly = pl.col("weekly_trend")
    agrees = ((raw > 0) & (weekly == "up")) | ((raw < 0) & (weekly == "down"))
    opposes = ((raw > 0) & (weekly == "down")) | ((raw < 0) & (weekly == "up"))
    score = raw * pl.when(agrees.fill_null(False)).then(1 + lean).when(
        opposes.fill_null(False)
    ).then(1 - lean).otherwise(1.0)
    score = pl.when(pl.col("warmup")).then(0.0).otherwise(score)
    frame = frame.with_columns(
        score.alias("score"),
        reason_codes(frame, near, RULE_IDS).alias("reason_codes"),
    )
    score = pl.col("score")
    strength = spec["strength"]
    frame = frame.with_columns(_confidence(frame, threshold).alias("confidence"))
    return frame.select(
        "ticker",
        "date",
        pl.when(score >= threshold)
        .then(pl.lit("BUY", SIGNAL))
        .when(score <= -threshold)
        .then(pl.lit("SELL", SIGNAL))
        .otherwise(pl.lit("HOLD", SIGNAL))
        .alias("signal"),
        pl.when(pl.col("confidence") >= strength["strong"])
        .then(pl.lit("STRONG", STRENGTH))
        .when(pl.col("confidence") >= strength["moderate"])
        .then(pl.lit("MODERATE", STRENGTH))
        .otherwise(pl.lit("WEAK", STRENGTH))
        .alias("strength"),
        "confidence",
        "score",
        EVENT_COUNT,
        "reason_codes",
        "warmup",
        pl.lit(rules.version).alias("rules_version"),
        pl.lit(rules.hash).alias("rules_hash"),
    )


def _confidence(frame: pl.DataFrame, threshold: float) -> pl.Series:
    """0 on warm-up rows; 1 - exp(-|score|) where |score| >= threshold (BUY or SELL), else
    1 - |score| / (2 threshold). The exponential is taken on the few BUY and SELL rows only."""
    score = pl.col("score")
    found = frame.select(
        pl.when(pl.col("warmup"))
        .then(0.0)
        .otherwise(1 - score.abs() / (2 * threshold))
        .alias("confidence"),
        ((~pl.col("warmup")).fill_null(True) & (score.abs() >= threshold)).alias("_strong"),
    )
    strong = found["_strong"].arg_true()
    confidence = found["confidence"]
    if strong.len():
        decided = frame.select(score.gather(strong)).select(1 - (-score.abs()).exp())
        confidence = confidence.scatter(strong, decided.to_series())
    return confidence
