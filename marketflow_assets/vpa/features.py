"""Point-in-time VPA features: one row per (ticker, date), from that bar and earlier bars only.

Every baseline for bar t covers bars [t - N, t - 1]. Values that need more history than the
ticker has are null, and the row is flagged `warmup` until the slowest window is full.
Windows count bars (a ticker's missing sessions are not filled in).

The word columns (volume_class, spread_class, trend_state, effort_result, weekly_trend) are
`pl.Enum`s of the words below.
"""

from __future__ import annotations

import numpy as np
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
    concat,
    lag,
    map_ticker_chunks,
    normalised,
    prepare,
    ratio,
)
from marketflow_assets.vpa.levels import (
    LEVEL_PRICE_COLUMNS,
    PIVOT_HIGH_WINDOW,
    PIVOT_LOW_WINDOW,
    level_columns,
)
from marketflow_assets.vpa.rules import Rules, load_rules
from marketflow_assets.vpa.weekly import TREND, WEEKLY_PRICE_COLUMNS, weekly_columns

VOLUME_CLASSES = ("very_low", "low", "average", "high", "ultra_high")
SPREAD_CLASSES = ("narrow", "average", "wide", "very_wide")
EFFORT_RESULTS = ("effort_without_result", "result_without_effort", "harmony", "neutral")
VOLUME_CLASS = pl.Enum(VOLUME_CLASSES)
SPREAD_CLASS = pl.Enum(SPREAD_CLASSES)
EFFORT_RESULT = pl.Enum(EFFORT_RESULTS)

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
    frame, starts = normalised(bars)
    return concat(
        map_ticker_chunks(frame, lambda chunk, firsts: _features(chunk, firsts, rules), starts)
    )


def _features(chunk: pl.DataFrame, starts: np.ndarray, rules: Rules) -> pl.DataFrame:
    spec = rules.features
    frame = prepare(chunk, starts)
    split = not (chunk["split_ratio"] == 1.0).all()
    # Shifts leave columns in several chunks; each step's results are made contiguous, so that
    # later steps (and the caller's selects) need not align chunks.
    frame = frame.hstack(_running_columns(frame, spec)).hstack(_extreme_columns(frame, spec))
    frame = frame.with_columns(*_bar_columns(spec), *_relative_columns(spec)).rechunk()
    frame = frame.with_columns(_class_columns(spec))
    frame = frame.with_columns(*level_columns(frame, spec), *weekly_columns(frame, spec)).rechunk()
    return frame.select(
        *FEATURE_COLUMNS[:8],
        (pl.col(N) < spec["warmup_bars"]).alias("warmup"),
        *(_as_of(c, split) for c in FEATURE_COLUMNS[9:-2]),
        pl.lit(rules.version).alias("rules_version"),
        pl.lit(rules.hash).alias("rules_hash"),
    ).rechunk()


def _as_of(column: str, split: bool) -> pl.Expr:
    """`column` as of its row's date (the continuous basis is the raw one without splits)."""
    if split and column in PRICE_COLUMNS:
        return (pl.col(column) / pl.col(FACTOR)).alias(column)
    if split and column in VOLUME_COLUMNS:
        return (pl.col(column) * pl.col(FACTOR)).alias(column)
    return pl.col(column)


