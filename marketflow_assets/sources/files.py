"""Bars from a folder of CSV or Parquet files: one file per ticker, or one long table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from marketflow_assets.sources.base import SourceError
from marketflow_assets.sources.normalize import (
    canonical_name,
    empty_bars,
    filter_bars,
    normalize_bars,
)

SUFFIXES = (".csv", ".parquet", ".pq")


def read_bar_file(
    path: Path, start: dt.date | None = None, end: dt.date | None = None
) -> pl.DataFrame:
    """One file, normalised; a file without a ticker column is named after its ticker.

    With `start` and `end`, a Parquet file whose date column is stored as a date is read for
    [start, end] only (and rows without a date, which normalising refuses), so that a long
    table costs the memory of the range asked for; empty when the file has no row in it.
    """
    try:
        if path.suffix.lower() == ".csv":
            raw = pl.read_csv(path, infer_schema=False)
        else:
            raw = _scan_range(pl.scan_parquet(path), start, end).collect()
            if raw.height == 0 and pl.scan_parquet(path).select(pl.len()).collect().item():
                return empty_bars()
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from exc
    return normalize_bars(raw, origin=str(path), ticker=path.stem.upper())


def _scan_range(frame: pl.LazyFrame, start: dt.date | None, end: dt.date | None) -> pl.LazyFrame:
    """`frame` cut to dates in [start, end] (nulls kept) when its date column holds dates."""
    schema = frame.collect_schema()
    dates = [name for name in schema if canonical_name(name) == "date"]
    if start is None or end is None or len(dates) != 1:
        return frame
    column = pl.col(dates[0])
    if schema[dates[0]] != pl.Date and not isinstance(schema[dates[0]], pl.Datetime):
        return frame
    return frame.filter(column.is_null() | column.cast(pl.Date).is_between(start, end))


class FilesSource:
    """Every CSV/Parquet file in `folder` (not recursive)."""

    name = "files"

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise SourceError(f"{folder}: market data folder does not exist")
        self.folder = folder

    def bar_files(self) -> list[Path]:
        found = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in SUFFIXES)
        if not found:
            raise SourceError(f"{self.folder}: no {'/'.join(SUFFIXES)} files in the folder")
        return found

    def fetch(self, tickers: Sequence[str] | None, start: dt.date, end: dt.date) -> pl.DataFrame:
        frames = [
            filter_bars(read_bar_file(path, start, end), tickers, start, end)
            for path in self.bar_files()
        ]
        return pl.concat(frames) if frames else empty_bars()
