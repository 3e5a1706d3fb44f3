"""The working frame every VPA stage shares: bars checked, sorted, indexed and split-adjusted.

Prices and volumes are put on one continuous basis per ticker: a bar's price times the product
of the split ratios up to and including its own date (volume divided by it). That basis uses no
split after the bar, and a value stated "as of D" (what a chart showed on D) is the basis value
divided by the factor of D (volume: multiplied).

Work is done on pieces of whole tickers small enough to stay in the CPU cache, two at a time:
every computation is per ticker, so the pieces give exactly what the whole would.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import polars as pl

REQUIRED = ("ticker", "date", "open", "high", "low", "close", "volume")
CHUNK_ROWS = 131_072
WORKERS = 2

# Working columns: first row of the row's ticker, bars of the ticker before it, the cumulative
# split factor, and the continuous prices and volume.
START, N, FACTOR = "_start", "_n", "_factor"
O, H, L, C, V = "_o", "_h", "_l", "_c", "_v"


class BarsError(ValueError):
    """Bars handed to the VPA engine cannot be used; the message names the ticker and date."""


def normalise(bars: pl.DataFrame) -> pl.DataFrame:
    """`bars` with the engine's column types, checked, sorted by ticker and date."""
    missing = [c for c in REQUIRED if c not in bars.columns]
    if missing:
        raise BarsError(
            f"bars lack column(s) {', '.join(missing)}; found {', '.join(bars.columns)}"
        )
    ratio = (
        pl.col("split_ratio").cast(pl.Float64).fill_null(1.0)
        if "split_ratio" in bars.columns
        else pl.lit(1.0)
    )
    frame = bars.select(
        pl.col("ticker").cast(pl.String),
        pl.col("date").cast(pl.Date),
        *(pl.col(c).cast(pl.Float64) for c in REQUIRED[2:]),
        ratio.alias("split_ratio"),
    )
    frame = sort_by_ticker(frame)
    _check(frame)
    return frame


def sort_by_ticker(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` sorted by ticker and date (returned as is when it already is)."""
    ordered = frame.select(
        (
            (pl.col("ticker") > pl.col("ticker").shift(1))
            | (
                (pl.col("ticker") == pl.col("ticker").shift(1))
                & (pl.col("date") > pl.col("date").shift(1))
            )
        )
        .slice(1)
        .all()
    ).item()
    return frame if ordered else frame.sort("ticker", "date")


def map_ticker_chunks(
    frame: pl.DataFrame, work: Callable[[pl.DataFrame], pl.DataFrame]
) -> pl.DataFrame:
    """`work` applied to pieces of whole tickers of `frame` (sorted by ticker), concatenated."""
    first_rows = frame.select(
        pl.arg_where(pl.col("ticker") != pl.col("ticker").shift(1).fill_null(""))
    ).to_series()
    cuts = first_rows.filter(first_rows // CHUNK_ROWS != (first_rows // CHUNK_ROWS).shift(1))
    bounds = [0, *cuts.filter(cuts > 0).to_list(), frame.height]
    pieces = [frame.slice(lo, hi - lo) for lo, hi in zip(bounds[:-1], bounds[1:], strict=True)]
    if len(pieces) == 1:
        return work(pieces[0])
    with ThreadPoolExecutor(WORKERS) as pool:
        return pl.concat(list(pool.map(work, pieces)), how="vertical")


def prepare(chunk: pl.DataFrame) -> pl.DataFrame:
    """A normalised piece of bars with the working columns added."""
    new_ticker = (pl.col("ticker") != pl.col("ticker").shift(1)).fill_null(True)
    row = pl.int_range(pl.len(), dtype=pl.Int32)
    chunk = chunk.with_columns(pl.when(new_ticker).then(row).forward_fill().alias(START))
    chunk = chunk.with_columns((row - pl.col(START)).alias(N), _split_factor(chunk).alias(FACTOR))
    return chunk.with_columns(
        (pl.col("open") * pl.col(FACTOR)).alias(O),
        (pl.col("high") * pl.col(FACTOR)).alias(H),
        (pl.col("low") * pl.col(FACTOR)).alias(L),
        (pl.col("close") * pl.col(FACTOR)).alias(C),
        (pl.col("volume") / pl.col(FACTOR)).alias(V),
    )


def lag(column: str, k: int) -> pl.Expr:
    """`column` k bars earlier for the same ticker (null before the ticker's k-th bar)."""
    return pl.when(pl.col(N) >= k).then(pl.col(column).shift(k))


def _check(frame: pl.DataFrame) -> None:
    prices = REQUIRED[2:]
    bad = frame.filter(
        pl.any_horizontal(pl.col(c).is_null() | ~pl.col(c).is_finite() for c in prices)
        | pl.any_horizontal(pl.col(c) <= 0 for c in prices[:-1])
        | (pl.col("volume") < 0)
        | pl.col("ticker").is_null()
        | pl.col("date").is_null()
        | ~(pl.col("split_ratio") > 0)
    )
    if bad.height:
        row = bad.row(0, named=True)
        raise BarsError(
            f"{bad.height} unusable bar(s) (null, non-finite or non-positive values), first "
            f"{row['ticker']} {row['date']}: {row}"
        )
    dupes = frame.filter(
        (pl.col("ticker") == pl.col("ticker").shift(1))
        & (pl.col("date") == pl.col("date").shift(1))
    )
    if dupes.height:
        row = dupes.row(0, named=True)
        raise BarsError(
            f"{dupes.height} duplicate (ticker, date) key(s), first {row['ticker']} {row['date']}"
        )


def _split_factor(chunk: pl.DataFrame) -> pl.Expr:
    """Product of each ticker's split ratios up to and including each row's date."""
    if chunk.select((pl.col("split_ratio") == 1.0).all()).item():
        return pl.lit(1.0)
    return pl.col("split_ratio").cum_prod().over(START)
