"""Turn any common spelling of a bar table into the one normalised frame every source emits."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence

import polars as pl

from marketflow_assets.sources.base import SourceError

PRICE_COLUMNS = ("open", "high", "low", "close")
REQUIRED_COLUMNS = ("ticker", "date", *PRICE_COLUMNS, "volume")
OPTIONAL_COLUMNS = ("split_ratio", "dividend")

BARS_SCHEMA = pl.Schema(
    {
        "ticker": pl.String,
        "date": pl.Date,
        "open": pl.Float64,
        "high": pl.Float64,
        "low": pl.Float64,
        "close": pl.Float64,
        "volume": pl.Float64,
        "split_ratio": pl.Float64,
        "dividend": pl.Float64,
    }
)

_ALIASES = {
    "date": "date",
    "datetime": "date",
    "timestamp": "date",
    "day": "date",
    "tradedate": "date",
    "symbol": "ticker",
    "ticker": "ticker",
    "code": "ticker",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "adjustedclose": "adj_close",
    "volume": "volume",
    "vol": "volume",
    "splitratio": "split_ratio",
    "split": "split_ratio",
    "splits": "split_ratio",
    "stocksplits": "split_ratio",
    "dividend": "dividend",
    "dividends": "dividend",
}

_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y%m%d",
    "%Y/%m/%d",
    "%m/%d/%Y",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
)
_MISSING_TEXT = ("", "na", "n/a", "nan", "null", "none", "-")


def canonical_name(column: str) -> str | None:
    """The normalised name of a column (`Adj Close` -> adj_close); None if not a bar field."""
    return _ALIASES.get(re.sub(r"[^a-z]", "", column.lower()))


def normalize_bars(frame: pl.DataFrame, origin: str, ticker: str | None = None) -> pl.DataFrame:
    """Rename, type-check and cast `frame` to BARS_SCHEMA.

    `origin` names the file or feed in every error; `ticker` fills the ticker column when the
    input has none (one file per ticker). Missing values stay null so that quality checks can
    quarantine them; text where a number or date belongs is an error naming the line.
    """
    if frame.height == 0:
        raise SourceError(f"{origin}: no rows (empty input)")
    frame = _rename(frame, origin)
    if "ticker" not in frame.columns and ticker is not None:
        frame = frame.with_columns(pl.lit(ticker).alias("ticker"))
    if "close" not in frame.columns and "adj_close" in frame.columns:
        raise SourceError(f"{origin}: has Adj Close but no Close; bars are stored raw (unadjusted)")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SourceError(
            f"{origin}: missing column(s) {', '.join(missing)}; found {', '.join(frame.columns)}"
        )
    columns = [
        _ticker_column(frame["ticker"], origin),
        _date_column(frame["date"], origin),
        *(_number_column(frame[c], origin) for c in (*PRICE_COLUMNS, "volume")),
        *(
            _number_column(frame[c], origin)
            if c in frame.columns
            else pl.Series(c, [None] * frame.height, dtype=pl.Float64)
            for c in OPTIONAL_COLUMNS
        ),
    ]
    return pl.DataFrame(columns).cast(dict(BARS_SCHEMA))


def filter_bars(
    bars: pl.DataFrame, tickers: Sequence[str] | None, start: dt.date, end: dt.date
) -> pl.DataFrame:
    """Rows of `bars` for `tickers` (None: all) with dates in [start, end]."""
    keep = pl.col("date").is_between(start, end)
    if tickers is not None:
        keep &= pl.col("ticker").is_in(list(tickers))
    return bars.filter(keep)


def empty_bars() -> pl.DataFrame:
    """A normalised frame with no rows."""
    return pl.DataFrame(schema=BARS_SCHEMA)


def _rename(frame: pl.DataFrame, origin: str) -> pl.DataFrame:
    mapping: dict[str, str] = {}
    for column in frame.columns:
        name = canonical_name(column)
        if name is None:
            continue
        if name in mapping.values():
            first = next(k for k, v in mapping.items() if v == name)
            raise SourceError(f"{origin}: columns {first!r} and {column!r} both mean {name!r}")
        mapping[column] = name
    return frame.select(list(mapping)).rename(mapping)


def _line_numbers(mask: pl.Series) -> list[int]:
    """1-based data line numbers (header is line 1) of the first offending rows."""
    return [i + 2 for i in mask.arg_true().head(5).to_list()]


def _ticker_column(column: pl.Series, origin: str) -> pl.Series:
    values = column.cast(pl.String).str.strip_chars().str.to_uppercase()
    blank = values.is_null() | (values == "")
    if blank.any():
        raise SourceError(f"{origin}: missing ticker at line(s) {_line_numbers(blank)}")
    return values.alias("ticker")


def _date_column(column: pl.Series, origin: str) -> pl.Series:
    dtype = column.dtype
    if dtype == pl.Date:
        parsed = column
    elif isinstance(dtype, pl.Datetime):
        parsed = column.dt.date()
    elif dtype.is_integer():
        parsed = column.cast(pl.String).str.strptime(pl.Date, "%Y%m%d", strict=False)
    else:
        text = column.cast(pl.String).str.strip_chars()
        parsed = pl.select(
            pl.coalesce(
                [
                    text.str.strptime(pl.Datetime, fmt, strict=False).dt.date()
                    for fmt in _DATE_FORMATS
                ]
            )
        ).to_series()
    bad = parsed.is_null()
    if bad.any():
        lines = _line_numbers(bad)
        sample = column.filter(bad).head(3).to_list()
        raise SourceError(f"{origin}: unparseable or missing date {sample} at line(s) {lines}")
    return parsed.alias("date")


def _number_column(column: pl.Series, origin: str) -> pl.Series:
    name = column.name
    if column.dtype.is_numeric():
        return column.cast(pl.Float64)
    if column.dtype == pl.Null:
        return column.cast(pl.Float64)
    text = column.cast(pl.String).str.strip_chars()
    text = pl.select(
        pl.when(text.str.to_lowercase().is_in(_MISSING_TEXT)).then(None).otherwise(text)
    ).to_series()
    numbers = text.cast(pl.Float64, strict=False)
    bad = numbers.is_null() & text.is_not_null()
    if bad.any():
        sample = text.filter(bad).head(3).to_list()
        raise SourceError(
            f"{origin}: text in number column {name!r}: {sample} at line(s) {_line_numbers(bad)}"
        )
    return numbers.alias(name)
