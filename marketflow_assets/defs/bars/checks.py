"""Checks on the stored bars of a window: sanity (blocking) and unique keys."""

import dagster as dg
import polars as pl

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.bars.assets import BAR_ROW_BYTES
from marketflow_assets.defs.keys import unique_keys_check
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.sources.quality import rule_violations
from marketflow_assets.store.reads import count_window, read_bars


def build_checks(area: AreaContext) -> list[dg.AssetChecksDefinition]:
    """The checks on `daily_bars`."""

    @area.session_check(asset="daily_bars", blocking=True)
    def bar_sanity(
        context: dg.AssetCheckExecutionContext, store: StoreResource
    ) -> dg.AssetCheckResult:
        """Every stored bar of the window has positive prices, open/close in range, volume >= 0."""
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            rows = count_window(conn, "bars", window.start, window.end)
            chunks = window.chunks(rows, BAR_ROW_BYTES, area.settings.memory_mib)
            broken = pl.concat(
                [rule_violations(read_bars(conn, chunk.start, chunk.end)) for chunk in chunks]
            )
        return dg.AssetCheckResult(
            passed=broken.height == 0,
            metadata={
                "bars_checked": rows,
                "violations": broken.height,
                "first_violations": [
                    f"{row['ticker']} {row['date']}: {row['reason']}"
                    for row in broken.head(10).iter_rows(named=True)
                ],
            },
        )

    keys = unique_keys_check(area, "bars_unique_keys", "daily_bars", {"bars": ("ticker", "date")})
    return [bar_sanity, keys]
