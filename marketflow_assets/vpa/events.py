"""VPA patterns: one event row per (ticker, bar, rule), published when it is confirmed.

A pattern that needs follow-through is looked for in the bars after its own and published with
`confirmed_at` = the bar that supplies it; before that bar the event does not exist. Every other
pattern is confirmed on its own bar.

`rule_id` and `direction` are `pl.Enum`s; the rule ids are in alphabetical order, so events
sort the same way whether rule ids are read as words or as the enum.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketflow_assets.vpa.frame import concat, map_ticker_chunks, sort_by_ticker
from marketflow_assets.vpa.rules import PATTERN_IDS, PatternRule, Rules, load_rules

RULE_IDS = tuple(sorted(PATTERN_IDS))
RULE_ID = pl.Enum(RULE_IDS)
DIRECTION = pl.Enum(("bullish", "bearish"))

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
        "rule_id": RULE_ID,
        "rule_version": pl.Int32,
        "direction": DIRECTION,
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
    return concat(map_ticker_chunks(frame, lambda chunk: _events(chunk, rules)))


def _events(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """The events of a piece of whole tickers, in (ticker, date, rule id) order."""
    patterns = [rules.patterns[rule_id] for rule_id in RULE_IDS]
    conditions = pattern_conditions(rules)
    # Warm-up rows stay in the frame (follow-through is read on consecutive bars) but never fire.
    ready = ~pl.col("warmup").fill_null(True)
    found = frame.select(
        *(
            (ready & conditions[rule.rule_id]).fill_null(False).alias(rule.rule_id)
            for rule in patterns
        ),
        *(
            _confirmation(rule).alias(f"_after_{rule.rule_id}")
            for rule in patterns
            if rule.confirm_bars > 0
        ),
        UP.fill_null(False).alias("_up"),
        pl.col("volume_rel_mean").log().tanh().fill_nan(0.0).alias("_lean"),
    )
    hits = np.column_stack([found[rule.rule_id].to_numpy() for rule in patterns])
    for i, rule in enumerate(patterns):
        if rule.confirm_bars > 0:
            hits[:, i] &= found[f"_after_{rule.rule_id}"].is_not_null().to_numpy()
    # Row-major order: by row (ticker, date), then by rule id.
    rows, kinds = np.nonzero(hits)
    table = _rule_table(patterns)
    against = table["against"][kinds]
    direction = table["direction"][kinds]
    direction[against] = found["_up"].to_numpy()[rows[against]]
    confirmed_at = frame["date"].to_numpy()[rows]
    for i, rule in enumerate(patterns):
        if rule.confirm_bars > 0:
            mine = kinds == i
            confirmed_at[mine] = found[f"_after_{rule.rule_id}"].to_numpy()[rows[mine]]
    events = pl.DataFrame(
        {
            "ticker": frame["ticker"].gather(rows),
            "date": frame["date"].gather(rows),
            "rule_id": pl.Series(RULE_IDS, dtype=RULE_ID).gather(kinds),
            "rule_version": table["version"][kinds],
            "direction": pl.Series(DIRECTION.categories, dtype=DIRECTION).gather(direction),
            "_base": table["base"][kinds],
            "_weight": table["weight"][kinds],
            "_lean": found["_lean"].gather(rows),
            "confirmed_at": pl.Series(confirmed_at, dtype=pl.Date),
        }
    )
    # base + volume_weight * sense * tanh(ln(volume / mean)), clipped to [0, 1].
    return events.select(
        *EVENT_COLUMNS[:5],
        (pl.col("_base") + pl.col("_weight") * pl.col("_lean")).clip(0.0, 1.0).alias("confidence"),
        "confirmed_at",
        pl.lit(rules.version).alias("rules_version"),
        pl.lit(rules.hash).alias("rules_hash"),
    )


def _rule_table(patterns: list[PatternRule]) -> dict[str, np.ndarray]:
    """Per rule (in the order given): version, fixed direction (0 bullish, 1 bearish), whether
    the direction is against the bar, confidence base and signed volume weight."""
    return {
        "version": np.array([rule.version for rule in patterns], dtype=np.int32),
        "direction": np.array([rule.direction == "bearish" for rule in patterns], dtype=np.uint8),
        "against": np.array([rule.direction == "against_bar" for rule in patterns]),
        "base": np.array([rule.confidence_base for rule in patterns]),
        "weight": np.array([rule.volume_weight * rule.volume_sense for rule in patterns]),
    }


def _long_wick(wick: pl.Expr, other: pl.Expr, body: pl.Expr, rule: PatternRule) -> pl.Expr:
    return (
        (wick >= rule["min_wick_to_body"] * body)
        & (wick >= rule["min_wick"])
        & (other <= rule["max_other_wick"])
    )


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
