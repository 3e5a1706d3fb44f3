"""The weekly view of each day, built from daily bars up to that day only.

The week containing D is partial at D (its high, low and volume so far), which is what a weekly
chart showed that evening; earlier weeks are complete.
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.calendar import WEEKDAYS
from marketflow_assets.vpa.frame import START, C, H, L, N, O, V, lag, ratio

WEEKLY_PRICE_COLUMNS = ("week_open", "week_high", "week_low", "weekly_sma")
TREND = pl.Enum(("up", "down", "sideways"))


def _tree_sum(terms: list[pl.Expr]) -> pl.Expr:
    """The sum in the order `pl.sum_horizontal` adds its inputs (halves, left half smaller)."""
    if len(terms) == 1:
        return terms[0]
    middle = len(terms) // 2
    return _tree_sum(terms[:middle]) + _tree_sum(terms[middle:])


def weekly_columns(frame: pl.DataFrame, spec: dict) -> list[pl.Series]:
    """Partial-week bar, week-over-week change, and trend and volume against earlier weeks."""
    weeks = spec["weekly"]["weeks"]
    week = (pl.col("date").cast(pl.Int32) + 3) // 7  # Monday-based week number
    daily = frame.select(START, N, O, H, L, C, V, week.alias("_week"))
    # Dates being sorted, the bars of a week so far are the last `week_bars` rows (at most
    # WEEKDAYS are read); maxima, minima and the sum run back from the day itself.
    same_week = [(pl.col("_week") == lag("_week", k)).fill_null(False) for k in range(1, WEEKDAYS)]
    new_week = (pl.col(N) == 0) | (pl.col("_week") != pl.col("_week").shift(1))
    daily = daily.with_columns(
        new_week.alias("_new_week"),
        *(s.alias(f"_same{k}") for k, s in enumerate(same_week, start=1)),
    )
    volumes = [pl.col(V)]
    for k in range(1, WEEKDAYS):
        volumes.append(pl.when(pl.col(f"_same{k}")).then(pl.col(V).shift(k)).otherwise(0.0))
    daily = daily.with_columns(
        (1 + pl.sum_horizontal(pl.col(f"_same{k}") for k in range(1, WEEKDAYS))).alias("week_bars"),
        pl.col(H).alias("week_high"),
        pl.col(L).alias("week_low"),
        _tree_sum(volumes).alias("week_volume"),
    )
    # One step per earlier bar, each reading the last step's column (nesting the expressions
    # instead would evaluate them over and over).
    for k in range(1, WEEKDAYS):
        same, high, low = pl.col(f"_same{k}"), pl.col(H).shift(k), pl.col(L).shift(k)
        daily = daily.with_columns(
            pl.when(same & (high > pl.col("week_high")))
            .then(high)
            .otherwise(pl.col("week_high"))
            .alias("week_high"),
            pl.when(same & (low < pl.col("week_low")))
            .then(low)
            .otherwise(pl.col("week_low"))
            .alias("week_low"),
        )
    # One row per week: the open, the week before (complete), and windows over earlier weeks.
    by_week = daily.select(
        START,
        pl.col(O).alias("week_open"),
        lag(C, 1).alias("prev_close"),
        lag("week_volume", 1).alias("prev_volume"),
        lag("week_bars", 1).alias("prev_bars"),
        pl.col("_new_week"),
    ).filter("_new_week")
    windows = (
        by_week.group_by(START, maintain_order=True)
        .agg(
            pl.col("prev_close").rolling_mean(weeks).alias("weekly_sma"),
            pl.col("prev_volume").rolling_sum(weeks).alias("_volume_sum"),
            pl.col("prev_bars").rolling_sum(weeks).alias("_bars_sum"),
        )
        .drop(START)
        .explode(pl.all())
    )
    by_week = by_week.select("week_open", "prev_close", START).hstack(windows)
    by_week = by_week.select(
        "week_open",
        "prev_close",
        "weekly_sma",
        # The week before's average, null on the ticker's first week.
        pl.when(pl.col(START) == pl.col(START).shift(1))
        .then(pl.col("weekly_sma").shift(1))
        .alias("weekly_sma_prev"),
        (pl.col("_volume_sum") / pl.col("_bars_sum")).alias("prev_daily_volume"),
    )
    # Weeks are in frame order: a day's week is the count of week starts up to it, minus one.
    week_of_day = daily["_new_week"].cast(pl.Int32).cum_sum() - 1
    daily = daily.hstack(by_week.select(pl.all().gather(week_of_day)))
    sma, sma_prev = pl.col("weekly_sma"), pl.col("weekly_sma_prev")
    width = pl.col("week_high") - pl.col("week_low")
    return daily.select(
        (pl.col("_week") * 7 - 3).cast(pl.Date).alias("week_start"),
        "week_bars",
        "week_open",
        "week_high",
        "week_low",
        "week_volume",
        pl.when(width > 0)
        .then((pl.col(C) - pl.col("week_low")) / width)
        .otherwise(0.5)
        .alias("week_close_location"),
        (pl.col(C) / pl.col("prev_close") - 1).alias("week_change"),
        "weekly_sma",
        pl.when(sma_prev.is_null())
        .then(pl.lit(None, TREND))
        .when((pl.col(C) > sma) & (sma > sma_prev))
        .then(pl.lit("up", TREND))
        .when((pl.col(C) < sma) & (sma < sma_prev))
        .then(pl.lit("down", TREND))
        .otherwise(pl.lit("sideways", TREND))
        .alias("weekly_trend"),
        ratio(pl.col("week_volume") / pl.col("week_bars"), pl.col("prev_daily_volume")).alias(
            "weekly_volume_rel"
        ),
    ).get_columns()
