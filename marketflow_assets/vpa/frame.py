"""The working frame every VPA stage shares: bars checked, sorted, indexed and split-adjusted.

Prices and volumes are put on one continuous basis per ticker: a bar's price times the product
of the split ratios up to and including its own date (volume divided by it). That basis uses no
split after the bar, and a value stated "as of D" (what a chart showed on D) is the basis value
divided by the factor of D (volume: multiplied).

Work is done on pieces of whole tickers, two at a time: every computation is per ticker, so the
pieces give exactly what the whole would. Pieces of about half a million rows measured best:
each Polars call has a fixed cost of a fraction of a millisecond, which smaller pieces pay more
often, and the numpy work inside a piece runs on cache-sized blocks of its own.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np
import polars as pl

REQUIRED = ("ticker", "date", "open", "high", "low", "close", "volume")
CHUNK_ROWS = 524_288
WORKERS = 2

# Working columns: first row of the row's ticker, bars of the ticker before it, the cumulative
# split factor, and the continuous prices and volume.
START, N, FACTOR = "_start", "_n", "_factor"
O, H, L, C, V = "_o", "_h", "_l", "_c", "_v"  # noqa: E741

T = TypeVar("T")


class BarsError(ValueError):
    """Bars handed to the VPA engine cannot be used; the message names the ticker and date."""


def normalise(bars: pl.DataFrame) -> pl.DataFrame:
    """`bars` with the engine's column types, checked, sorted by ticker and date."""
    return normalised(bars)[0]


