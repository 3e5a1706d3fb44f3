"""`training_dataset`: the reviewed pairs of a date range written as a training-ready export."""

import datetime as dt
from pathlib import Path

import dagster as dg

from marketflow_assets.defs.resources import StoreResource, TrainingResource
from marketflow_assets.defs.training.assets import training_pairs
from marketflow_assets.store.exports import read_reviewed_pairs, record_export
from marketflow_assets.training.export import DEFAULT_MAX_SIMILAR, check_export_name, export_dataset
from marketflow_assets.vpa import load_rules


class ExportConfig(dg.Config):
    """What to export: the folder name under data/exports/, the as-of range and the reviews."""

    name: str = "latest"
    start: str | None = None
    end: str | None = None
    only_approved: bool = False
    max_similar: int = DEFAULT_MAX_SIMILAR


def _date(field: str, text: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text) if text else None
    except ValueError:
        raise dg.Failure(f"{field}={text!r} is not a date (YYYY-MM-DD)") from None


@dg.asset(group_name="exports", deps=[training_pairs], pool="duckdb", kinds={"jsonl", "parquet"})
def training_dataset(
    context: dg.AssetExecutionContext,
    config: ExportConfig,
    store: StoreResource,
    training: TrainingResource,
) -> dg.MaterializeResult:
    """Chat and instruction JSONL, Parquet, a dataset card and a manifest, split in time."""
    start, end = _date("start", config.start), _date("end", config.end)
    try:
        name = check_export_name(config.name)
    except ValueError as exc:
        raise dg.Failure(str(exc)) from None
    with store.get_connection() as conn:
        pairs = read_reviewed_pairs(conn, load_rules().hash, start, end)
        context.log.info(f"exporting from {pairs.height} pairs")
        summary = export_dataset(
            pairs,
            Path(training.exports_dir),
            name=name,
            start=start,
            end=end,
            only_approved=config.only_approved,
            max_similar=config.max_similar,
        )
        record_export(
            conn, summary, name=name, start=start, end=end, only_approved=config.only_approved
        )
    card = (summary.path / "README.md").read_text()
    return dg.MaterializeResult(
        metadata={
            "path": dg.MetadataValue.path(str(summary.path)),
            "pairs_in": summary.pairs_in,
            **{f"{split}_rows": rows for split, rows in summary.rows.items()},
            "purged": summary.purged,
            "near_duplicates_dropped": summary.near_duplicates_dropped,
            "manifest_sha256": summary.manifest_sha256,
            "dataset_card": dg.MetadataValue.md(card.split("\n---\n", 1)[-1]),
            "dagster/row_count": sum(summary.rows.values()),
        }
    )
