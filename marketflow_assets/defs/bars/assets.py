"""`daily_bars`: fetch a window of sessions, quarantine bad rows, replace the stored window."""

import datetime as dt

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import MarketDataResource, StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.sources import SourceError
from marketflow_assets.sources.ingest import ingest_sessions
from marketflow_assets.sources.quality import ingest_summary


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The market data assets of `area`'s partitions."""

    @area.session_asset(group_name="market_data", deps=[], kinds={"duckdb", "polars"})
    def daily_bars(
        context: dg.AssetExecutionContext, store: StoreResource, market_data: MarketDataResource
    ) -> dg.MaterializeResult:
        """Raw daily bars per (ticker, session); bad rows go to `quarantine` with their reasons."""
        window = RunWindow.of(context, area.first_session)
        source = market_data.get_source()
        context.log.info(f"fetching {window.start}..{window.end} from {source.name}")
        try:
            result = ingest_sessions(
                source, market_data.tickers, window.sessions, dt.datetime.now(dt.UTC)
            )
        except SourceError as exc:
            raise dg.Failure(str(exc)) from exc
        frames = {
            "bars": result.bars,
            "quarantine": result.quarantine,
            "corporate_actions": result.corporate_actions,
        }
        with store.get_connection() as conn:
            window.write(conn, frames, "daily_bars")
        summary = ingest_summary(result, window.sessions, market_data.tickers)
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
