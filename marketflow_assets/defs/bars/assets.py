"""`daily_bars`: fetch a window of sessions, quarantine bad rows, replace the stored window; a
long window in chunks of consecutive sessions sized from the memory budget."""

import datetime as dt

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import MarketDataResource, StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.progress import Progress
from marketflow_assets.sources import SourceError
from marketflow_assets.sources.ingest import ingest_chunks
from marketflow_assets.sources.quality import SortedBars, ingest_summary

# Memory one fetched row costs while it is read, checked and written, with room to spare.
BAR_ROW_BYTES = 512


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The market data assets of `area`'s partitions."""
    chunk_rows = (area.settings.memory_mib << 20) // BAR_ROW_BYTES

    @area.session_asset(group_name="market_data", deps=[], kinds={"duckdb", "polars"})
    def daily_bars(
        context: dg.AssetExecutionContext, store: StoreResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Raw daily bars per (ticker, session); bad rows go to `quarantine` with their reasons."""
        window = RunWindow.of(context, area.first_session)
        source, tickers = market_data.get_source(), market_data.tickers
        context.log.info(f"fetching {window.start}..{window.end} from {source.name}")
        counted, progress = [], Progress("bars", len(window.sessions))
        chunks = ingest_chunks(
            source, tickers, window.sessions, dt.datetime.now(dt.UTC), chunk_rows
        )
        try:
            for chunk in chunks:
                # Each chunk in a connection of its own: the store is not held while fetching.
                with store.get_connection() as conn:
                    RunWindow(chunk.start, chunk.end, window.first).write(
                        conn, chunk.checked.tables, "daily_bars"
                    )
                counted.append(chunk.checked.counted())
                context.log.info(progress.step(len(chunk.sessions), chunk.checked.bars.height))
        except SourceError as exc:
            raise dg.Failure(str(exc)) from exc
        summary = ingest_summary(SortedBars.concat(counted), window.sessions, tickers)
        for problem in ("sessions_without_bars", "tickers_without_bars"):
            if summary[problem]:
                context.log.warning(f"{problem.replace('_', ' ')}: {summary[problem]}")
        return dg.MaterializeResult(
            metadata={
                **summary,
                "source": source.name,
                "window": f"{window.start}..{window.end}",
                "dagster/row_count": summary["rows"],
            }
        )

    return [daily_bars]
