"""Market data sources: each returns one normalised Polars frame of daily bars."""

from __future__ import annotations

from pathlib import Path

from marketflow_assets.settings import SOURCE_NAMES
from marketflow_assets.sources.base import MarketSource, SourceError
from marketflow_assets.sources.files import FilesSource
from marketflow_assets.sources.sample import SampleSource
from marketflow_assets.sources.yahoo import YahooSource

__all__ = ["SOURCE_NAMES", "MarketSource", "SourceError", "make_source"]


def make_source(name: str, files_dir: Path | None = None) -> MarketSource:
    """The source called `name`; a clear error for an unknown name or a missing folder."""
    if name == "sample":
        return SampleSource()
    if name == "files":
        if files_dir is None:
            raise SourceError("the files source needs a folder (MARKETFLOW_FILES_DIR)")
        return FilesSource(files_dir)
    if name == "yfinance":
        return YahooSource()
    raise SourceError(f"unknown source {name!r}; choose one of {', '.join(SOURCE_NAMES)}")
