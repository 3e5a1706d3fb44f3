"""`training_dataset`: the reviewed pairs of a date range written as a training-ready export."""

import datetime as dt
from pathlib import Path
from typing import Any

import dagster as dg

from marketflow_assets.defs.area import STORE_POOL, AreaContext
from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.store.export_reads import stored_pairs
from marketflow_assets.store.exports import record_export
from marketflow_assets.training.export import ExportError, check_export_name, export_dataset
from marketflow_assets.training.summary import export_summary


class ExportConfig(dg.Config):
    """What to export: the folder name under data/exports/, the as-of range, the reviews, how to
    split (auto, time or none) and the near-duplicate cap (None: the rules')."""

    name: str = "latest"
    start: str | None = None
    end: str | None = None
    only_approved: bool = False
    split: str = "auto"
    max_similar: int | None = None

    def options(self) -> dict[str, Any]:
        """The keyword arguments of `export_dataset`; a Failure naming a bad field."""
        try:
            start, end = (dt.date.fromisoformat(t) if t else None for t in (self.start, self.end))
            name = check_export_name(self.name)
        except ValueError as exc:
            raise dg.Failure(f"export config: {exc}") from None
        return {
            "name": name,
            "start": start,
            "end": end,
            "only_approved": self.only_approved,
            "split": self.split,
            "max_similar": self.max_similar,
        }


def build_assets(area: AreaContext) -> list[dg.AssetsDefinition]:
    """The export asset, with `area`'s rules."""

    @dg.asset(
        group_name="exports", deps=["training_pairs"], pool=STORE_POOL, kinds={"jsonl", "parquet"}
    )
    def training_dataset(
        context: dg.AssetExecutionContext,
        config: ExportConfig,
        store: StoreResource,
        training: TrainingResource,
    ) -> dg.MaterializeResult:
        """Chat and instruction JSONL, Parquet, a dataset card and a manifest, split in time."""
        options = config.options()
        budget = area.settings.memory_mib
        with store.get_connection() as conn, stored_pairs(conn, area.rules.hash, budget) as pairs:
            try:
                summary = export_dataset(
                    pairs,
                    Path(training.exports_dir),
                    rules=area.rules.exports,
                    memory_mib=budget,
                    log=context.log.info,
                    **options,
                )
            except ExportError as exc:
                raise dg.Failure(str(exc)) from exc
            record_export(conn, summary)
        if summary.note:
            context.log.warning(summary.note)
        card = (summary.path / "README.md").read_text()
        return dg.MaterializeResult(
            metadata={
                **export_summary(summary),
                "path": dg.MetadataValue.path(str(summary.path)),
                "dataset_card": dg.MetadataValue.md(card.split("\n---\n", 1)[-1]),
                "dagster/row_count": sum(summary.rows.values()),
            }
        )

    return [training_dataset]
