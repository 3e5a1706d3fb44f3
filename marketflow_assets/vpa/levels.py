"""Confirmed pivots and the support and resistance they give, as known at each bar.

A pivot high at bar i is the highest high of bars [i - n, i + n]: it exists only from bar i + n,
when the bars after it have been seen. Levels at bar t use only pivots confirmed by t.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from marketflow_assets.vpa.frame import START, C, H, L, N

LEVEL_PRICE_COLUMNS = ("pivot_high", "pivot_low", "support", "resistance")
# Extremes of the pivot window (2n + 1 bars) ending at each bar, computed with the other
# rolling extremes of the piece.
PIVOT_HIGH_WINDOW, PIVOT_LOW_WINDOW = "_pivot_high_window", "_pivot_low_window"


def level_columns(frame: pl.DataFrame, spec: dict) -> list[pl.Series]:
    """Pivot prices confirmed at each bar, and the nearest support and resistance with their
    touches and distance in ATR (prices on the frame's continuous basis).

    Candidates are the last `pivots_kept` confirmed pivot highs and lows no older than
    `max_age_bars`: resistance is the lowest candidate above the close, support the highest
    below it (a broken pivot low can be resistance, a cleared pivot high support).
    """
    n = spec["pivot_bars"]
    levels = spec["levels"]
    kept = levels["pivots_kept"]
    pivots = frame.select(
        _pivot(H, PIVOT_HIGH_WINDOW, n).alias("pivot_high"),
        _pivot(L, PIVOT_LOW_WINDOW, n).alias("pivot_low"),
    )
    rows = np.arange(frame.height)
    # A candidate confirmed at row r stands at bar r - n: it counts at row t when it is of t's
    # ticker and no more than `max_age_bars` bars before t.
    oldest = np.maximum(frame[START].to_numpy(), rows - (levels["max_age_bars"] - n))
    candidates = np.empty((2 * kept, frame.height))
    for i, kind in enumerate(pivots.columns):
        _recent(pivots[kind].to_numpy(), oldest, candidates[i * kept : (i + 1) * kept])
    close, atr = frame[C].to_numpy(), frame["atr14"].to_numpy()
    # Absent candidates are NaN, which fmin/fmax skip; prices being positive, p / (p > close)
    # is p or +inf and p * (p < close) is p or 0: plain arithmetic, no masks.
    with np.errstate(divide="ignore", invalid="ignore"):
        resistance = np.fmin.reduce(candidates / (candidates > close), axis=0)
        support = np.fmax.reduce(candidates * (candidates < close), axis=0)
        resistance[np.isinf(resistance)] = np.nan
        support[support == 0] = np.nan
        tolerance = levels["touch_atr"] * atr
        columns = {
            "support": support,
            "support_touches": _touches(candidates, support, tolerance),
            "support_distance_atr": (close - support) / atr,
            "resistance": resistance,
            "resistance_touches": _touches(candidates, resistance, tolerance),
            "resistance_distance_atr": (resistance - close) / atr,
        }
    return [
        pivots["pivot_high"],
        pivots["pivot_low"],
        *(pl.Series(name, values, nan_to_null=True) for name, values in columns.items()),
    ]


def _pivot(column: str, window_extreme: str, n: int) -> pl.Expr:
    """The price of bar t - n where it is the extreme of bars [t - 2n, t], confirmed at t."""
    candidate = pl.col(column).shift(n)
    return pl.when((pl.col(N) >= 2 * n) & (candidate == pl.col(window_extreme))).then(candidate)


def _recent(confirmed: np.ndarray, oldest: np.ndarray, out: np.ndarray) -> None:
    """Into the rows of `out`: prices of the last pivots confirmed by each row (newest first)
    that were confirmed at or after the row's `oldest` row; NaN where there are fewer."""
    is_pivot = ~np.isnan(confirmed)
    at = np.flatnonzero(is_pivot)
    # Entry 0 stands for "no pivot": confirmed before every row, with no price.
    confirmed_at = np.concatenate(([-1], at))
    prices = np.concatenate(([np.nan], confirmed[at]))
    seen = np.cumsum(is_pivot)
    for k, row in enumerate(out):
        j = np.maximum(seen - k, 0)
        np.take(prices, j, out=row)
        row[confirmed_at[j] < oldest] = np.nan


def _touches(candidates: np.ndarray, level: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """How many candidate pivots lie within `tolerance` of the level (NaN where there is none)."""
    near = (np.abs(candidates - level) <= tolerance).sum(axis=0, dtype=np.float64)
    near[np.isnan(level)] = np.nan
    return near
