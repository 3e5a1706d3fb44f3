"""What every area's definitions are built from: the settings, the trading-day partitions made
from them, and the rules; with the decorators every session-partitioned asset and check share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import dagster as dg

from marketflow_assets.partitions import trading_day_partitions
from marketflow_assets.settings import Settings
from marketflow_assets.vpa.rules import Rules, load_rules

# Assets carrying this tag run in the evening job, for the session that just closed.
EVENING_TAG = ("marketflow/evening", "true")
# The pool of every step that opens the store: one at a time on a DuckDB file (see dagster.yaml).
STORE_POOL = "duckdb"


@dataclass(frozen=True)
class AreaContext:
    """The inputs of every `defs/<area>/definitions.py`: built once per Definitions."""

    settings: Settings
    partitions: dg.TimeWindowPartitionsDefinition
    rules: Rules

    @classmethod
    def from_settings(cls, settings: Settings) -> AreaContext:
        """Partitions and rules made from `settings` (never from the environment directly)."""
        return cls(
            settings=settings,
            partitions=trading_day_partitions(settings.start_date),
            rules=load_rules(settings.rules_path),
        )

    @property
    def first_session(self) -> dt.date:
        """The first partition's session: no history is read before it."""
        return dt.date.fromisoformat(self.partitions.get_first_partition_key())

    def session_asset(
        self,
        *,
        group_name: str,
        deps: Sequence[str | dg.AssetDep],
        kinds: set[str],
        evening: bool = True,
    ) -> Callable[[Callable[..., Any]], dg.AssetsDefinition]:
        """A trading-day partitioned asset that writes the store: a single-run backfill (a
        range is one vectorised run) in the store's pool (one writer at a time on a DuckDB file)."""
        return dg.asset(
            partitions_def=self.partitions,
            backfill_policy=dg.BackfillPolicy.single_run(),
            pool=STORE_POOL,
            group_name=group_name,
            deps=deps,
            kinds=kinds,
            tags=dict([EVENING_TAG]) if evening else None,
        )

    def session_check(
        self,
        *,
        asset: str,
        name: str | None = None,
        blocking: bool = False,
        description: str | None = None,
    ) -> Callable[[Callable[..., Any]], dg.AssetChecksDefinition]:
        """A trading-day partitioned check of `asset` that reads the store."""
        return dg.asset_check(
            asset=asset,
            name=name,
            partitions_def=self.partitions,
            pool=STORE_POOL,
            blocking=blocking,
            description=description,
        )