def _running_columns(frame: pl.DataFrame, spec: dict) -> pl.DataFrame:
    """Sums and smoothings computed per ticker, so a value never carries rounding from another
    ticker's rows: the same bars give the same bits whatever else is in the frame.

    Shifts by one bar are applied afterwards, on the whole piece, where `lag` masks the first
    row of each ticker.
    """
    vol_n = spec["volume_window"]
    spread_n = spec["spread_window"]
    atr_n = spec["atr_period"]
    fast, slow = spec["trend"]["fast"], spec["trend"]["slow"]
    obv_n = spec["obv_window"]
    frame = frame.select(START, N, H, L, C, V, lag(C, 1).alias("_prev"))
    prev_close = pl.col("_prev")
    # max(high, previous close) - min(low, previous close); the high and low on the first bar.
    true_range = pl.when(prev_close > pl.col(H)).then(prev_close).otherwise(pl.col(H)) - pl.when(
        prev_close < pl.col(L)
    ).then(prev_close).otherwise(pl.col(L))
    signed_volume = (
        pl.when(pl.col(N) == 0)
        .then(pl.col(V))
        .when(pl.col(C) > prev_close)
        .then(pl.col(V))
        .when(pl.col(C) < prev_close)
        .then(-pl.col(V))
        .otherwise(0.0)
    )
    inputs = frame.select(
        START,
        N,
        V,
        C,
        (pl.col(H) - pl.col(L)).alias("_spread"),
        true_range.alias("_tr"),
        signed_volume.alias("_sv"),
    )
    # TA-Lib's ATR: seeded with the mean of the first `atr_n` true ranges, then Wilder-smoothed.
    # The seed is the rolling mean at the ticker's bar `atr_n`, from the ticker's first bars.
    seed = (
        inputs.filter(pl.col(N) <= atr_n)
        .group_by(START, maintain_order=True)
        .agg(pl.col("_tr").rolling_mean(atr_n).last().alias("_seed"), pl.col(N).last())
        .filter(pl.col(N) == atr_n)
        .select(START, "_seed")
    )
    atr_input = pl.when(pl.col(N) == atr_n).then(pl.col("_seed")).when(pl.col(N) > atr_n)
    inputs = inputs.join(seed, on=START, how="left", maintain_order="left").with_columns(
        atr_input.then(pl.col("_tr")).alias("_atr_in")
    )
    running = inputs.group_by(START, maintain_order=True).agg(
        pl.col(V).rolling_mean(vol_n).alias("_vmean"),
        pl.col(V).rolling_std(vol_n).alias("_vstd"),
        pl.col("_spread").rolling_mean(spread_n).alias("_rmean"),
        pl.col("_atr_in").ewm_mean(alpha=1 / atr_n, adjust=False).alias("atr14"),
        pl.col(C).rolling_mean(fast).alias("_sma_fast"),
        pl.col(C).rolling_mean(slow).alias("_sma_slow"),
        pl.col("_sv").cum_sum().alias("obv"),
        pl.col("_sv").rolling_sum(obv_n).alias("_sv_sum"),
        pl.col(V).rolling_sum(obv_n).alias("_v_sum"),
    )
    running = running.drop(START).explode(pl.all()).with_columns(frame[N])
    return running.select(
        _shift("_vmean", vol_n).alias("volume_mean20"),
        _shift("_vstd", vol_n).alias("volume_std20"),
        _shift("_rmean", spread_n).alias("range_mean20"),
        "atr14",
        _shift("_sma_fast", fast).alias("sma20"),
        _shift("_sma_slow", slow).alias("sma50"),
        "obv",
        ratio(pl.col("_sv_sum"), pl.col("_v_sum")).alias("obv_trend20"),
    ).rechunk()


def _shift(column: str, window: int) -> pl.Expr:
    """A full per-ticker window of `window` bars ending one bar earlier (null until there is)."""
    return pl.when(pl.col(N) >= window).then(pl.col(column).shift(1))


def _bar_columns(spec: dict) -> list[pl.Expr]:
    """The bar's own anatomy."""
    spread = pl.col(H) - pl.col(L)
    flat = spread == 0
    prev_close = lag(C, 1)
    return [
        ((pl.col(V) < lag(V, 1)) & (pl.col(V) < lag(V, 2))).alias("volume_below_prior_two"),
        (pl.col("high") - pl.col("low")).alias("range"),
        pl.when(flat).then(0.0).otherwise((pl.col(C) - pl.col(O)).abs() / spread).alias("body"),
        pl.when(flat).then(0.0).otherwise((pl.col(H) - _larger(O, C)) / spread).alias("upper_wick"),
        pl.when(flat)
        .then(0.0)
        .otherwise((_smaller(O, C) - pl.col(L)) / spread)
        .alias("lower_wick"),
        pl.when(flat).then(0.5).otherwise((pl.col(C) - pl.col(L)) / spread).alias("close_location"),
        (pl.col(C) / prev_close - 1).alias("close_change"),
        (pl.col(O) / prev_close - 1).alias("gap"),
    ]


