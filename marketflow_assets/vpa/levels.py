"""Confirmed pivots and the support and resistance they give, as known at each bar.

A pivot high at bar i is the highest high of bars [i - n, i + n]: it exists only from bar i + n,
when the bars after it have been seen. Levels at bar t use only pivots confirmed by t.
"""

from __future__ import annotations

import functools

import numpy as np
import polars as pl

from marketflow_assets.vpa.frame import START, C, H, L, N

LEVEL_PRICE_COLUMNS = ("pivot_high", "pivot_low", "support", "resistance")


def level_columns(frame: pl.DataFrame, spec: dict) -> list[pl.Series]:
    """Pivot prices confirmed at each bar, and the nearest support and resistance with their
    touches and distance in ATR (prices on the frame's continuous basis).

    Candidates are the last `pivots_kept` confirmed pivot highs and lows no older than
    `max_age_bars`: resistance is the lowest candidate above the close, support the highest
    below it (a broken pivot low can be resistance, a cleared pivot high support).
    """
    n = spec["pivot_bars"]
    levels = spec["levels"]
    pivots = frame.select(
        _pivot(H, n, highest=True).alias("pivot_high"),
        _pivot(L, n, highest=False).alias("pivot_low"),
    )
    start, bar = frame[START].to_numpy(), frame[N].to_numpy()
    close, atr = frame[C].to_numpy(), frame["atr14"].to_numpy()
    candidates = [
        price
        for kind in pivots.columns
        for price in _recent(
            pivots[kind].to_numpy(), start, bar, n, levels["pivots_kept"], levels["max_age_bars"]
        )
    ]
    # Absent candidates are +inf, so that (prices being positive) p / (p > close) is p or +inf
    # and p * (p < close) is p or 0 (or NaN for an absent one): plain arithmetic, no masks.
    with np.errstate(divide="ignore", invalid="ignore"):
        resistance = functools.reduce(np.fmin, (p / (p > close) for p in candidates))
        support = functools.reduce(np.fmax, (p * (p < close) for p in candidates))
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


def _pivot(column: str, n: int, highest: bool) -> pl.Expr:
    """The price of bar t - n where it is the extreme of bars [t - 2n, t], confirmed at t."""
    window = 2 * n + 1
    extreme = pl.col(column).rolling_max(window) if highest else pl.col(column).rolling_min(window)
    candidate = pl.col(column).shift(n)
    return pl.when((pl.col(N) >= 2 * n) & (candidate == extreme)).then(candidate)


def _recent(
    confirmed: np.ndarray, start: np.ndarray, bar: np.ndarray, n: int, kept: int, max_age: int
) -> list[np.ndarray]:
    """Prices of the last `kept` pivots confirmed by each row for its own ticker and standing no
    more than `max_age` bars back, newest first; +inf where there are fewer."""
    is_pivot = ~np.isnan(confirmed)
    at = np.flatnonzero(is_pivot)
    if at.size == 0:
        return [np.full(confirmed.size, np.inf)] * kept
    seen = np.cumsum(is_pivot, dtype=np.int32)
    latest = seen - 1
    # Pivots are in frame order, so this ticker's own pivots are those numbered from the count
    # seen before its first row.
    own_first = (seen - is_pivot)[start]
    prices, bars = confirmed[at], bar[at] - n
    out = []
    for k in range(kept):
        j = latest - k
        dead = j < own_first
        j[dead] = 0
        dead |= bar - bars[j] > max_age
        price = prices[j]
        price[dead] = np.inf
        out.append(price)
    return out


def _touches(candidates: list[np.ndarray], level: np.ndarray, tolerance: np.ndarray) -> np.ndarray:
    """How many candidate pivots lie within `tolerance` of the level (NaN where there is none)."""
    near = np.zeros(level.size)
    for price in candidates:
        near += np.abs(price - level) <= tolerance
    near[np.isnan(level)] = np.nan
    return near
