"""VPA patterns: one event row per (ticker, bar, rule), published when it is confirmed.

A pattern that needs follow-through is looked for in the bars after its own and published with
`confirmed_at` = the bar that supplies it; before that bar the event does not exist. Every other
pattern is confirmed on its own bar.
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.vpa.frame import map_ticker_chunks, sort_by_ticker
from marketflow_assets.vpa.rules import PatternRule, Rules, load_rules

EVENT_COLUMNS = (
    "ticker",
    "date",
    "rule_id",
    "rule_version",
    "direction",
    "confidence",
    "confirmed_at",
    "rules_version",
    "rules_hash",
)
EVENTS_SCHEMA = pl.Schema(
    {
        "ticker": pl.String,
        "date": pl.Date,
        "rule_id": pl.String,
        "rule_version": pl.Int32,
        "direction": pl.String,
        "confidence": pl.Float64,
        "confirmed_at": pl.Date,
        "rules_version": pl.String,
        "rules_hash": pl.String,
    }
)

# The feature columns the patterns read.
NEEDED = (
    "ticker",
    "date",
    "high",
    "low",
    "close",
    "split_ratio",
    "warmup",
    "close_change",
    "close_location",
    "body",
    "upper_wick",
    "lower_wick",
    "volume_rel_mean",
    "volume_class",
    "volume_below_prior_two",
    "spread_class",
    "effort_result",
    "trend_state",
    "range_location20",
    "range_high20",
    "range_low20",
    "atr14",
)

UP = pl.col("close_change") > 0
DOWN = pl.col("close_change") < 0
HEAVY = pl.col("volume_class").is_in(["high", "ultra_high"])
NARROW = pl.col("spread_class") == "narrow"
WIDE = pl.col("spread_class").is_in(["wide", "very_wide"])


def pattern_conditions(rules: Rules) -> dict[str, pl.Expr]:
    """Each pattern's condition on a feature row (before any follow-through)."""
    p = rules.patterns
    cl, vol = pl.col("close_location"), pl.col("volume_rel_mean")
    lower, upper, body = pl.col("lower_wick"), pl.col("upper_wick"), pl.col("body")
    trend, location = pl.col("trend_state"), pl.col("range_location20")
    low20, high20 = pl.col("range_low20"), pl.col("range_high20")
    probe = p["test"]["probe_atr"] * pl.col("atr14")
    return {
        "no_demand": UP
        & NARROW
        & pl.col("volume_below_prior_two")
        & (vol < p["no_demand"]["max_volume_ratio"]),
        "no_supply": DOWN
        & NARROW
        & pl.col("volume_below_prior_two")
        & (vol < p["no_supply"]["max_volume_ratio"]),
        "stopping_volume": (
            (trend == "down") | (location <= p["stopping_volume"]["max_range_location"])
        )
        & HEAVY
        & (lower >= p["stopping_volume"]["min_lower_wick"])
        & (cl >= p["stopping_volume"]["min_close_location"]),
        "selling_climax": (trend == "down")
        & DOWN
        & (pl.col("volume_class") == "ultra_high")
        & WIDE
        & (pl.col("low") < low20)
        & (cl >= p["selling_climax"]["min_close_location"]),
        "buying_climax": (trend == "up")
        & UP
        & (pl.col("volume_class") == "ultra_high")
        & WIDE
        & (pl.col("high") > high20)
        & (cl <= p["buying_climax"]["max_close_location"]),
        "upthrust": (pl.col("high") > high20)
        & (pl.col("close") < high20)
        & (cl <= p["upthrust"]["max_close_location"])
        & (upper >= p["upthrust"]["min_upper_wick"]),
        "spring": (pl.col("low") < low20)
        & (pl.col("close") > low20)
        & (cl >= p["spring"]["min_close_location"])
        & (lower >= p["spring"]["min_lower_wick"]),
        "test": pl.col("low").is_between(low20 - probe, low20 + probe)
        & (vol < p["test"]["max_volume_ratio"])
        & (cl >= p["test"]["min_close_location"])
        & pl.col("spread_class").is_in(["narrow", "average"]),
        "effort_without_result": (pl.col("effort_result") == "effort_without_result") & (UP | DOWN),
        "result_without_effort": (pl.col("effort_result") == "result_without_effort") & (UP | DOWN),
        "hammer": _long_wick(lower, upper, body, p["hammer"])
        & ((trend == "down") | (location <= p["hammer"]["max_range_location"])),
        "shooting_star": _long_wick(upper, lower, body, p["shooting_star"])
        & ((trend == "up") | (location >= p["shooting_star"]["min_range_location"])),
    }


