"""Resources: the DuckDB store and the market data source, configured from settings."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from dagster_duckdb import DuckDBResource

from marketflow_assets.settings import Settings
from marketflow_assets.sources import MarketSource, make_source
from marketflow_assets.store.connection import open_store
from marketflow_assets.store.lake import Lake
from marketflow_assets.vpa.rules import Rules


class StoreResource(DuckDBResource):
    """The project's DuckDB file, opened (and migrated) by the store's one opener, with
    DuckDB's buffers held to the settings' memory budget.

    The connection is closed even when the block raises (DuckDBResource's own only closes it
    on success, which keeps the file locked by a failed step's traceback).
    """

    memory_mib: int | None = None
    # A lake's folder (store/lake.py): the store is its Delta tables, not the file `database`.
    lake: str | None = None

    @contextmanager
    def get_connection(self) -> Iterator[duckdb.DuckDBPyConnection]:
        location = Lake(Path(self.lake)) if self.lake else self.database
        with open_store(location, memory_mib=self.memory_mib) as conn:
            yield conn


class MarketDataResource(dg.ConfigurableResource):
    """Which source feeds `daily_bars` and for which tickers (None: all the source has)."""

    source: str = "sample"
    files_dir: str | None = None
    tickers: list[str] | None = None

    def get_source(self) -> MarketSource:
        return make_source(self.source, Path(self.files_dir) if self.files_dir else None)


class TrainingResource(dg.ConfigurableResource):
    """Where the pair templates and exports live, and the share of quiet sessions given pairs
    when the settings override the rules' share (None: the rules')."""

    templates_dir: str
    exports_dir: str
    quiet_sample: float | None = None

    def share_of_quiet(self, rules: Rules) -> float:
        """The share of quiet sessions that get pairs."""
        return rules.training.quiet_sample if self.quiet_sample is None else self.quiet_sample


class ReportsResource(dg.ConfigurableResource):
    """Where the scorecard's markdown and plot are written."""

    reports_dir: str


def resources_from_settings(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of `defs`, built from validated settings."""
    return {
        "store": StoreResource(
            database=str(settings.duckdb_path),
            memory_mib=settings.memory_mib,
            lake=str(settings.lake_dir) if settings.lake_dir else None,
        ),
        "market_data": MarketDataResource(
            source=settings.source,
            files_dir=str(settings.files_dir) if settings.files_dir else None,
            tickers=list(settings.tickers) if settings.tickers else None,
        ),
        "training": TrainingResource(
            templates_dir=str(settings.templates_dir),
            exports_dir=str(settings.exports_dir),
            quiet_sample=settings.quiet_sample,
        ),
        "reports": ReportsResource(reports_dir=str(settings.reports_dir)),
    }
