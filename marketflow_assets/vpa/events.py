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

from marketflow_assets.vpa.frame import concat, map_ticker_chunks, ordered
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
    frame, starts = ordered(features.select(NEEDED))
    return concat(
        map_ticker_chunks(frame, lambda chunk, firsts: _events(chunk, firsts, rules), starts)
    )


def _events(frame: pl.DataFrame, starts: np.ndarray, rules: Rules) -> pl.DataFrame:
    """The events of a piece of whole tickers, in (ticker, date, rule id) order."""
    if frame.height == 0:
        return pl.DataFrame(schema=EVENTS_SCHEMA)
    patterns = [rules.patterns[rule_id] for rule_id in RULE_IDS]
    conditions = pattern_conditions(rules)
    # Warm-up rows stay in the frame (follow-through is read on consecutive bars) but never fire.
    ready = ~pl.col("warmup").fill_null(True)
    found = frame.select(
        (ready & conditions[rule.rule_id]).fill_null(False).alias(rule.rule_id) for rule in patterns
    )
    dates = frame["date"].to_physical().to_numpy()
    follow = _FollowThrough(frame, starts)
    keys, confirmed = [], {}
    for i, rule in enumerate(patterns):
        rows = np.flatnonzero(found[rule.rule_id].to_numpy())
        if rule.confirm_bars > 0:
            rows, confirmed[i] = follow.confirm(rows, rule)
        keys.append(rows * len(patterns) + i)
    # By row (ticker, date), then by rule id.
    key = np.sort(np.concatenate(keys))
    rows, kinds = np.divmod(key, len(patterns))
    confirmed_at = dates[rows]
    for i, at in confirmed.items():
        confirmed_at[np.searchsorted(key, keys[i])] = at
    table = _rule_table(patterns)
    direction = table["direction"][kinds]
    against = table["against"][kinds]
    # A bar that closes up reads bearish; down or unchanged (or unknown), bullish.
    with np.errstate(invalid="ignore"):
        direction[against] = frame["close_change"].to_numpy()[rows[against]] > 0
    fresh = np.empty(rows.size, dtype=bool)
    fresh[:1] = True
    np.not_equal(rows[1:], rows[:-1], out=fresh[1:])
    lean = (
        frame["volume_rel_mean"].gather(rows[fresh]).log().tanh().fill_nan(0.0).fill_null(0.0)
    ).gather(np.cumsum(fresh) - 1)
    events = pl.DataFrame(
        {
            "ticker": frame["ticker"].gather(rows),
            "date": frame["date"].gather(rows),
            "rule_id": pl.Series(RULE_IDS, dtype=RULE_ID).gather(kinds),
            "rule_version": table["version"][kinds],
            "direction": pl.Series(DIRECTION.categories, dtype=DIRECTION).gather(direction),
            "_base": table["base"][kinds],
            "_weight": table["weight"][kinds],
            "_lean": lean,
            "confirmed_at": pl.Series(confirmed_at.astype(np.int32)).cast(pl.Date),
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


class _FollowThrough:
    """The bars after a pattern bar, read for the follow-through that confirms it."""

    def __init__(self, frame: pl.DataFrame, starts: np.ndarray) -> None:
        # One past the last row of each row's ticker.
        self.end = np.repeat(
            np.append(starts[1:], frame.height), np.diff(starts, append=frame.height)
        )
        self.low = frame["low"].to_numpy()
        self.high = frame["high"].to_numpy()
        self.close = frame["close"].to_numpy()
        self.ratio = frame["split_ratio"].fill_null(1.0).to_numpy()
        self.dates = frame["date"].to_physical().to_numpy()

    def confirm(self, rows: np.ndarray, rule: PatternRule) -> tuple[np.ndarray, np.ndarray]:
        """The pattern rows that are confirmed and the date of the bar confirming each.

        Bullish: the first of the next `confirm_bars` bars of the same ticker to close above the
        pattern bar's close with no low below its low up to it; bearish: the mirror. Later
        prices are put on the pattern bar's basis through any split between.
        """
        bullish = rule.direction == "bullish"
        last = self.end.size - 1
        factor = np.ones(rows.size)
        extreme = None
        confirmed_at = np.zeros(rows.size, dtype=self.dates.dtype)
        done = np.zeros(rows.size, dtype=bool)
        for j in range(1, rule.confirm_bars + 1):
            later = np.minimum(rows + j, last)
            inside = rows + j < self.end[rows]
            factor = factor * np.where(rows + j <= last, self.ratio[later], 1.0)
            price = (self.low if bullish else self.high)[later] * factor
            if extreme is None:
                extreme = price
            else:
                extreme = np.minimum(extreme, price) if bullish else np.maximum(extreme, price)
            close = self.close[later] * factor
            if bullish:
                follows = (close > self.close[rows]) & (extreme >= self.low[rows])
            else:
                follows = (close < self.close[rows]) & (extreme <= self.high[rows])
            now = inside & follows & ~done
            confirmed_at[now] = self.dates[later[now]]
            done |= now
        return rows[done], confirmed_at[done]


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
