"""One asset check per asset: no key appears twice among the stored rows of the run's window."""

from collections.abc import Mapping, Sequence

import dagster as dg

from marketflow_assets.defs.area import AreaContext
from marketflow_assets.defs.resources import StoreResource
from marketflow_assets.defs.run_window import RunWindow
from marketflow_assets.store.reads import duplicate_keys


def unique_keys_check(
    area: AreaContext, name: str, asset: str, keys: Mapping[str, Sequence[str]]
) -> dg.AssetChecksDefinition:
    """A check named `name` on `asset`: each table of `keys` holds each of its keys at most
    once in the window (metadata: duplicated keys per table)."""
    described = "; ".join(f"{table} ({', '.join(cols)})" for table, cols in keys.items())

    @area.session_check(
        asset=asset,
        name=name,
        description=f"No key appears twice in the stored window: {described}.",
    )
    def check(context: dg.AssetCheckExecutionContext, store: StoreResource) -> dg.AssetCheckResult:
        window = RunWindow.of(context, area.first_session)
        with store.get_connection() as conn:
            counts = {
                table: duplicate_keys(conn, table, cols, window.start, window.end)
                for table, cols in keys.items()
            }
        return dg.AssetCheckResult(
            passed=not any(counts.values()),
            metadata={f"duplicate_{table}_keys": n for table, n in counts.items()},
        )

    return check
