"""Small statistics of the scorecard: the Wilson interval, the Brier score, a ten-bin reliability
table and Spearman's rank correlation.

The Brier score's squared errors and Spearman's correlation are Polars expressions, so that they
run per group inside a `group_by(...).agg(...)`; the reliability table is built per group from
counts per confidence bin, which add up across batches; the Wilson interval takes expressions or
numpy arrays.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar, overload

import numpy as np
import numpy.typing as npt
import polars as pl

Z95 = 1.959963984540054  # the two-sided 95% quantile of the standard normal
BINS = 10
RELIABILITY_BIN = pl.Struct(
    {
        "bin": pl.Int32,
        "lower": pl.Float64,
        "upper": pl.Float64,
        "count": pl.Int32,
        "mean_confidence": pl.Float64,
        "hit_rate": pl.Float64,
    }
)
RELIABILITY = pl.List(RELIABILITY_BIN)
# The table of no rows: what a group without outcomes shows.
EMPTY_RELIABILITY = [
    {
        "bin": k,
        "lower": k / BINS,
        "upper": (k + 1) / BINS,
        "count": 0,
        "mean_confidence": None,
        "hit_rate": None,
    }
    for k in range(BINS)
]
_Values = TypeVar("_Values", pl.Expr, np.ndarray)


@overload
def wilson_interval(hits: pl.Expr, n: pl.Expr | int, z: float = Z95) -> tuple[pl.Expr, pl.Expr]: ...


@overload
def wilson_interval(
    hits: npt.ArrayLike, n: npt.ArrayLike, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]: ...


def wilson_interval(
    hits: pl.Expr | npt.ArrayLike, n: pl.Expr | npt.ArrayLike, z: float = Z95
) -> tuple[pl.Expr, pl.Expr] | tuple[np.ndarray, np.ndarray]:
    """(low, high) of the Wilson score interval of a hit rate, which stays inside [0, 1] and
    behaves on small counts; null (Polars, named `low` and `high`) or NaN (numpy) where n is 0."""
    if isinstance(hits, pl.Expr) or isinstance(n, pl.Expr):
        hits_expr = hits if isinstance(hits, pl.Expr) else pl.lit(hits)
        n_expr = (n if isinstance(n, pl.Expr) else pl.lit(n)).cast(pl.Float64)
        low, high = _wilson(hits_expr.cast(pl.Float64), n_expr, z)
        return (
            pl.when(n_expr > 0).then(low.clip(0.0, 1.0)).alias("low"),
            pl.when(n_expr > 0).then(high.clip(0.0, 1.0)).alias("high"),
        )
    hits_array = np.asarray(hits, dtype=np.float64)
    n_array = np.asarray(n, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        low, high = _wilson(hits_array, n_array, z)
    empty = n_array <= 0
    return (
        np.where(empty, np.nan, np.clip(low, 0.0, 1.0)),
        np.where(empty, np.nan, np.clip(high, 0.0, 1.0)),
    )


def _wilson(hits: _Values, n: _Values, z: float) -> tuple[_Values, _Values]:
    p = hits / n
    z2 = z * z
    centre = p + z2 / (2 * n)
    half = z * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5
    scale = 1 + z2 / n
    return (centre - half) / scale, (centre + half) / scale


def squared_error(confidence: pl.Expr, hit: pl.Expr) -> pl.Expr:
    """(confidence - hit)^2 of each row with both: their mean is the Brier score (0 is a perfect
    forecast, 0.25 a coin)."""
    return (confidence - hit.cast(pl.Float64)) ** 2


def reliability_bin(confidence: pl.Expr) -> pl.Expr:
    """The bin of a confidence: k for [k/10, (k+1)/10), 9 for [0.9, 1.0] (values outside [0, 1]
    go to the end bins), compared with the same bounds the table reports."""
    return pl.sum_horizontal(
        [(confidence >= k / BINS).cast(pl.Int32) for k in range(1, BINS)]
    ).cast(pl.Int32)


def reliability_counts(
    frame: pl.LazyFrame, by: Sequence[str], confidence: str = "confidence", hit: str = "hit"
) -> pl.LazyFrame:
    """Per group of the `by` columns and confidence `bin`, over the rows with both values: their
    `count`, `confidence_sum` and `hit_sum`, which add up across batches of rows."""
    rows = frame.filter(pl.col(confidence).is_not_null() & pl.col(hit).is_not_null())
    return rows.group_by(*by, reliability_bin(pl.col(confidence)).alias("bin")).agg(
        pl.len().alias("count"),
        pl.col(confidence).sum().alias("confidence_sum"),
        pl.col(hit).sum().alias("hit_sum"),
    )


def reliability(counts: pl.LazyFrame, by: Sequence[str]) -> pl.LazyFrame:
    """Per group of the `by` columns of `counts` (reliability_counts, summed), the ten-bin
    reliability table as column `reliability` (RELIABILITY): per confidence bin, the count of
    rows with both values, their mean confidence and observed hit rate; empty bins have count 0
    and null means.

    From counts per (group, bin) rather than an expression: one hash aggregation by (group, bin)
    is much faster than ten filtered aggregations per group, and adds up across batches.
    """
    keys = list(by)
    count = pl.col("count")
    bins = pl.LazyFrame(EMPTY_RELIABILITY, schema=RELIABILITY_BIN.to_schema()).drop(
        "count", "mean_confidence", "hit_rate"
    )
    return (
        counts.select(keys)
        .unique()
        .join(bins, how="cross")
        .join(counts, on=[*keys, "bin"], how="left")
        .group_by(keys)
        .agg(
            pl.struct(
                "bin",
                "lower",
                "upper",
                count.fill_null(0).cast(pl.Int32),
                (pl.col("confidence_sum") / count).cast(pl.Float64).alias("mean_confidence"),
                (pl.col("hit_sum") / count).cast(pl.Float64).alias("hit_rate"),
            )
            .sort_by("bin")
            .alias("reliability")
        )
    )


def spearman(x: pl.Expr, y: pl.Expr) -> pl.Expr:
    """Spearman's rank correlation over the rows with both values (average ranks for ties);
    null with fewer than 3 such rows or when either side is constant."""
    both = x.is_not_null() & y.is_not_null()
    x_kept, y_kept = x.filter(both), y.filter(both)
    defined = (both.sum() >= 3) & (x_kept.n_unique() > 1) & (y_kept.n_unique() > 1)
    return pl.when(defined).then(
        pl.corr(x_kept.rank("average"), y_kept.rank("average"), method="pearson")
    )
