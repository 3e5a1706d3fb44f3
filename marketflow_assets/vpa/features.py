"""Point-in-time VPA features: one row per (ticker, date), from that bar and earlier bars only.

Every baseline for bar t covers bars [t - N, t - 1]. Values that need more history than the
ticker has are null, and the row is flagged `warmup` until the slowest window is full.
Windows count bars (a ticker's missing sessions are not filled in).
"""

from __future__ import annotations

import polars as pl

from marketflow_assets.vpa.frame import (
    FACTOR,
    START,
    C,
    H,
    L,
    N,
    O,
    V,
    lag,
    map_ticker_chunks,
    normalise,
    prepare,
)
from marketflow_assets.vpa.levels import LEVEL_PRICE_COLUMNS, level_columns
from marketflow_assets.vpa.rules import Rules, load_rules
from marketflow_assets.vpa.weekly import WEEKLY_PRICE_COLUMNS, weekly_columns

VOLUME_CLASSES = ("very_low", "low", "average", "high", "ultra_high")
SPREAD_CLASSES = ("narrow", "average", "wide", "very_wide")
TREND_STATES = ("up", "down", "sideways")

# Columns stated in price units (divided by the split factor of the row's own date to read as
# of that date) and in volume units (multiplied by it).
PRICE_COLUMNS = (
    "range_mean20",
    "atr14",
    "sma20",
    "sma50",
    "range_high20",
    "range_low20",
    "range_high60",
    "range_low60",
    *LEVEL_PRICE_COLUMNS,
    *WEEKLY_PRICE_COLUMNS,
)
VOLUME_COLUMNS = ("volume_mean20", "volume_median20", "volume_std20", "obv", "week_volume")

FEATURE_COLUMNS = (
    "ticker",
    "date",
    "open",
    "high",
    "low",
    "close",
    "volume",
    "split_ratio",
    "warmup",
    "volume_mean20",
    "volume_median20",
    "volume_std20",
    "volume_rel_mean",
    "volume_rel_median",
    "volume_z",
    "volume_class",
    "volume_below_prior_two",
    "range",
    "range_mean20",
    "spread_rel",
    "spread_class",
    "atr14",
    "range_atr",
    "body",
    "upper_wick",
    "lower_wick",
    "close_location",
    "close_change",
    "gap",
    "gap_atr",
    "sma20",
    "sma50",
    "sma20_slope",
    "trend_state",
    "trend_strength",
    "range_high20",
    "range_low20",
    "range_high60",
    "range_low60",
    "range_location20",
    "range_location60",
    "obv",
    "obv_trend20",
    "effort_result",
    "pivot_high",
    "pivot_low",
    "support",
    "support_touches",
    "support_distance_atr",
    "resistance",
    "resistance_touches",
    "resistance_distance_atr",
    "week_start",
    "week_bars",
    "week_open",
    "week_high",
    "week_low",
    "week_volume",
    "week_close_location",
    "week_change",
    "weekly_sma",
    "weekly_trend",
    "weekly_volume_rel",
    "rules_version",
    "rules_hash",
)
# Depends on where the input begins (a running total from the first bar given); it matches
# TA-Lib's OBV on the same input but is not stored, since a window's value would depend on how
# far back the run read. `obv_trend20` carries the same information with a fixed lookback.
ORIGIN_DEPENDENT = ("obv",)


def compute_features(bars: pl.DataFrame, rules: Rules | None = None) -> pl.DataFrame:
    """Features of every (ticker, date) of `bars` (the normalised frame the sources emit).

    Several tickers at once; split ratios in `split_ratio` (optional) are applied as of each
    date, so a split is neither a gap nor a volume spike.
    """
    rules = rules or load_rules()
    return map_ticker_chunks(normalise(bars), lambda chunk: _features(chunk, rules))