def detect_events(features: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Every confirmed pattern in `features` (the frame `compute_features` returns).

    Warm-up rows never produce events. Events are sorted by ticker, bar date and rule.
    """
    rules = rules or load_rules()
    frame = sort_by_ticker(features.select(NEEDED))
    events = map_ticker_chunks(frame, lambda chunk: _events(chunk, rules))
    return events.sort("ticker", "date", "rule_id")


def _events(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    # Warm-up rows stay in the frame (follow-through is read on consecutive bars) but never fire.
    frame = frame.with_columns((~pl.col("warmup").fill_null(True)).alias("_ready"))
    conditions = pattern_conditions(rules)
    confirm_offsets = {
        rule_id: _confirmation(rule)
        for rule_id, rule in rules.patterns.items()
        if rule.confirm_bars > 0
    }
    frame = frame.with_columns(
        *(
            (pl.col("_ready") & cond).fill_null(False).alias(f"_is_{rule_id}")
            for rule_id, cond in conditions.items()
        ),
        *(offset.alias(f"_after_{rule_id}") for rule_id, offset in confirm_offsets.items()),
    )
    found = []
    for rule_id, rule in rules.patterns.items():
        hits = frame.filter(pl.col(f"_is_{rule_id}"))
        if rule_id in confirm_offsets:
            hits = hits.filter(pl.col(f"_after_{rule_id}").is_not_null()).with_columns(
                pl.col(f"_after_{rule_id}").alias("confirmed_at")
            )
        else:
            hits = hits.with_columns(pl.col("date").alias("confirmed_at"))
        found.append(
            hits.select(
                "ticker",
                "date",
                pl.lit(rule_id).alias("rule_id"),
                pl.lit(rule.version, pl.Int32).alias("rule_version"),
                _direction(rule).alias("direction"),
                _confidence(rule).alias("confidence"),
                "confirmed_at",
                pl.lit(rules.version).alias("rules_version"),
                pl.lit(rules.hash).alias("rules_hash"),
            )
        )
    return pl.concat(found).cast(dict(EVENTS_SCHEMA))


def _long_wick(wick: pl.Expr, other: pl.Expr, body: pl.Expr, rule: PatternRule) -> pl.Expr:
    return (
        (wick >= rule["min_wick_to_body"] * body)
        & (wick >= rule["min_wick"])
        & (other <= rule["max_other_wick"])
    )


def _direction(rule: PatternRule) -> pl.Expr:
    if rule.direction == "against_bar":
        return pl.when(UP).then(pl.lit("bearish")).otherwise(pl.lit("bullish"))
    return pl.lit(rule.direction)


def _confidence(rule: PatternRule) -> pl.Expr:
    """base + volume_weight * sense * tanh(ln(volume / mean)), clipped to [0, 1]."""
    lean = pl.col("volume_rel_mean").log().tanh().fill_nan(0.0)
    return (rule.confidence_base + rule.volume_weight * rule.volume_sense * lean).clip(0.0, 1.0)


def _confirmation(rule: PatternRule) -> pl.Expr:
    """Date of the first of the next `confirm_bars` bars that follows through, else null.

    Bullish: a close above the pattern bar's close with no low below its low in between;
    bearish: the mirror. Later prices are put on the pattern bar's basis through any split.
    """
    bullish = rule.direction == "bullish"
    factor = pl.lit(1.0)
    extreme = None
    confirmed = pl.lit(None, pl.Date)
    checks = []
    for j in range(1, rule.confirm_bars + 1):
        same_ticker = pl.col("ticker").shift(-j) == pl.col("ticker")
        factor = factor * pl.col("split_ratio").shift(-j).fill_null(1.0)
        price = (pl.col("low") if bullish else pl.col("high")).shift(-j) * factor
        extreme = (
            price
            if extreme is None
            else (
                pl.min_horizontal(extreme, price) if bullish else pl.max_horizontal(extreme, price)
            )
        )
        close = pl.col("close").shift(-j) * factor
        if bullish:
            follows = (close > pl.col("close")) & (extreme >= pl.col("low"))
        else:
            follows = (close < pl.col("close")) & (extreme <= pl.col("high"))
        checks.append((same_ticker & follows, pl.col("date").shift(-j)))
    for ok, date in reversed(checks):
        confirmed = pl.when(ok.fill_null(False)).then(date).otherwise(confirmed)
    return confirmed
