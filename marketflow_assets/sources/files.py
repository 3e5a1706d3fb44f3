"""Bars from a folder of CSV or Parquet files: one file per ticker, or one long table."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import polars as pl

from marketflow_assets.sources.base import SourceError
from marketflow_assets.sources.normalize import empty_bars, filter_bars, normalize_bars

SUFFIXES = (".csv", ".parquet", ".pq")


def read_bar_file(path: Path) -> pl.DataFrame:
    """One file, normalised; a file without a ticker column is named after its ticker."""
    try:
        if path.suffix.lower() == ".csv":
            raw = pl.read_csv(path, infer_schema=False)
        else:
            raw = pl.read_parquet(path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{path}: cannot be read as {path.suffix[1:]}: {exc}") from exc
    return normalize_bars(raw, origin=str(path), ticker=path.stem.upper())


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
            filter_bars(read_bar_file(path), tickers, start, end) for path in self.bar_files()
        ]
        return pl.concat(frames) if frames else empty_bars()