def _extreme_columns(frame: pl.DataFrame, spec: dict) -> pl.DataFrame:
    """Exact rolling statistics on the whole piece (masked where the window would reach into
    another ticker): median volume and the highest high and lowest low of the 20 and 60 bars
    before each bar; the extremes of the pivot window ending at each bar."""
    vol_n = spec["volume_window"]
    short, long = spec["range_windows"]["short"], spec["range_windows"]["long"]
    pivot = 2 * spec["pivot_bars"] + 1
    extremes = rolling_extremes(frame.select(N, V, H, L), (short, long, pivot))
    return extremes.select(
        _window(pl.col(V).rolling_median(vol_n).shift(1), vol_n).alias("volume_median20"),
        _window(pl.col(f"{H}{short}").shift(1), short).alias("range_high20"),
        _window(pl.col(f"{L}{short}").shift(1), short).alias("range_low20"),
        _window(pl.col(f"{H}{long}").shift(1), long).alias("range_high60"),
        _window(pl.col(f"{L}{long}").shift(1), long).alias("range_low60"),
        pl.col(f"{H}{pivot}").alias(PIVOT_HIGH_WINDOW),
        pl.col(f"{L}{pivot}").alias(PIVOT_LOW_WINDOW),
    ).rechunk()


def rolling_extremes(frame: pl.DataFrame, windows: tuple[int, ...]) -> pl.DataFrame:
    """`frame` with the highest `H` and lowest `L` over each of `windows` rows ending at each
    row, as columns named by the column and the window (e.g. `_h20`).

    A maximum carries no rounding, so it is taken as the larger of two overlapping maxima over
    power-of-two spans built by doubling. Rows before `window - 1`, or whose window reaches
    into another ticker, hold values the caller masks out.
    """

    def larger(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        return pl.when(a >= b).then(a).otherwise(b)

    def smaller(a: pl.Expr, b: pl.Expr) -> pl.Expr:
        return pl.when(a <= b).then(a).otherwise(b)

    span = 1
    frame = frame.with_columns(pl.col(H).alias(f"{H}1"), pl.col(L).alias(f"{L}1"))
    while span * 2 <= max(windows):
        high, low = pl.col(f"{H}{span}"), pl.col(f"{L}{span}")
        frame = frame.with_columns(
            larger(high, high.shift(span)).alias(f"{H}{2 * span}"),
            smaller(low, low.shift(span)).alias(f"{L}{2 * span}"),
        ).rechunk()
        span *= 2
    combined = []
    for window in windows:
        base = 1 << (window.bit_length() - 1)
        rest = window - base
        high, low = pl.col(f"{H}{base}"), pl.col(f"{L}{base}")
        if rest:
            combined += [
                larger(high, high.shift(rest)).alias(f"{H}{window}"),
                smaller(low, low.shift(rest)).alias(f"{L}{window}"),
            ]
    return frame.with_columns(combined)


def _larger(a: str, b: str) -> pl.Expr:
    return pl.when(pl.col(a) >= pl.col(b)).then(pl.col(a)).otherwise(pl.col(b))


def _smaller(a: str, b: str) -> pl.Expr:
    return pl.when(pl.col(a) <= pl.col(b)).then(pl.col(a)).otherwise(pl.col(b))


def _window(expr: pl.Expr, bars: int) -> pl.Expr:
    """`expr` where the ticker has `bars` earlier bars, null where the window reaches back into
    another ticker."""
    return pl.when(pl.col(N) >= bars).then(expr)


def _relative_columns(spec: dict) -> list[pl.Expr]:
    slope_n = spec["trend"]["slope_bars"]
    atr_prev = lag("atr14", 1)
    spread = pl.col(H) - pl.col(L)
    return [
        ratio(pl.col(V), pl.col("volume_mean20")).alias("volume_rel_mean"),
        ratio(pl.col(V), pl.col("volume_median20")).alias("volume_rel_median"),
        ratio(pl.col(V) - pl.col("volume_mean20"), pl.col("volume_std20")).alias("volume_z"),
        ratio(spread, pl.col("range_mean20")).alias("spread_rel"),
        ratio(spread, atr_prev).alias("range_atr"),
        ratio(pl.col(O) - lag(C, 1), atr_prev).alias("gap_atr"),
        (pl.col("sma20") / lag("sma20", slope_n) - 1).alias("sma20_slope"),
        ratio((pl.col("sma20") - pl.col("sma50")).abs(), 2 * pl.col("atr14"))
        .clip(upper_bound=1.0)
        .alias("trend_strength"),
        _location("range_high20", "range_low20").alias("range_location20"),
        _location("range_high60", "range_low60").alias("range_location60"),
    ]


def _location(high: str, low: str) -> pl.Expr:
    """Where the close sits in the earlier range: 0 at its low, 1 at its high, beyond on breaks."""
    width = pl.col(high) - pl.col(low)
    return pl.when(width > 0).then((pl.col(C) - pl.col(low)) / width)


def _class_columns(spec: dict) -> list[pl.Expr]:
    vc = spec["volume_classes"]
    sc = spec["spread_classes"]
    volume, spread = pl.col("volume_rel_mean"), pl.col("spread_rel")
    sma20, sma50, slope = pl.col("sma20"), pl.col("sma50"), pl.col("sma20_slope")

    def vclass(word: str) -> pl.Expr:
        return pl.lit(word, VOLUME_CLASS)

    def sclass(word: str) -> pl.Expr:
        return pl.lit(word, SPREAD_CLASS)

    def effort(word: str) -> pl.Expr:
        return pl.lit(word, EFFORT_RESULT)

    volume_class = (
        pl.when(volume < vc["very_low"])
        .then(vclass("very_low"))
        .when(volume < vc["low"])
        .then(vclass("low"))
        .when(volume < vc["average"])
        .then(vclass("average"))
        .when(volume < vc["high"])
        .then(vclass("high"))
        .when(volume.is_not_null())
        .then(vclass("ultra_high"))
    )
    spread_class = (
        pl.when(spread < sc["narrow"])
        .then(sclass("narrow"))
        .when(spread < sc["average"])
        .then(sclass("average"))
        .when(spread < sc["wide"])
        .then(sclass("wide"))
        .when(spread.is_not_null())
        .then(sclass("very_wide"))
    )
    heavy = volume >= vc["average"]
    light = volume < vc["low"]
    narrow = spread < sc["narrow"]
    wide = spread >= sc["average"]
    return [
        volume_class.alias("volume_class"),
        spread_class.alias("spread_class"),
        pl.when(slope.is_null() | sma50.is_null())
        .then(pl.lit(None, TREND))
        .when((pl.col(C) > sma20) & (sma20 > sma50) & (slope > 0))
        .then(pl.lit("up", TREND))
        .when((pl.col(C) < sma20) & (sma20 < sma50) & (slope < 0))
        .then(pl.lit("down", TREND))
        .otherwise(pl.lit("sideways", TREND))
        .alias("trend_state"),
        pl.when(volume.is_null() | spread.is_null())
        .then(pl.lit(None, EFFORT_RESULT))
        .when(heavy & narrow)
        .then(effort("effort_without_result"))
        .when(light & wide)
        .then(effort("result_without_effort"))
        .when((heavy & wide) | (light & narrow))
        .then(effort("harmony"))
        .otherwise(effort("neutral"))
        .alias("effort_result"),
    ]
