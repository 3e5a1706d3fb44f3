"""Reason codes of each signal: the rules of its events, then its context, as a list of words.

A row's list is fully given by a handful of small facts (which rules fired, the daily and
weekly trend, nearness to support and resistance, warm-up), so each distinct combination is
rendered once, by the rule below, and the lists are gathered for the rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

EVENT_SET = "_event_set"  # a bit per rule id (in the order given) with an event on the row


def reason_codes(frame: pl.DataFrame, near: float, rule_ids: tuple[str, ...]) -> pl.Series:
    """Per row: the rule ids of its events (sorted, once each), `trend_<daily trend>`,
    `weekly_<weekly trend>`, `near_support` and `near_resistance` within `near` ATRs; `warmup`
    alone on warm-up rows."""
    trend, trend_words = _codes(frame["trend_state"])
    weekly, weekly_words = _codes(frame["weekly_trend"])
    key = (
        (pl.col(EVENT_SET).cast(pl.Int64) * len(trend_words) + trend) * len(weekly_words) + weekly
    ) * 4 + (
        (pl.col("support_distance_atr") <= near).fill_null(False).cast(pl.Int64) * 2
        + (pl.col("resistance_distance_atr") <= near).fill_null(False).cast(pl.Int64)
    )
    # Every warm-up row reads the same: key 0.
    key = pl.when(pl.col("warmup").fill_null(False)).then(0).otherwise(key + 1)
    key = frame.select(key.alias("key")).to_series().to_numpy()
    # With the 12 rules there are some 260,000 possible keys: a table numbers those present.
    size = (1 << len(rule_ids)) * len(trend_words) * len(weekly_words) * 4 + 1
    present = np.zeros(size, dtype=bool)
    present[key] = True
    distinct = np.flatnonzero(present)
    number = np.zeros(size, dtype=np.uint32)
    number[distinct] = np.arange(distinct.size)
    return _render(distinct, rule_ids, trend_words, weekly_words).gather(number[key])


def _codes(words: pl.Series) -> tuple[pl.Expr, list[str | None]]:
    """Small integer codes of a word column (as an expression on it) and the word of each code
    (None for null)."""
    column = pl.col(words.name)
    if isinstance(words.dtype, pl.Enum):
        vocabulary: list[str | None] = [*words.dtype.categories.to_list(), None]
        codes = column.to_physical()
    else:
        vocabulary = [*words.drop_nulls().unique().sort().to_list(), None]
        codes = column.replace_strict(
            vocabulary[:-1], range(len(vocabulary) - 1), default=len(vocabulary) - 1
        )
    return codes.cast(pl.Int64).fill_null(len(vocabulary) - 1), vocabulary


def _render(
    keys: np.ndarray,
    rule_ids: tuple[str, ...],
    trend_words: list[str | None],
    weekly_words: list[str | None],
) -> pl.Series:
    """The list of each key, from its parts, by the same rule for every row."""
    warm = keys == 0
    rest = np.maximum(keys - 1, 0)
    flags, rest = rest % 4, rest // 4
    weekly, rest = rest % len(weekly_words), rest // len(weekly_words)
    trend, kinds = rest % len(trend_words), rest // len(trend_words)
    events = [
        ",".join(rule_id for i, rule_id in enumerate(rule_ids) if bits >> i & 1) or None
        for bits in kinds.tolist()
    ]
    parts = pl.DataFrame(
        {
            "events": pl.Series(events, dtype=pl.String),
            "trend": pl.Series([trend_words[i] for i in trend.tolist()], dtype=pl.String),
            "weekly": pl.Series([weekly_words[i] for i in weekly.tolist()], dtype=pl.String),
            "support": flags >= 2,
            "resistance": flags % 2 == 1,
            "warmup": warm,
        }
    )
    reasons = pl.concat_str(
        pl.col("events"),
        pl.lit("trend_") + pl.col("trend"),
        pl.lit("weekly_") + pl.col("weekly"),
        pl.when(pl.col("support")).then(pl.lit("near_support")),
        pl.when(pl.col("resistance")).then(pl.lit("near_resistance")),
        separator=",",
        ignore_nulls=True,
    )
    return parts.select(
        pl.when(pl.col("warmup"))
        .then(pl.lit("warmup"))
        .otherwise(reasons)
        .str.split(",")
        .alias("reason_codes")
    ).to_series()