def _features(chunk: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    spec = rules.features
    frame = prepare(chunk)
    frame = pl.concat([frame, _running_columns(frame, spec)], how="horizontal")
    frame = frame.with_columns(_bar_columns(spec))
    frame = frame.with_columns(_relative_columns(spec))
    frame = frame.with_columns(_class_columns(spec))
    frame = frame.with_columns(*level_columns(frame, spec), *weekly_columns(frame, spec))
    return frame.select(
        *(c for c in FEATURE_COLUMNS[:8]),
        (pl.col(N) < spec["warmup_bars"]).alias("warmup"),
        *(_as_of(c) for c in FEATURE_COLUMNS[9:-2]),
        pl.lit(rules.version).alias("rules_version"),
        pl.lit(rules.hash).alias("rules_hash"),
    )


def _as_of(column: str) -> pl.Expr:
    if column in PRICE_COLUMNS:
        return (pl.col(column) / pl.col(FACTOR)).alias(column)
    if column in VOLUME_COLUMNS:
        return (pl.col(column) * pl.col(FACTOR)).alias(column)
    return pl.col(column)


def _running_columns(frame: pl.DataFrame, spec: dict) -> pl.DataFrame:
    """Sums and smoothings computed per ticker, so a value never carries rounding from another
    ticker's rows: the same bars give the same bits whatever else is in the frame."""
    vol_n = spec["volume_window"]
    spread_n = spec["spread_window"]
    atr_n = spec["atr_period"]
    fast, slow = spec["trend"]["fast"], spec["trend"]["slow"]
    obv_n = spec["obv_window"]
    prev_close = pl.col(C).shift(1)
    true_range = pl.max_horizontal(pl.col(H), prev_close) - pl.min_horizontal(pl.col(L), prev_close)
    position = pl.int_range(pl.len())
    # TA-Lib's ATR: seeded with the mean of the first `atr_n` true ranges, then Wilder-smoothed.
    atr_input = (
        pl.when(position == atr_n)
        .then(true_range.rolling_mean(atr_n))
        .when(position > atr_n)
        .then(true_range)
    )
    signed_volume = (
        pl.when(position == 0)
        .then(pl.col(V))
        .when(pl.col(C) > prev_close)
        .then(pl.col(V))
        .when(pl.col(C) < prev_close)
        .then(-pl.col(V))
        .otherwise(0.0)
    )
    running = frame.group_by(START, maintain_order=True).agg(
        pl.col(V).rolling_mean(vol_n).shift(1).alias("volume_mean20"),
        pl.col(V).rolling_std(vol_n).shift(1).alias("volume_std20"),
        (pl.col(H) - pl.col(L)).rolling_mean(spread_n).shift(1).alias("range_mean20"),
        atr_input.ewm_mean(alpha=1 / atr_n, adjust=False).alias("atr14"),
        pl.col(C).rolling_mean(fast).shift(1).alias("sma20"),
        pl.col(C).rolling_mean(slow).shift(1).alias("sma50"),
        signed_volume.cum_sum().alias("obv"),
        (signed_volume.rolling_sum(obv_n) / pl.col(V).rolling_sum(obv_n)).alias("obv_trend20"),
    )
    return running.drop(START).explode(pl.all())


def _bar_columns(spec: dict) -> list[pl.Expr]:
    """The bar's own anatomy and exact rolling extremes (max, min and median carry no rounding)."""
    vol_n = spec["volume_window"]
    short, long = spec["range_windows"]["short"], spec["range_windows"]["long"]
    spread = pl.col(H) - pl.col(L)
    flat = spread == 0
    prev_close = lag(C, 1)
    return [
        _window(pl.col(V).rolling_median(vol_n).shift(1), vol_n).alias("volume_median20"),
        ((pl.col(V) < lag(V, 1)) & (pl.col(V) < lag(V, 2))).alias("volume_below_prior_two"),
        (pl.col("high") - pl.col("low")).alias("range"),
        pl.when(flat).then(0.0).otherwise((pl.col(C) - pl.col(O)).abs() / spread).alias("body"),
        pl.when(flat)
        .then(0.0)
        .otherwise((pl.col(H) - pl.max_horizontal(O, C)) / spread)
        .alias("upper_wick"),
        pl.when(flat)
        .then(0.0)
        .otherwise((pl.min_horizontal(O, C) - pl.col(L)) / spread)
        .alias("lower_wick"),
        pl.when(flat).then(0.5).otherwise((pl.col(C) - pl.col(L)) / spread).alias("close_location"),
        (pl.col(C) / prev_close - 1).alias("close_change"),
        (pl.col(O) / prev_close - 1).alias("gap"),
        _window(pl.col(H).rolling_max(short).shift(1), short).alias("range_high20"),
        _window(pl.col(L).rolling_min(short).shift(1), short).alias("range_low20"),
        _window(pl.col(H).rolling_max(long).shift(1), long).alias("range_high60"),
        _window(pl.col(L).rolling_min(long).shift(1), long).alias("range_low60"),
    ]


def _window(expr: pl.Expr, bars: int) -> pl.Expr:
    """`expr` where the ticker has `bars` earlier bars, null where the window reaches back into
    another ticker."""
    return pl.when(pl.col(N) >= bars).then(expr)


def _relative_columns(spec: dict) -> list[pl.Expr]:
    slope_n = spec["trend"]["slope_bars"]
    atr_prev = lag("atr14", 1)
    spread = pl.col(H) - pl.col(L)
    return [
        _ratio(pl.col(V), pl.col("volume_mean20")).alias("volume_rel_mean"),
        _ratio(pl.col(V), pl.col("volume_median20")).alias("volume_rel_median"),
        _ratio(pl.col(V) - pl.col("volume_mean20"), pl.col("volume_std20")).alias("volume_z"),
        _ratio(spread, pl.col("range_mean20")).alias("spread_rel"),
        _ratio(spread, atr_prev).alias("range_atr"),
        _ratio(pl.col(O) - lag(C, 1), atr_prev).alias("gap_atr"),
        (pl.col("sma20") / lag("sma20", slope_n) - 1).alias("sma20_slope"),
        _ratio((pl.col("sma20") - pl.col("sma50")).abs(), 2 * pl.col("atr14"))
        .clip(upper_bound=1.0)
        .alias("trend_strength"),
        _location("range_high20", "range_low20").alias("range_location20"),
        _location("range_high60", "range_low60").alias("range_location60"),
    ]


def _ratio(numerator: pl.Expr, baseline: pl.Expr) -> pl.Expr:
    """`numerator / baseline`, null where the baseline is missing or zero (a halted stock's
    zero volume or range says nothing relative)."""
    return pl.when(baseline > 0).then(numerator / baseline)


def _location(high: str, low: str) -> pl.Expr:
    """Where the close sits in the earlier range: 0 at its low, 1 at its high, beyond on breaks."""
    width = pl.col(high) - pl.col(low)
    return pl.when(width > 0).then((pl.col(C) - pl.col(low)) / width)


def _class_columns(spec: dict) -> list[pl.Expr]:
    vc = spec["volume_classes"]
    sc = spec["spread_classes"]
    volume = pl.col("volume_rel_mean")
    spread = pl.col("spread_rel")
    sma20, sma50, slope = pl.col("sma20"), pl.col("sma50"), pl.col("sma20_slope")
    volume_class = (
        pl.when(volume < vc["very_low"])
        .then(pl.lit("very_low"))
        .when(volume < vc["low"])
        .then(pl.lit("low"))
        .when(volume < vc["average"])
        .then(pl.lit("average"))
        .when(volume < vc["high"])
        .then(pl.lit("high"))
        .when(volume.is_not_null())
        .then(pl.lit("ultra_high"))
    )
    spread_class = (
        pl.when(spread < sc["narrow"])
        .then(pl.lit("narrow"))
        .when(spread < sc["average"])
        .then(pl.lit("average"))
        .when(spread < sc["wide"])
        .then(pl.lit("wide"))
        .when(spread.is_not_null())
        .then(pl.lit("very_wide"))
    )
    heavy = volume >= vc["average"]
    light = volume < vc["low"]
    narrow = spread < sc["narrow"]
    wide = spread >= sc["average"]
    return [
        volume_class.alias("volume_class"),
        spread_class.alias("spread_class"),
        pl.when(slope.is_null())
        .then(None)
        .when((pl.col(C) > sma20) & (sma20 > sma50) & (slope > 0))
        .then(pl.lit("up"))
        .when((pl.col(C) < sma20) & (sma20 < sma50) & (slope < 0))
        .then(pl.lit("down"))
        .otherwise(pl.lit("sideways"))
        .alias("trend_state"),
        pl.when(volume.is_null() | spread.is_null())
        .then(None)
        .when(heavy & narrow)
        .then(pl.lit("effort_without_result"))
        .when(light & wide)
        .then(pl.lit("result_without_effort"))
        .when((heavy & wide) | (light & narrow))
        .then(pl.lit("harmony"))
        .otherwise(pl.lit("neutral"))
        .alias("effort_result"),
    ]