def normalised(bars: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """`normalise(bars)` and the first row of each ticker in it."""
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
    starts = _starts_if_sorted(frame)
    if starts is None:
        frame = frame.sort("ticker", "date")
        _check_values(frame)
        _check_keys(frame)
        return frame, ticker_starts(frame)
    _check_values(frame)
    return frame, starts


def ordered(frame: pl.DataFrame) -> tuple[pl.DataFrame, np.ndarray]:
    """`frame` sorted by ticker and date (as is when it already is) and the first row of each
    ticker."""
    starts = _starts_if_sorted(frame)
    if starts is not None:
        return frame, starts
    frame = frame.sort("ticker", "date")
    return frame, ticker_starts(frame)


def _starts_if_sorted(frame: pl.DataFrame) -> np.ndarray | None:
    """The first row of each ticker if (ticker, date) strictly increase, else None; tickers are
    compared for order only where they change."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
    changed = (pl.col("ticker") != pl.col("ticker").shift(1)).fill_null(True)
    found = frame.select(
        pl.arg_where(changed).implode().alias("starts"),
        (changed | (pl.col("date") > pl.col("date").shift(1))).slice(1).all().alias("dates"),
    )
    starts = found["starts"].explode().to_numpy().astype(np.int64)
    first = frame["ticker"].gather(starts)
    tickers_ok = first.len() < 2 or (first.slice(1) > first.slice(0, first.len() - 1)).all()
    return starts if found["dates"].item() and tickers_ok else None


def ticker_starts(frame: pl.DataFrame) -> np.ndarray:
    """Row numbers where a new run of `ticker` begins (the first row included)."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.int64)
    changed = (pl.col("ticker") != pl.col("ticker").shift(1)).fill_null(True)
    return frame.select(pl.arg_where(changed)).to_series().to_numpy().astype(np.int64)


def map_ticker_chunks(
    frame: pl.DataFrame,
    work: Callable[[pl.DataFrame, np.ndarray], T],
    starts: np.ndarray | None = None,
) -> list[T]:
    """`work(piece, first rows of the piece's tickers)` for pieces of whole tickers of `frame`
    (sorted by ticker), in order; `starts` are the first rows of the tickers in `frame` when
    the caller has them."""
    starts = ticker_starts(frame) if starts is None else starts
    # Pieces of at most about CHUNK_ROWS rows, as many as a multiple of WORKERS and of even
    # size, so that the workers finish together.
    rounds = max(1, -(-frame.height // (WORKERS * CHUNK_ROWS)))
    size = max(1, -(-frame.height // (WORKERS * rounds)))
    block = starts // size
    cuts = starts[1:][block[1:] != block[:-1]] if starts.size else starts
    bounds = [0, *cuts.tolist(), frame.height]
    pieces = [
        (frame.slice(lo, hi - lo), starts[(starts >= lo) & (starts < hi)] - lo)
        for lo, hi in itertools.pairwise(bounds)
    ]
    if len(pieces) == 1:
        return [work(*pieces[0])]
    with ThreadPoolExecutor(WORKERS) as pool:
        return list(pool.map(lambda piece: work(*piece), pieces))


def concat(parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Pieces put back together (the single piece as it is)."""
    return parts[0] if len(parts) == 1 else pl.concat(parts, how="vertical", rechunk=False)


def row_index(chunk: pl.DataFrame, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of a piece sorted by ticker (its tickers' first rows at `starts`): the row
    of its ticker's first bar and how many bars of the ticker come before it."""
    lengths = np.diff(np.append(starts, chunk.height))
    start = np.repeat(starts.astype(np.int32), lengths)
    n = np.arange(chunk.height, dtype=np.int32) - start
    return start, n


def prepare(chunk: pl.DataFrame, starts: np.ndarray | None = None) -> pl.DataFrame:
    """A normalised piece of bars with the working columns added.

    Without any split in the piece the factor is 1 and the continuous prices are the raw ones.
    Columns are made contiguous first (bars read in batches come in several chunks).
    """
    chunk = chunk.rechunk()
    start, n = row_index(chunk, ticker_starts(chunk) if starts is None else starts)
    # Flagged sorted, so that grouping by ticker takes contiguous slices instead of gathers.
    columns = [pl.Series(START, start).set_sorted(), pl.Series(N, n)]
    ratio = chunk["split_ratio"].to_numpy()
    if (ratio == 1.0).all():
        columns.append(pl.Series(FACTOR, np.ones(chunk.height)))
        chunk = chunk.with_columns(columns)
        return chunk.with_columns(
            pl.col("open").alias(O),
            pl.col("high").alias(H),
            pl.col("low").alias(L),
            pl.col("close").alias(C),
            pl.col("volume").alias(V),
        )
    columns.append(pl.Series(FACTOR, _split_factor(ratio, start)))
    chunk = chunk.with_columns(columns)
    return chunk.with_columns(
        (pl.col("open") * pl.col(FACTOR)).alias(O),
        (pl.col("high") * pl.col(FACTOR)).alias(H),
        (pl.col("low") * pl.col(FACTOR)).alias(L),
        (pl.col("close") * pl.col(FACTOR)).alias(C),
        (pl.col("volume") / pl.col(FACTOR)).alias(V),
    )


def ratio(numerator: pl.Expr, baseline: pl.Expr) -> pl.Expr:
    """`numerator / baseline`, null where the baseline is missing or zero (a halted stock's
    zero volume or range says nothing relative)."""
    return pl.when(baseline > 0).then(numerator / baseline)


def lag(column: str, k: int) -> pl.Expr:
    """`column` k bars earlier for the same ticker (null before the ticker's k-th bar)."""
    return pl.when(pl.col(N) >= k).then(pl.col(column).shift(k))


def _check_values(frame: pl.DataFrame) -> None:
    prices = REQUIRED[2:]
    bad = (
        pl.any_horizontal(pl.col(c).is_null() | ~pl.col(c).is_finite() for c in prices)
        | pl.any_horizontal(pl.col(c) <= 0 for c in prices[:-1])
        | (pl.col("volume") < 0)
        | pl.col("ticker").is_null()
        | pl.col("date").is_null()
        | ~(pl.col("split_ratio").is_finite() & (pl.col("split_ratio") > 0))
        | (pl.col("high") < pl.max_horizontal("open", "close", "low"))
        | (pl.col("low") > pl.min_horizontal("open", "close"))
    )
    if not frame.select(bad.any()).item():
        return
    bad_rows = frame.filter(bad)
    row = bad_rows.row(0, named=True)
    raise BarsError(
        f"{bad_rows.height} unusable bar(s) (null, non-finite or non-positive values, or open "
        f"or close outside [low, high]), first {row['ticker']} {row['date']}: {row}"
    )


def _check_keys(frame: pl.DataFrame) -> None:
    """Raise on rows that repeat the (ticker, date) of the row before (frame sorted)."""
    dupes = frame.filter(
        (pl.col("ticker") == pl.col("ticker").shift(1))
        & (pl.col("date") == pl.col("date").shift(1))
    )
    if dupes.height:
        row = dupes.row(0, named=True)
        raise BarsError(
            f"{dupes.height} duplicate (ticker, date) key(s), first {row['ticker']} {row['date']}"
        )


def _split_factor(ratio: np.ndarray, start: np.ndarray) -> np.ndarray:
    """Product of each ticker's split ratios up to and including each row's date.

    Ratios of 1 leave a product unchanged, so the running product per ticker is taken over the
    split rows alone (in order, as a cumulative product would) and carried forward.
    """
    at = np.flatnonzero(ratio != 1.0)
    products = (
        pl.DataFrame({"s": start[at], "r": ratio[at]})
        .select(pl.col("r").cum_prod().over("s"))
        .to_series()
        .to_numpy()
    )
    last = np.full(ratio.size, -1, dtype=np.int64)
    last[at] = np.arange(at.size)
    last = np.maximum.accumulate(last)
    own = (last >= 0) & (at[np.maximum(last, 0)] >= start) if at.size else last >= 0
    factor = np.ones(ratio.size)
    factor[own] = products[last[own]]
    return factor
