"""`daily_bars`: fetch a window of sessions, quarantine bad rows, replace the stored window."""

import datetime as dt

import dagster as dg

from marketflow_assets.calendar import sessions_between, unclosed_sessions
from marketflow_assets.defs.resources import MarketDataResource, StoreResource
from marketflow_assets.defs.windows import partition_dates
from marketflow_assets.partitions import trading_days
from marketflow_assets.sources.quality import ingest_summary, sort_bars
from marketflow_assets.store.windows import replace_windows


@dg.asset(
    partitions_def=trading_days,
    backfill_policy=dg.BackfillPolicy.single_run(),
    pool="duckdb",
    group_name="market_data",
    kinds={"duckdb", "polars"},
)
def daily_bars(
    context: dg.AssetExecutionContext, store: StoreResource, market_data: MarketDataResource
) -> dg.MaterializeResult:
    """Raw daily bars per (ticker, session); bad rows go to `quarantine` with their reasons."""
    start, end = partition_dates(context)
    sessions = sessions_between(start, end)
    open_sessions = unclosed_sessions(sessions, dt.datetime.now(dt.UTC))
    if open_sessions:
        raise dg.Failure(
            f"session(s) {open_sessions} have not closed yet; run them after the close"
        )

    source = market_data.get_source()
    context.log.info(f"fetching {len(sessions)} sessions {start}..{end} from {source.name}")
    fetched = source.fetch(market_data.tickers, start, end)
    result = sort_bars(fetched, sessions, source.name)
    with store.get_connection() as conn:
        replace_windows(
            conn,
            {
                "bars": result.bars,
                "quarantine": result.quarantine,
                "corporate_actions": result.corporate_actions,
            },
            start,
            end,
            asset="daily_bars",
            sessions=sessions,
        )
    summary = ingest_summary(result, sessions, market_data.tickers)
    context.log.info(f"stored {summary['rows']} bars, quarantined {summary['quarantined']} rows")
    for problem in ("sessions_without_bars", "tickers_without_bars"):
        if summary[problem]:
            context.log.warning(f"{problem.replace('_', ' ')}: {summary[problem]}")
    return dg.MaterializeResult(
        metadata={
            **summary,
            "source": source.name,
            "window": f"{start}..{end}",
            "dagster/row_count": summary["rows"],
        }
    )
