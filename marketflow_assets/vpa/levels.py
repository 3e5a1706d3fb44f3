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
BLOCK = 16_384


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
    close, atr = frame[C].to_numpy(), frame["atr14"].to_numpy()
    rows = np.arange(frame.height)
    # A candidate confirmed at row r stands at bar r - n: it counts at row t when it is of t's
    # ticker and no more than `max_age_bars` bars before t.
    oldest = np.maximum(frame[START].to_numpy(), rows - (levels["max_age_bars"] - n))
    recent = [_Recent(pivots[kind]) for kind in pivots.columns]
    support, resistance = np.empty(frame.height), np.empty(frame.height)
    support_touches, resistance_touches = np.empty(frame.height), np.empty(frame.height)
    scratch = _Scratch(2 * kept, min(BLOCK, frame.height))
    tolerance = levels["touch_atr"] * atr
    # Block by block, so that the candidates of a block stay in the CPU cache.
    for lo in range(0, frame.height, BLOCK):
        hi = min(lo + BLOCK, frame.height)
        work = scratch.view(hi - lo)
        for i, pivot in enumerate(recent):
            pivot.fill(work, i * kept, kept, lo, hi, oldest[lo:hi])
        _nearest(
            work,
            close[lo:hi],
            tolerance[lo:hi],
            (support[lo:hi], support_touches[lo:hi]),
            (resistance[lo:hi], resistance_touches[lo:hi]),
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        columns = {
            "support": support,
            "support_touches": support_touches,
            "support_distance_atr": (close - support) / atr,
            "resistance": resistance,
            "resistance_touches": resistance_touches,
            "resistance_distance_atr": (resistance - close) / atr,
        }
    return [
        pivots["pivot_high"],
        pivots["pivot_low"],
        *(pl.Series(name, values, nan_to_null=True) for name, values in columns.items()),
    ]


class _Scratch:
    """Working arrays for one block of rows, reused from block to block (fresh temporaries of
    this size cost page faults on every numpy operation)."""

    def __init__(self, candidates: int, rows: int) -> None:
        self.candidates = np.empty((candidates, rows))
        self.values = np.empty((candidates, rows))
        self.flags = np.empty((candidates, rows), dtype=bool)
        self.index = np.empty(rows, dtype=np.int64)
        self.rows = np.empty(rows, dtype=np.int64)
        self.mask = np.empty(rows, dtype=bool)

    def view(self, rows: int) -> _Scratch:
        """The same arrays cut to `rows` rows."""
        view = object.__new__(_Scratch)
        view.candidates = self.candidates[:, :rows]
        view.values = self.values[:, :rows]
        view.flags = self.flags[:, :rows]
        view.index, view.rows, view.mask = self.index[:rows], self.rows[:rows], self.mask[:rows]
        return view


def _nearest(
    work: _Scratch,
    close: np.ndarray,
    tolerance: np.ndarray,
    support: tuple[np.ndarray, np.ndarray],
    resistance: tuple[np.ndarray, np.ndarray],
) -> None:
    """Into `support` and `resistance` (level, touches): the highest candidate below the close
    and the lowest above it (NaN where there is none), and how many candidates lie within
    `tolerance` of each.

    Absent candidates are +inf; prices being positive, p / (p > close) is p or +inf and
    p * (p < close) is p, 0 or NaN (inf * 0), which fmax skips: plain arithmetic, no masks (a
    masked reduction is several times slower).
    """
    candidates, values, flags = work.candidates, work.values, work.flags
    with np.errstate(divide="ignore", invalid="ignore"):
        np.greater(candidates, close, out=flags)
        np.divide(candidates, flags, out=values)
        np.fmin.reduce(values, axis=0, out=resistance[0])
        np.less(candidates, close, out=flags)
        np.multiply(candidates, flags, out=values)
        np.fmax.reduce(values, axis=0, out=support[0])
        resistance[0][np.isinf(resistance[0])] = np.nan
        support[0][support[0] == 0] = np.nan
        for level, touches in (support, resistance):
            np.subtract(candidates, level, out=values)
            np.abs(values, out=values)
            np.less_equal(values, tolerance, out=flags)
            # At most a few candidates: counted in bytes, then widened.
            touches[:] = np.add.reduce(flags.view(np.uint8), axis=0, dtype=np.uint8)
            touches[np.isnan(level) | np.isnan(tolerance)] = np.nan


def _pivot(column: str, window_extreme: str, n: int) -> pl.Expr:
    """The price of bar t - n where it is the extreme of bars [t - 2n, t], confirmed at t."""
    candidate = pl.col(column).shift(n)
    return pl.when((pl.col(N) >= 2 * n) & (candidate == pl.col(window_extreme))).then(candidate)


class _Recent:
    """The pivots of one kind confirmed in a piece, read back from any row."""

    def __init__(self, confirmed: pl.Series) -> None:
        found = confirmed.is_not_null()
        # Entry 0 stands for "no pivot": confirmed before every row, at +inf.
        self.confirmed_at = np.concatenate(([-1], found.arg_true().to_numpy()))
        self.prices = np.concatenate(([np.inf], confirmed.drop_nulls().to_numpy()))
        self.seen = found.cum_sum().to_numpy()

    def fill(
        self, work: _Scratch, first: int, kept: int, lo: int, hi: int, oldest: np.ndarray
    ) -> None:
        """Into candidate rows first.. first + kept of `work`: for rows lo..hi, prices of the
        last pivots confirmed by the row (newest first) that were confirmed at or after its
        `oldest` row; +inf where there are fewer."""
        seen, j = self.seen[lo:hi], work.index
        for k in range(kept):
            row = work.candidates[first + k]
            np.subtract(seen, k, out=j, dtype=np.int64)
            np.maximum(j, 0, out=j)
            np.take(self.prices, j, out=row, mode="clip")
            np.take(self.confirmed_at, j, out=work.rows, mode="clip")
            np.greater_equal(work.rows, oldest, out=work.mask)
            # Prices being positive, p / True is p and p / False is +inf (no masked writes).
            with np.errstate(divide="ignore"):
                np.divide(row, work.mask, out=row)
